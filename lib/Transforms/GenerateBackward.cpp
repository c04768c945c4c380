//===- GenerateBackward.cpp - reverse-mode autodiff of the loss ----------===//
//
// Walks a flat model backwards from its loss. Each op on the way builds the
// gradients of its operands (AdjointOpInterface); gradients of a value used
// more than once are summed. Values that do not depend on a trainable
// parameter are inactive and get no gradient, so frozen weights cost no
// gradient computation or memory.
//
//===----------------------------------------------------------------------===//

#include "graph/GraphUtils.h"
#include "slapo/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace slapo {
#define GEN_PASS_DEF_GRAPHGENERATEBACKWARD
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

LogicalResult generateBackward(ModelOp model) {
  Block &body = model.getBody().front();
  if (!body.getOps<GraphModuleOp>().empty())
    return model.emitOpError("has graph.module ops left: run graph-flatten "
                             "before graph-generate-backward");
  if (!body.getOps<GradientOp>().empty())
    return model.emitOpError("already has a backward pass");
  auto output = cast<OutputOp>(body.getTerminator());
  Value loss = output.getValues().empty() ? Value() : output.getValues()[0];
  auto lossOp = loss ? loss.getDefiningOp<CrossEntropyOp>() : CrossEntropyOp();
  if (!lossOp)
    return model.emitOpError("the first result must be a graph.cross_entropy "
                             "loss to differentiate");

  // Activity: values that depend on a trainable parameter.
  llvm::DenseSet<Value> active;
  for (Operation &op : body.without_terminator()) {
    bool isActive = false;
    if (auto param = dyn_cast<ParamOp>(op))
      isActive = param.getTrainable();
    else
      isActive = llvm::any_of(op.getOperands(),
                              [&](Value v) { return active.contains(v); });
    if (isActive)
      active.insert(op.getResults().begin(), op.getResults().end());
  }

  OpBuilder b(output);
  llvm::DenseMap<Value, Value> grads;
  auto accumulate = [&](Value value, Value grad, Location loc) {
    auto [it, inserted] = grads.try_emplace(value, grad);
    if (!inserted)
      it->second = AddOp::create(b, loc, it->second, grad);
  };

  // Ops are visited in reverse; the backward ops are appended in that order
  // at the end of the body.
  SmallVector<Operation *> forward;
  for (Operation &op : body.without_terminator())
    forward.push_back(&op);
  for (Operation *op : llvm::reverse(forward)) {
    if (isa<ParamOp>(op))
      continue;
    SmallVector<Value> resultGrads;
    for (Value result : op->getResults())
      resultGrads.push_back(grads.lookup(result));
    bool seeds = op == lossOp.getOperation();
    if (!seeds && llvm::all_of(resultGrads, [](Value g) { return !g; }))
      continue;
    SmallVector<bool> needsGrad;
    for (Value operand : op->getOperands())
      needsGrad.push_back(active.contains(operand));
    if (llvm::none_of(needsGrad, [](bool needed) { return needed; }))
      continue;
    auto adjoint = dyn_cast<AdjointOpInterface>(op);
    if (!adjoint)
      return op->emitOpError("has no adjoint: cannot differentiate through it");
    b.setInsertionPoint(output);
    SmallVector<Value> operandGrads;
    if (failed(adjoint.buildAdjoint(b, resultGrads, needsGrad, operandGrads)))
      return failure();
    for (auto [operand, grad] : llvm::zip(op->getOperands(), operandGrads))
      if (grad)
        accumulate(operand, grad, op->getLoc());
  }

  b.setInsertionPoint(output);
  for (ParamOp param : body.getOps<ParamOp>())
    if (Value grad = grads.lookup(param.getResult()))
      GradientOp::create(b, param.getLoc(), param.getResult(), grad);
  return success();
}

struct GraphGenerateBackwardPass
    : public slapo::impl::GraphGenerateBackwardBase<GraphGenerateBackwardPass> {
  void runOnOperation() override {
    for (ModelOp model : getOperation().getOps<ModelOp>())
      if (failed(generateBackward(model)))
        return signalPassFailure();
  }
};

} // namespace
