//===- Compile.h - compile a training step to a .splan ---------*- C++ -*-===//
#ifndef SLAPO_PLAN_COMPILE_H
#define SLAPO_PLAN_COMPILE_H

#include "mlir/IR/BuiltinOps.h"
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

/// Turns the model in `module` (graph dialect, hierarchical or flat) into a
/// memory-planned plan.program for one training step: forward, loss,
/// backward and optimizer update, for a fixed batch and sequence length.
mlir::LogicalResult compileTrainingStep(mlir::ModuleOp module,
                                        const CompileOptions &options);

/// Writes the (single) plan.program of `module` as a .splan FlatBuffer.
mlir::LogicalResult writePlan(mlir::ModuleOp module, llvm::raw_ostream &os);

} // namespace slapo

#endif // SLAPO_PLAN_COMPILE_H
