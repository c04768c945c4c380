//===- Compile.cpp - the training-step pipeline ---------------------------===//
//
// One pipeline, in two forms: compileTrainingStep (slapo-opt --compile) and
// the registered `slapo-compile` pipeline (--pass-pipeline), built by the
// same function. slapo-opt --compile has compileTrainingStep apply the
// pass manager's command-line options, so -mlir-print-ir-after-all and
// -mlir-timing work on it.
//
//===----------------------------------------------------------------------===//

#include "slapo/Plan/Compile.h"
#include "slapo/Conversion/Passes.h"
#include "slapo/Plan/Passes.h"
#include "slapo/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/Timing.h"

namespace slapo {

namespace {

/// The `slapo-compile` pipeline's options, named as slapo-opt's flags.
struct TrainingStepPipelineOptions
    : mlir::PassPipelineOptions<TrainingStepPipelineOptions> {
  Option<int64_t> batch{*this, "batch", llvm::cl::desc("rows per step")};
  Option<int64_t> seq{*this, "seq", llvm::cl::desc("tokens per row")};
  Option<std::string> optimizer{*this, "optimizer",
                                llvm::cl::desc("adamw (default) or sgd"),
                                llvm::cl::init("adamw")};
  Option<double> beta1{*this, "beta1", llvm::cl::desc("AdamW beta1"),
                       llvm::cl::init(0.9)};
  Option<double> beta2{*this, "beta2", llvm::cl::desc("AdamW beta2"),
                       llvm::cl::init(0.999)};
  Option<double> epsilon{*this, "eps", llvm::cl::desc("AdamW epsilon"),
                         llvm::cl::init(1e-8)};
  Option<double> weightDecay{*this, "weight-decay",
                             llvm::cl::desc("AdamW weight decay"),
                             llvm::cl::init(0.01)};
  Option<bool> decayNormsAndBiases{
      *this, "decay-norms-and-biases",
      llvm::cl::desc("also decay biases and norm weights")};
  Option<int64_t> tp{*this, "tp", llvm::cl::desc("tensor-parallel degree"),
                     llvm::cl::init(1)};
  Option<std::string> precision{*this, "precision",
                                llvm::cl::desc("fp32 (default) or bf16"),
                                llvm::cl::init("fp32")};

  CompileOptions toCompileOptions() const {
    CompileOptions o;
    o.batch = batch;
    o.seq = seq;
    o.optimizer = optimizer;
    o.beta1 = beta1;
    o.beta2 = beta2;
    o.epsilon = epsilon;
    o.weightDecay = weightDecay;
    o.decayNormsAndBiases = decayNormsAndBiases;
    o.tp = tp;
    o.precision = precision;
    return o;
  }
};

} // namespace

std::string checkCompileOptions(const CompileOptions &options) {
  if (options.batch <= 0 || options.seq <= 0)
    return std::string("--compile needs ") +
           (options.batch <= 0 && options.seq <= 0 ? "--batch and --seq"
            : options.batch <= 0                   ? "--batch"
                                                   : "--seq") +
           " (rows per step and tokens per row, each > 0)";
  if (options.optimizer != "sgd" && options.optimizer != "adamw")
    return "unknown optimizer '" + options.optimizer +
           "', expected sgd or adamw";
  if (options.tp < 1)
    return "--tp must be at least 1, got " + std::to_string(options.tp);
  if (options.precision != "fp32" && options.precision != "bf16")
    return "unknown precision '" + options.precision +
           "', expected fp32 or bf16";
  return "";
}

void buildTrainingStepPipeline(mlir::OpPassManager &pm,
                               const CompileOptions &options) {
  pm.addPass(createGraphFlatten());
  pm.addPass(createGraphSpecializeShapes({options.batch, options.seq}));
  pm.addPass(createGraphFuse());
  // After fuse, so that the schedule's patterns match the f32 graph it was
  // written for; before the partition, whose analysis checks the casts.
  if (options.precision == "bf16")
    pm.addPass(createGraphAutocast({/*precision=*/"bf16"}));
  // After autocast: the sums it adds stay f32.
  pm.addPass(createGraphCollectPredictorLosses());
  pm.addPass(createGraphPartitionTensorParallel({options.tp}));
  pm.addPass(createGraphGenerateBackward());
  pm.addPass(createGraphApplyOptimizer(
      {options.optimizer, options.beta1, options.beta2, options.epsilon,
       options.weightDecay, options.decayNormsAndBiases}));
  pm.addPass(createConvertGraphToPlan());
  pm.addPass(createPlanAssignOffsets());
}

void registerTrainingStepPipeline() {
  mlir::registerPassPipeline(
      "slapo-compile",
      "compile the graph.model's training step into a memory-planned "
      "plan.program (what slapo-opt --compile runs)",
      [](mlir::OpPassManager &pm, llvm::StringRef text,
         llvm::function_ref<mlir::LogicalResult(const llvm::Twine &)>
             errorHandler) {
        TrainingStepPipelineOptions options;
        if (mlir::failed(options.parseFromString(text)))
          return mlir::failure();
        CompileOptions compile = options.toCompileOptions();
        std::string problem = checkCompileOptions(compile);
        if (!problem.empty())
          return errorHandler("slapo-compile: " + problem);
        buildTrainingStepPipeline(pm, compile);
        return mlir::success();
      },
      [](llvm::function_ref<void(const mlir::detail::PassOptions &)> print) {
        print(TrainingStepPipelineOptions());
      });
}

mlir::LogicalResult compileTrainingStep(mlir::ModuleOp module,
                                        const CompileOptions &options,
                                        bool applyCommandLine) {
  std::string problem = checkCompileOptions(options);
  if (!problem.empty())
    return module.emitError(problem);
  if (module.getOps<graph::ModelOp>().empty())
    return module.emitError("no graph.model to compile");

  mlir::PassManager pm(module.getContext());
  mlir::DefaultTimingManager timing;
  mlir::TimingScope root;
  if (applyCommandLine) {
    // -mlir-print-ir-after-all, -mlir-timing and the rest, which the tool
    // registered.
    if (mlir::failed(mlir::applyPassManagerCLOptions(pm)))
      return mlir::failure();
    mlir::applyDefaultTimingManagerCLOptions(timing);
    root = timing.getRootScope();
    pm.enableTiming(root);
  }
  buildTrainingStepPipeline(pm, options);
  return pm.run(module);
}

} // namespace slapo
