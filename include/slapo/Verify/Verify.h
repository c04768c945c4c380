//===- Verify.h - check that a schedule preserves the model ----*- C++ -*-===//
#ifndef SLAPO_VERIFY_VERIFY_H
#define SLAPO_VERIFY_VERIFY_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

namespace slapo {

/// Compiles `original` and `scheduled` (the same model before and after its
/// schedules) for one SGD step, runs both on the same random weights and
/// token ids with dropout off, and compares the loss and every gradient;
/// prints the worst
/// relative error per parameter to `os`. LoRA adapters get a non-zero B and
/// are compared through the merged weight: the original model runs with
/// W + (alpha/rank) B A, and an adapter's gradient must equal the chain
/// rule applied to the merged weight's gradient. Parameters the schedule
/// froze are not compared. Succeeds when everything agrees to `tolerance`.
mlir::LogicalResult verifySchedule(mlir::ModuleOp original,
                                   mlir::ModuleOp scheduled,
                                   llvm::raw_ostream &os,
                                   double tolerance = 1e-4);

} // namespace slapo

#endif // SLAPO_VERIFY_VERIFY_H
