//===- Sharding.h - how tensor parallelism splits every value --*- C++ -*-===//
//
// The analysis behind `shard` and `sync`: starting from the sharded
// parameters it decides, through each op's sharding rule
// (ShardingOpInterface), for every value of a flat model, whether each
// tensor-parallel rank holds all of it (replicated), a slice of one axis
// (sharded) or a partial sum (partial), and checks that the syncs make the
// forward pass and every gradient come out as on one process. Private to
// lib/Transforms.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_TRANSFORMS_SHARDING_H
#define SLAPO_TRANSFORMS_SHARDING_H

#include "graph/ShardingRules.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace slapo::graph {

class ShardingAnalysis {
public:
  /// Analyses a flat model; on failure an error has been emitted at the
  /// `.sched` statement at fault.
  mlir::LogicalResult run(ModelOp model);

  /// The state of `value` (replicated unless the analysis says otherwise).
  Sharding get(mlir::Value value) const { return states.lookup(value); }

  /// Whether any parameter of the model is sharded.
  bool hasShards() const { return sharded; }

  /// Embeddings and cross-entropies that work on a vocabulary slice.
  const llvm::DenseSet<mlir::Operation *> &vocabParallel() const {
    return vocabOps;
  }

private:
  mlir::LogicalResult forward(mlir::Operation &op);
  mlir::LogicalResult backward(ModelOp model);

  llvm::DenseMap<mlir::Value, Sharding> states;
  llvm::DenseSet<mlir::Operation *> vocabOps;
  bool sharded = false;
};

} // namespace slapo::graph

#endif // SLAPO_TRANSFORMS_SHARDING_H
