//===- Sharding.cpp - how tensor parallelism splits every value ----------===//
//
// Forward: each op's ShardingOpInterface rule (dialects/graph/
// GraphSharding.cpp) maps the states of its operands to the states of its
// results, or refuses the combination; an op without a rule takes
// replicated operands only.
// Backward: a replicated value read by sharded computation gets only the
// rank's share of its gradient (a partial sum); `sync backward=all_reduce`
// completes it. Every trainable replicated parameter and every sharded or
// partial value must end up with its whole gradient.
//
//===----------------------------------------------------------------------===//

#include "Sharding.h"

#include "graph/GraphUtils.h"

#include "mlir/IR/Diagnostics.h"

using namespace mlir;

namespace slapo::graph {

namespace {

std::string opName(Operation *op) { return op->getName().getStringRef().str(); }

} // namespace

LogicalResult ShardingAnalysis::forward(Operation &op) {
  ShardingContext rule(&op, states, vocabOps, sharded);
  if (auto withRule = dyn_cast<ShardingOpInterface>(op))
    return withRule.propagateSharding(rule);
  // An op without a rule takes replicated operands only.
  Sharding s = rule.firstNonReplicated();
  if (s.isReplicated())
    return success();
  return rule.refuse(s, "cannot take an operand that is " + describe(s) +
                            " (it has no sharding rule)");
}

namespace {

/// How much of its gradient a rank holds for a value.
enum class Grad { None, Whole, Partial, Mixed };

struct GradState {
  Grad grad = Grad::None;
  Operation *culprit = nullptr; // the sharded reader that made it partial

  void join(const GradState &other) {
    if (other.grad == Grad::None)
      return;
    if (grad == Grad::None || grad == other.grad) {
      grad = other.grad;
      culprit = culprit ? culprit : other.culprit;
      return;
    }
    grad = Grad::Mixed;
    culprit = culprit ? culprit : other.culprit;
  }
  bool incomplete() const {
    return grad == Grad::Partial || grad == Grad::Mixed;
  }
};

/// Whether no gradient flows from `op` to `operand`: a block mask is a
/// constant of the step (graph.block_mask has no adjoint for its scores,
/// and a block-sparse linear none for its mask).
bool carriesNoGradient(Operation &op, Value operand) {
  if (isa<BlockMaskOp>(op))
    return true;
  auto sparse = dyn_cast<BlockSparseLinearOp>(op);
  return sparse && operand == sparse.getMask();
}

} // namespace

LogicalResult ShardingAnalysis::backward(ModelOp model) {
  Block &body = model.getBody().front();
  // Values whose gradient anyone needs: those a trainable parameter reaches.
  llvm::DenseSet<Value> active;
  for (Operation &op : body) {
    auto param = dyn_cast<ParamOp>(op);
    bool reached = (param && param.getTrainable()) ||
                   llvm::any_of(op.getOperands(),
                                [&](Value v) { return active.contains(v); });
    if (reached)
      active.insert(op.result_begin(), op.result_end());
  }

  llvm::DenseMap<Value, GradState> grads;
  auto output = cast<OutputOp>(body.getTerminator());
  grads[output.getValues()[0]] = GradState{Grad::Whole, nullptr};

  auto incompleteError = [&](const GradState &g, Operation *at,
                             StringRef what) -> InFlightDiagnostic {
    if (!g.culprit)
      return emitError(at->getLoc())
             << what << " gets only part of its gradient";
    Sharding cause = get(g.culprit->getResult(0));
    std::string reader = modulePath(g.culprit);
    return blame(cause, at)
           << "'" << reader << "' reads a replicated input, so each rank gets "
           << "only part of its gradient, and " << what
           << " needs all of it: add `sync " << reader
           << " backward=all_reduce`";
  };

  for (Operation &op : llvm::reverse(body.without_terminator())) {
    if (auto param = dyn_cast<ParamOp>(op)) {
      GradState g = grads.lookup(param.getResult());
      if (param.getTrainable() && g.incomplete())
        return incompleteError(g, &op, "'" + getPath(param) + "'");
      continue;
    }
    GradState out;
    bool resultSplit = false;
    for (Value result : op.getResults()) {
      GradState g = grads.lookup(result);
      if (g.incomplete() && !get(result).isReplicated())
        return incompleteError(g, &op,
                               "the result of " + opName(&op) + " in '" +
                                   modulePath(&op) + "' (" +
                                   describe(get(result)) + ")");
      resultSplit |= !get(result).isReplicated();
      out.join(g);
    }
    if (out.grad == Grad::None)
      continue;

    auto sync = dyn_cast<SyncOp>(op);
    bool completes = sync && (sync.getBackward() == "all_reduce" ||
                              sync.getBackward() == "reduce_scatter");
    if (completes && out.grad == Grad::Whole)
      return emitError(sync.getLoc(), "sync backward=")
             << sync.getBackward() << " on '" << modulePath(sync)
             << "' would sum gradients that are already whole on every "
                "rank (nothing sharded reads this input)";
    if (completes && out.grad == Grad::Mixed)
      return incompleteError(out, &op, "this sync");

    for (Value operand : op.getOperands()) {
      if (!active.contains(operand) || carriesNoGradient(op, operand))
        continue;
      GradState contribution = out;
      if (completes)
        contribution = GradState{Grad::Whole, nullptr};
      else if (!sync && resultSplit && get(operand).isReplicated())
        contribution = GradState{Grad::Partial, &op};
      grads[operand].join(contribution);
    }
  }
  return success();
}

LogicalResult ShardingAnalysis::run(ModelOp model) {
  for (Operation &op : model.getBody().front())
    if (failed(forward(op)))
      return failure();
  if (!sharded)
    return success();
  return backward(model);
}

} // namespace slapo::graph
