//===- Passes.h - slapo conversion passes ----------------------*- C++ -*-===//
#ifndef SLAPO_CONVERSION_PASSES_H
#define SLAPO_CONVERSION_PASSES_H

#include "graph/GraphDialect.h"
#include "plan/PlanDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace slapo {

#define GEN_PASS_DECL
#include "slapo/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "slapo/Conversion/Passes.h.inc"

} // namespace slapo

#endif // SLAPO_CONVERSION_PASSES_H
