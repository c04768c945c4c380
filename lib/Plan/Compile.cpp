//===- Compile.cpp - the training-step pipeline ---------------------------===//

#include "slapo/Plan/Compile.h"
#include "slapo/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"

namespace slapo {

mlir::LogicalResult compileTrainingStep(mlir::ModuleOp module,
                                        const CompileOptions &options) {
  if (options.batch <= 0 || options.seq <= 0)
    return module.emitError("--compile needs ")
           << (options.batch <= 0 && options.seq <= 0 ? "--batch and --seq"
               : options.batch <= 0                   ? "--batch"
                                                      : "--seq")
           << " (rows per step and tokens per row, each > 0)";
  if (options.optimizer != "sgd" && options.optimizer != "adamw")
    return module.emitError("unknown optimizer '")
           << options.optimizer << "', expected sgd or adamw";
  if (options.tp < 1)
    return module.emitError("--tp must be at least 1, got ") << options.tp;
  if (options.precision != "fp32" && options.precision != "bf16")
    return module.emitError("unknown precision '")
           << options.precision << "', expected fp32 or bf16";
  if (module.getOps<graph::ModelOp>().empty())
    return module.emitError("no graph.model to compile");

  mlir::PassManager pm(module.getContext());
  pm.addPass(createGraphFlatten());
  pm.addPass(createGraphSpecializeShapes({options.batch, options.seq}));
  pm.addPass(createGraphFuse());
  // After fuse, so that the schedule's patterns match the f32 graph it was
  // written for; before the partition, whose analysis checks the casts.
  if (options.precision == "bf16")
    pm.addPass(createGraphAutocast({/*precision=*/"bf16"}));
  pm.addPass(createGraphPartitionTensorParallel({options.tp}));
  pm.addPass(createGraphGenerateBackward());
  pm.addPass(createGraphApplyOptimizer(
      {options.optimizer, options.beta1, options.beta2, options.epsilon,
       options.weightDecay, options.decayNormsAndBiases}));
  pm.addPass(createConvertGraphToPlan());
  pm.addPass(createPlanAssignOffsets());
  return pm.run(module);
}

} // namespace slapo
