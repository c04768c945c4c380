//===- GraphDialect.h - the slapo graph dialect ----------------*- C++ -*-===//
#ifndef SLAPO_GRAPH_GRAPHDIALECT_H
#define SLAPO_GRAPH_GRAPHDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "graph/GraphDialect.h.inc"
#include "graph/GraphEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "graph/GraphAttrs.h.inc"

namespace slapo::graph {
class ShardingContext; // ShardingRules.h
} // namespace slapo::graph

#include "graph/GraphInterfaces.h.inc"

#define GET_OP_CLASSES
#include "graph/GraphOps.h.inc"

#endif // SLAPO_GRAPH_GRAPHDIALECT_H
