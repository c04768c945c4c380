//===- SyncRewrite.cpp - tensor-parallel collectives at a module's edge ---===//
//
// The `sync` primitive (lib/Schedule/SchedOps.cpp): a graph.sync pair at
// each floating-point output or input of a module; at a row-parallel
// linear's output its bias moves after the reduction.
//
//===----------------------------------------------------------------------===//

#include "slapo/Transforms/Rewrites.h"

#include "graph/GraphUtils.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace slapo::graph {

/// Whether `argument` is a `sparsify` block mask, which is never synced:
/// it is computed from values each rank already has, split as the layer's
/// blocks are, and carries no gradient.
static bool isBlockMask(BlockArgument argument) {
  return !argument.use_empty() &&
         llvm::all_of(argument.getUses(), [](OpOperand &use) {
           auto sparse = dyn_cast<BlockSparseLinearOp>(use.getOwner());
           return sparse && use.get() == sparse.getMask() &&
                  use.getOperandNumber() == sparse->getNumOperands() - 1;
         });
}

/// Puts `sync` (built by `make`) between `value` and its uses in the body
/// of `module` (a linear's bias moves after it).
static Value syncOutput(OpBuilder &b, Value value,
                        function_ref<Value(OpBuilder &, Value)> make) {
  if (auto sparse = value.getDefiningOp<BlockSparseLinearOp>();
      sparse && sparse.getBias()) {
    // The same for a sparsified row-parallel layer (sparsify before sync).
    b.setInsertionPoint(sparse);
    Value bare = BlockSparseLinearOp::create(
        b, sparse.getLoc(), sparse.getInput(), sparse.getWeight(), Value(),
        sparse.getMask(), sparse.getRowsAttr(), sparse.getBlockAttr(),
        sparse.getSparseAttr());
    Value sum =
        AddOp::create(b, sparse.getLoc(), make(b, bare), sparse.getBias());
    sparse.getResult().replaceAllUsesWith(sum);
    sparse.erase();
    return sum;
  }
  auto linear = value.getDefiningOp<LinearOp>();
  if (!linear || !linear.getBias()) {
    b.setInsertionPointAfterValue(value);
    return make(b, value);
  }
  // A row-parallel linear adds its bias once, after the reduction.
  return takeOutBias(linear, make);
}

LogicalResult insertSync(GraphModuleOp module, StringAttr forward,
                         StringAttr backward, bool atOutput, Location at) {
  auto make = [&](OpBuilder &b, Value value) -> Value {
    return SyncOp::create(b, at, value, forward, backward,
                          b.getI64IntegerAttr(-1), b.getI64IntegerAttr(1));
  };
  auto isSynced = [&](Operation *op) {
    auto sync = dyn_cast_or_null<SyncOp>(op);
    return sync && sync.getForward() == forward.getValue() &&
           sync.getBackward() == backward.getValue();
  };
  Block &body = module.getBody().front();
  std::string path = getPath(module);
  OpBuilder b(module.getContext());
  int64_t synced = 0;
  if (atOutput) {
    Operation *output = body.getTerminator();
    for (OpOperand &operand : output->getOpOperands()) {
      Value value = operand.get();
      if (!isa<FloatType>(cast<ShapedType>(value.getType()).getElementType()))
        continue;
      Operation *producer = value.getDefiningOp();
      if (isSynced(producer) ||
          (isa_and_nonnull<AddOp>(producer) &&
           isSynced(producer->getOperand(0).getDefiningOp())))
        return emitError(at, "module '")
               << path << "' is already synced this way";
      operand.set(syncOutput(b, value, make));
      ++synced;
    }
  } else {
    b.setInsertionPointToStart(&body);
    for (BlockArgument argument : body.getArguments()) {
      auto type = cast<ShapedType>(argument.getType());
      if (!isa<FloatType>(type.getElementType()) || isBlockMask(argument))
        continue;
      if (argument.hasOneUse() && isSynced(*argument.getUsers().begin()))
        return emitError(at, "module '")
               << path << "' is already synced this way";
      Value value = make(b, argument);
      argument.replaceAllUsesExcept(value, value.getDefiningOp());
      ++synced;
    }
  }
  if (synced == 0)
    return emitError(at, "module '")
           << path << "' has no floating-point "
           << (atOutput ? "output" : "input") << " to sync";
  return success();
}

} // namespace slapo::graph
