//===- Passes.h - slapo graph passes ---------------------------*- C++ -*-===//
#ifndef SLAPO_TRANSFORMS_PASSES_H
#define SLAPO_TRANSFORMS_PASSES_H

#include "graph/GraphDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace slapo {

#define GEN_PASS_DECL
#include "slapo/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "slapo/Transforms/Passes.h.inc"

} // namespace slapo

#endif // SLAPO_TRANSFORMS_PASSES_H
