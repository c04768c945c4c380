//===- PlanDialect.h - the slapo plan dialect ------------------*- C++ -*-===//
#ifndef SLAPO_PLAN_PLANDIALECT_H
#define SLAPO_PLAN_PLANDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "plan/PlanDialect.h.inc"
#include "plan/PlanEnums.h.inc"

#define GET_OP_CLASSES
#include "plan/PlanOps.h.inc"

#endif // SLAPO_PLAN_PLANDIALECT_H
