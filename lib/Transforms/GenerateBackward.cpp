//===- GenerateBackward.cpp - reverse-mode autodiff of the loss ----------===//
//
// Walks a flat model backwards from its loss. Each op on the way builds the
// gradients of its operands (AdjointOpInterface); gradients of a value used
// more than once are summed. Values that do not depend on a trainable
// parameter are inactive and get no gradient, so frozen weights cost no
// gradient computation or memory.
//
// Checkpointed modules (ops tagged `checkpoint_region` by graph-flatten)
// are recomputed: when the backward pass reaches a region, its forward ops
// are cloned right there and the adjoints are built from the clones, so the
// original activations are dead once the forward pass is past them.
//
//===----------------------------------------------------------------------===//

#include "graph/GraphUtils.h"
#include "slapo/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringSet.h"

namespace slapo {
#define GEN_PASS_DEF_GRAPHGENERATEBACKWARD
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

constexpr llvm::StringLiteral kRegionAttr = "checkpoint_region";

LogicalResult generateBackward(ModelOp model) {
  Block &body = model.getBody().front();
  if (!body.getOps<GraphModuleOp>().empty())
    return model.emitOpError("has graph.module ops left: run graph-flatten "
                             "before graph-generate-backward");
  if (!body.getOps<GradientOp>().empty())
    return model.emitOpError("already has a backward pass");
  auto output = cast<OutputOp>(body.getTerminator());
  Value loss = output.getValues().empty() ? Value() : output.getValues()[0];
  // The loss terms, each seeding the backward pass: the loss itself, or
  // the terms of a sum of them (graph-collect-predictor-losses).
  llvm::DenseSet<Operation *> lossTerms;
  SmallVector<Value> pending;
  if (loss)
    pending.push_back(loss);
  while (!pending.empty()) {
    Operation *op = pending.pop_back_val().getDefiningOp();
    if (isa_and_nonnull<CrossEntropyOp, SigmoidBceOp>(op)) {
      lossTerms.insert(op);
    } else if (auto sum = dyn_cast_or_null<AddOp>(op)) {
      pending.append({sum.getLhs(), sum.getRhs()});
    } else {
      lossTerms.clear();
      break;
    }
  }
  if (lossTerms.empty())
    return model.emitOpError("the first result must be a loss to "
                             "differentiate: a graph.cross_entropy, a "
                             "graph.sigmoid_bce or a sum of them");

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

  llvm::DenseMap<Operation *, Operation *> recomputed; // original -> clone
  llvm::StringSet<> regionsDone;
  SmallVector<Operation *> clones;
  auto recompute = [&](StringAttr region) {
    if (!regionsDone.insert(region.getValue()).second)
      return;
    b.setInsertionPoint(output);
    IRMapping mapping;
    for (Operation *op : forward)
      if (op->getAttrOfType<StringAttr>(kRegionAttr) == region) {
        Operation *clone = b.clone(*op, mapping);
        recomputed[op] = clone;
        clones.push_back(clone);
      }
  };

  for (Operation *op : llvm::reverse(forward)) {
    if (isa<ParamOp>(op))
      continue;
    SmallVector<Value> resultGrads;
    for (Value result : op->getResults())
      resultGrads.push_back(grads.lookup(result));
    bool seeds = lossTerms.contains(op);
    if (!seeds && llvm::all_of(resultGrads, [](Value g) { return !g; }))
      continue;
    SmallVector<bool> needsGrad;
    for (Value operand : op->getOperands())
      needsGrad.push_back(active.contains(operand));
    if (llvm::none_of(needsGrad, [](bool needed) { return needed; }))
      continue;
    Operation *adjointOf = op;
    if (auto region = op->getAttrOfType<StringAttr>(kRegionAttr)) {
      recompute(region);
      adjointOf = recomputed.lookup(op);
    }
    auto adjoint = dyn_cast<AdjointOpInterface>(adjointOf);
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

  // Recomputed values no adjoint needed.
  for (Operation *clone : llvm::reverse(clones))
    if (clone->use_empty())
      clone->erase();

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
