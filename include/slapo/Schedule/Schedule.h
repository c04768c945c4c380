//===- Schedule.h - .sched files: parse and apply --------------*- C++ -*-===//
//
// A .sched file is line-oriented: one primitive per line, its module path,
// then key=value options; `#` starts a comment.
//
//   checkpoint transformer.h.{0,2,4}
//   freeze     transformer          # BitFit: freeze everything ...
//   unfreeze   **.bias              # ... then train the biases
//
// It becomes a transform.named_sequence of sched.* ops (one per line, each
// located at its file:line:col) that MLIR's transform interpreter applies.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_SCHEDULE_SCHEDULE_H
#define SLAPO_SCHEDULE_SCHEDULE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/SourceMgr.h"

namespace slapo::schedule {

/// Parses buffer `bufferId` of `sourceMgr` into transform IR; emits
/// file:line:col errors and returns null on a malformed schedule.
mlir::OwningOpRef<mlir::ModuleOp> parseSchedule(llvm::SourceMgr &sourceMgr,
                                                unsigned bufferId,
                                                mlir::MLIRContext *context);

/// Applies the schedule's transform IR to the model in `payload`.
mlir::LogicalResult applySchedule(mlir::ModuleOp payload,
                                  mlir::ModuleOp schedule);

} // namespace slapo::schedule

#endif // SLAPO_SCHEDULE_SCHEDULE_H
