//===- Passes.h - slapo plan dialect passes --------------------*- C++ -*-===//
#ifndef SLAPO_PLAN_PASSES_H
#define SLAPO_PLAN_PASSES_H

#include "plan/PlanDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace slapo {

#define GEN_PASS_DECL
#include "slapo/Plan/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "slapo/Plan/Passes.h.inc"

} // namespace slapo

#endif // SLAPO_PLAN_PASSES_H
