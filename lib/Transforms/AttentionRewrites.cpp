//===- AttentionRewrites.cpp - fused attention and its decomposition ------===//
//
// graph.attention <-> matmul, scale, causal_mask, softmax, dropout, matmul:
// the `replace` primitive's two directions (lib/Schedule/SchedOps.cpp).
//
//===----------------------------------------------------------------------===//

#include "slapo/Transforms/Rewrites.h"

#include "graph/GraphUtils.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace slapo::graph {

LogicalResult decomposeAttention(AttentionOp attention, Location at) {
  if (attention.getMask())
    return emitError(at, "the attention of '")
           << getPath(attention->getParentOp())
           << "' is block-sparse: its decomposition would compute every "
           << "score";
  int64_t heads = attention.getQuery().getType().getDimSize(1);
  int64_t kvHeads = attention.getKey().getType().getDimSize(1);
  if (heads != kvHeads)
    return emitError(at,
                     "decomposed attention needs as many key/value heads as "
                     "query heads, but '")
           << getPath(attention->getParentOp()) << "' has " << heads << " and "
           << kvHeads;
  OpBuilder b(attention);
  Location loc = attention.getLoc();
  Value scores =
      MatmulOp::create(b, loc, attention.getQuery(), attention.getKey(), true);
  scores = ScaleOp::create(b, loc, scores, attention.getScaleAttr());
  if (attention.getCausal())
    scores = CausalMaskOp::create(b, loc, scores, false);
  Value probs = SoftmaxOp::create(b, loc, scores, b.getI64IntegerAttr(-1));
  if (attention.getDropout().convertToDouble() > 0.0)
    probs = DropoutOp::create(b, loc, probs, attention.getDropoutAttr(),
                              IntegerAttr());
  Value out = MatmulOp::create(b, loc, probs, attention.getValue(), false);
  attention.getResult().replaceAllUsesWith(out);
  attention.erase();
  return success();
}

bool fuseAttention(MatmulOp out) {
  if (out.getTransposeB())
    return false;
  SmallVector<Operation *> chain{out};
  auto single = [&](Value value, auto kind) -> decltype(kind) {
    auto op = value.getDefiningOp<decltype(kind)>();
    if (op && op->hasOneUse())
      chain.push_back(op);
    return op && op->hasOneUse() ? op : decltype(kind)();
  };
  Value probs = out.getLhs();
  auto dropout = single(probs, DropoutOp());
  auto softmax = single(dropout ? dropout.getInput() : probs, SoftmaxOp());
  if (!softmax || softmax.getAxisAttr().getInt() != -1)
    return false;
  auto mask = single(softmax.getInput(), CausalMaskOp());
  if (mask && mask.getZero())
    return false;
  auto scale = single(mask ? mask.getInput() : softmax.getInput(), ScaleOp());
  auto scores = scale ? single(scale.getInput(), MatmulOp()) : MatmulOp();
  if (!scores || !scores.getTransposeB() ||
      scores.getLhs().getType().getRank() != 4)
    return false;
  OpBuilder b(out);
  auto attention = AttentionOp::create(
      b, out.getLoc(), scores.getLhs(), scores.getRhs(), out.getRhs(),
      /*mask=*/Value(), scale.getFactorAttr(),
      mask ? b.getUnitAttr() : UnitAttr(),
      dropout ? dropout.getProbabilityAttr() : b.getF64FloatAttr(0.0),
      IntegerAttr(), /*block=*/IntegerAttr());
  out.getResult().replaceAllUsesWith(attention.getResult());
  for (Operation *op : chain)
    op->erase();
  return true;
}

} // namespace slapo::graph
