//===- Compile.h - compile a training step to a .splan ---------*- C++ -*-===//
#ifndef SLAPO_PLAN_COMPILE_H
#define SLAPO_PLAN_COMPILE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>

namespace slapo {

struct CompileOptions {
  int64_t batch = 0;
  int64_t seq = 0;
  std::string optimizer = "adamw"; // or "sgd"
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weightDecay = 0.01;
  // Biases and norm weights are exempt from weight decay unless this is
  // set (Hugging Face Trainer exempts them).
  bool decayNormsAndBiases = false;
  int64_t tp = 1; // tensor-parallel degree: the plan is one rank's
  // "fp32" (the pipeline as it always was) or "bf16" (graph-autocast:
  // bf16 compute, f32 master weights, gradients and optimizer state).
  std::string precision = "fp32";
};

/// "" when `options` can compile, else what is wrong, naming the option.
std::string checkCompileOptions(const CompileOptions &options);

/// Adds the passes of one training step's compilation to `pm`, in order:
/// flatten, specialize shapes, fuse, (autocast), partition, backward,
/// optimizer, lowering to plan, offsets.
void buildTrainingStepPipeline(mlir::OpPassManager &pm,
                               const CompileOptions &options);

/// Registers that pipeline as `slapo-compile` with the options batch, seq,
/// optimizer, beta1, beta2, eps, weight-decay, decay-norms-and-biases, tp
/// and precision:
///   --pass-pipeline='builtin.module(slapo-compile{batch=8 seq=128})'
void registerTrainingStepPipeline();

/// Turns the model in `module` (graph dialect, hierarchical or flat) into a
/// memory-planned plan.program for one training step: forward, loss,
/// backward and optimizer update, for a fixed batch and sequence length.
/// `applyCommandLine`: apply the pass manager's and the timing manager's
/// command-line options (-mlir-print-ir-after-all, -mlir-timing, ...),
/// which the tool must have registered.
mlir::LogicalResult compileTrainingStep(mlir::ModuleOp module,
                                        const CompileOptions &options,
                                        bool applyCommandLine = false);

/// Writes the (single) plan.program of `module` as a .splan FlatBuffer.
mlir::LogicalResult writePlan(mlir::ModuleOp module, llvm::raw_ostream &os);

} // namespace slapo

#endif // SLAPO_PLAN_COMPILE_H
