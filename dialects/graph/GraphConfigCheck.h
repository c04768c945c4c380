//===- GraphConfigCheck.h - graph.model's config checks ---------*- C++ -*-===//
//
// The checks of graph.model's `config` that ModelOp::verifyRegions runs
// (GraphConfigCheck.cpp). Private to dialects/graph.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_GRAPH_GRAPHCONFIGCHECK_H
#define SLAPO_GRAPH_GRAPHCONFIGCHECK_H

#include "mlir/IR/Operation.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringMap.h"

namespace slapo::graph {
class ModelOp;

/// The sizes the compiler sizes things by are positive where the config
/// gives them, and `num_kv_heads` divides `num_heads`. Runs first, before
/// the model's structure is checked.
mlir::LogicalResult verifyConfigValues(ModelOp model);

/// The config's `vocab_size`, `hidden_size` and `max_positions` agree with
/// the embeddings and the LM head that carry them, at the model's `tp`.
/// Runs last: `byPath` holds the model's modules and parameters by dotted
/// path, unique, and every graph.param_ref names one of them.
mlir::LogicalResult
verifyConfigShapes(ModelOp model,
                   const llvm::StringMap<mlir::Operation *> &byPath);

} // namespace slapo::graph

#endif // SLAPO_GRAPH_GRAPHCONFIGCHECK_H
