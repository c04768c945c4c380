//===- SchedOps.h - schedule primitives as transform ops -------*- C++ -*-===//
#ifndef SLAPO_SCHEDULE_SCHEDOPS_H
#define SLAPO_SCHEDULE_SCHEDOPS_H

#include "mlir/Dialect/Transform/IR/TransformDialect.h"
#include "mlir/Dialect/Transform/Interfaces/TransformInterfaces.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "slapo/Schedule/SchedOps.h.inc"

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace slapo::sched {
/// Adds the sched.* ops to the transform dialect.
void registerSchedExtension(mlir::DialectRegistry &registry);
} // namespace slapo::sched

#endif // SLAPO_SCHEDULE_SCHEDOPS_H
