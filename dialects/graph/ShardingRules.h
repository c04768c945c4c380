//===- ShardingRules.h - what an op's sharding rule works with -*- C++ -*-===//
//
// The states tensor parallelism gives a value, and the context through
// which an op's ShardingOpInterface rule reads its operands' states, sets
// its results' and refuses what it cannot take. The rules live next to the
// ops (GraphSharding.cpp); the analysis that walks a model and checks the
// gradients is lib/Transforms/Sharding.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_GRAPH_SHARDINGRULES_H
#define SLAPO_GRAPH_SHARDINGRULES_H

#include "graph/GraphDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#include <string>

namespace slapo::graph {

/// Whether each tensor-parallel rank holds all of a value (replicated), a
/// slice of one axis (sharded) or a partial sum (partial).
struct Sharding {
  enum Kind { Replicated, Sharded, Partial };
  Kind kind = Replicated;
  /// Sharded: the axis cut over the ranks, in `parts` equal parts that are
  /// each cut separately.
  int64_t axis = -1;
  int64_t parts = 1;
  /// The sharded parameter this state derives from (for errors).
  ParamOp origin;
  /// Partial: the op whose result is a partial sum (for errors).
  mlir::Operation *producer = nullptr;

  bool isReplicated() const { return kind == Replicated; }
  bool isSharded() const { return kind == Sharded; }
  bool isPartial() const { return kind == Partial; }

  static Sharding replicated() { return Sharding(); }
  static Sharding shardedOn(int64_t axis, int64_t parts, ParamOp origin);
  static Sharding partialFrom(mlir::Operation *producer, ParamOp origin);
};

/// "replicated", "a partial sum", "split on axis N".
std::string describe(const Sharding &state);

/// Where a shard statement was written (its `at`), else the param's own.
mlir::Location shardLocation(ParamOp param);

/// The module path an op of a flat model came from.
std::string modulePath(mlir::Operation *op);

/// Starts an error about `op` caused by the shard behind `cause` (at its
/// .sched statement), or at `op` when nothing sharded is to blame.
mlir::InFlightDiagnostic blame(const Sharding &cause, mlir::Operation *op);

/// One op's view of the analysis while its rule runs.
class ShardingContext {
public:
  ShardingContext(mlir::Operation *op,
                  llvm::DenseMap<mlir::Value, Sharding> &states,
                  llvm::DenseSet<mlir::Operation *> &vocabParallel,
                  bool &anySharded)
      : op(op), states(states), vocabParallel(vocabParallel),
        anySharded(anySharded) {}

  mlir::Operation *getOp() const { return op; }

  /// The state of `value` (replicated unless set).
  Sharding state(mlir::Value value) const { return states.lookup(value); }
  void set(mlir::Value value, const Sharding &state);
  /// Sets every result of the op.
  void setAll(const Sharding &state);
  /// The first operand's state that is not replicated, else replicated.
  Sharding firstNonReplicated() const;

  /// Refuses: "<op> in '<path>' <why>", blamed on `cause`'s shard.
  mlir::LogicalResult refuse(const Sharding &cause, const llvm::Twine &why);
  /// Refuses a partial sum reaching an op that needs the whole value.
  mlir::LogicalResult unreducedPartial(const Sharding &partial);
  /// Elementwise without reductions: `input`'s state passes to every
  /// result; a partial sum may not, unless the op is linear in it.
  mlir::LogicalResult passThrough(mlir::Value input, bool linearInPartial);

  /// The op works on a vocabulary slice (a vocab-parallel embedding or
  /// cross-entropy).
  void markVocabParallel() { vocabParallel.insert(op); }
  /// A parameter of the model is sharded.
  void markSharded() { anySharded = true; }

private:
  mlir::Operation *op;
  llvm::DenseMap<mlir::Value, Sharding> &states;
  llvm::DenseSet<mlir::Operation *> &vocabParallel;
  bool &anySharded;
};

} // namespace slapo::graph

#endif // SLAPO_GRAPH_SHARDINGRULES_H
