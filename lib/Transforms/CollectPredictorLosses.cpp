//===- CollectPredictorLosses.cpp - predictor training's loss ------------===//
//
// `sparsify ... predictor=train` leaves, in each sparsified layer, a
// graph.sigmoid_bce (the predictor's loss against the layer's per-token
// block liveness) and a graph.mask_agreement (its recall and density),
// used by nothing. This pass, on the flat model, makes the mean of the
// losses over the layers the model's loss, joins the statistics into one
// tensor the plan reports, and erases the language-model loss and the ops
// only it needed (a predictor-training step stops after the last
// sparsified layer's predictor).
//
//===----------------------------------------------------------------------===//

#include "graph/GraphUtils.h"
#include "slapo/Transforms/Passes.h"
#include "slapo/Transforms/Rewrites.h"

#include "mlir/IR/Builders.h"

namespace slapo {
#define GEN_PASS_DEF_GRAPHCOLLECTPREDICTORLOSSES
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

constexpr int64_t kConcatLimit = 64; // graph.concat's most inputs (a kernel's)

/// `values` (1-D) joined along their axis, `kConcatLimit` at a time.
Value concatAll(OpBuilder &b, Location loc, SmallVector<Value> values) {
  while (values.size() > 1) {
    SmallVector<Value> joined;
    for (size_t i = 0; i < values.size(); i += kConcatLimit) {
      ArrayRef<Value> group = ArrayRef<Value>(values).slice(
          i, std::min<size_t>(kConcatLimit, values.size() - i));
      joined.push_back(
          group.size() == 1
              ? group[0]
              : ConcatOp::create(b, loc, group, b.getI64IntegerAttr(0))
                    .getResult());
    }
    values = std::move(joined);
  }
  return values[0];
}

/// Erases the ops no result of which is used, last first; parameters stay
/// (the plan still loads and saves them).
void eraseDeadOps(Block &body) {
  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator())
    ops.push_back(&op);
  for (Operation *op : llvm::reverse(ops))
    if (!isa<ParamOp>(op) && op->getNumResults() > 0 && op->use_empty() &&
        !op->hasAttr(kPredictorStatsAttr))
      op->erase();
}

LogicalResult collect(ModelOp model) {
  Block &body = model.getBody().front();
  SmallVector<SigmoidBceOp> losses;
  SmallVector<MaskAgreementOp> stats;
  for (Operation &op : body) {
    if (auto loss = dyn_cast<SigmoidBceOp>(op);
        loss && loss->hasAttr(kPredictorLossAttr))
      losses.push_back(loss);
    if (auto agreement = dyn_cast<MaskAgreementOp>(op);
        agreement && agreement->hasAttr(kPredictorStatsAttr))
      stats.push_back(agreement);
  }
  if (losses.empty())
    return success();
  bool trainsPredictor = false;
  for (ParamOp param : body.getOps<ParamOp>()) {
    auto addedBy = param->getAttrOfType<StringAttr>("added_by");
    bool predictor = addedBy && addedBy.getValue() == "sparsify";
    if (param.getTrainable() && !predictor)
      return emitError(param.getLoc(), "'")
             << param.getName() << "' is trainable, but sparsify "
             << "predictor=train trains the predictors alone, on the frozen "
             << "model's liveness: freeze it (e.g. `freeze *` first)";
    trainsPredictor = trainsPredictor || (predictor && param.getTrainable());
  }
  if (!trainsPredictor)
    return model.emitError("sparsify predictor=train: every predictor is "
                           "frozen (a `freeze` after the sparsify line?), so "
                           "the step would train nothing");
  auto output = cast<OutputOp>(body.getTerminator());
  OpBuilder b(output);
  Location loc = output.getLoc();
  double scale = 1.0 / double(losses.size());
  SmallVector<Value> parts;
  for (MaskAgreementOp agreement : stats)
    parts.push_back(agreement.getResult());
  if (!parts.empty()) {
    Value joined = concatAll(b, loc, parts);
    // The mark moves to the joined tensor: the one the plan reports.
    for (MaskAgreementOp agreement : stats)
      agreement->removeAttr(kPredictorStatsAttr);
    joined.getDefiningOp()->setAttr(kPredictorStatsAttr, b.getUnitAttr());
  }
  Value total;
  for (SigmoidBceOp loss : losses) {
    loss.setScaleAttr(b.getF64FloatAttr(scale));
    total = total ? AddOp::create(b, loc, total, loss.getResult()).getResult()
                  : loss.getResult();
  }
  output->setOperand(0, total);
  eraseDeadOps(body);
  return success();
}

struct GraphCollectPredictorLossesPass
    : public slapo::impl::GraphCollectPredictorLossesBase<
          GraphCollectPredictorLossesPass> {
  void runOnOperation() override {
    for (ModelOp model : getOperation().getOps<ModelOp>())
      if (failed(collect(model)))
        return signalPassFailure();
  }
};

} // namespace
