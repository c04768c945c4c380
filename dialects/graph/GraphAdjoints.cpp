//===- GraphAdjoints.cpp - reverse-mode rules of the graph ops -----------===//
//
// Each differentiable op builds the gradients of its operands from the
// gradients of its results (AdjointOpInterface). graph-generate-backward
// walks the model backwards and calls these.
//
//===----------------------------------------------------------------------===//

#include "graph/GraphDialect.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace slapo::graph;

namespace {

/// `grad` summed back to `type` when broadcasting made it larger.
Value sumTo(OpBuilder &b, Location loc, Value grad, Type type) {
  if (grad.getType() == type)
    return grad;
  return SumToOp::create(b, loc, type, grad);
}

/// Swaps the last two axes.
Value transposeLast2(OpBuilder &b, Location loc, Value x) {
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  SmallVector<int64_t> perm;
  for (int64_t i = 0; i < rank; ++i)
    perm.push_back(i);
  std::swap(perm[rank - 1], perm[rank - 2]);
  return TransposeOp::create(b, loc, x, b.getDenseI64ArrayAttr(perm));
}

/// Fills `grads` with one null entry per operand of `op`.
void noGrads(Operation *op, SmallVectorImpl<Value> &grads) {
  grads.assign(op->getNumOperands(), Value());
}

std::string activationName(Operation *op) {
  if (isa<ReluOp>(op))
    return "relu";
  if (isa<SiluOp>(op))
    return "silu";
  return cast<GeluOp>(op).getTanh() ? "gelu_tanh" : "gelu";
}

/// Elementwise activations: dx = activation_grad(x, dy).
LogicalResult activationAdjoint(Operation *op, OpBuilder &b,
                                ArrayRef<Value> resultGrads,
                                ArrayRef<bool> needsGrad,
                                SmallVectorImpl<Value> &grads) {
  noGrads(op, grads);
  if (needsGrad[0])
    grads[0] = ActivationGradOp::create(b, op->getLoc(), op->getOperand(0),
                                        resultGrads[0],
                                        b.getStringAttr(activationName(op)));
  return success();
}

/// What graph-partition-tensor-parallel marked on a forward op holds for
/// its gradient too: a vocabulary split, and how a split tensor numbers its
/// dropout elements.
Value keepTensorParallelMarks(Operation *forward, Operation *grad) {
  for (StringRef mark : {"vocab_parallel", "dropout_shard_axis"})
    if (Attribute value = forward->getAttr(mark))
      grad->setAttr(mark, value);
  return grad->getResult(0);
}

} // namespace

LogicalResult EmbeddingOp::buildAdjoint(OpBuilder &b,
                                        ArrayRef<Value> resultGrads,
                                        ArrayRef<bool> needsGrad,
                                        SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (needsGrad[1])
    grads[1] = keepTensorParallelMarks(
        *this, EmbeddingGradOp::create(
                   b, getLoc(), getIds(), resultGrads[0],
                   b.getI64IntegerAttr(getTable().getType().getDimSize(0))));
  return success();
}

LogicalResult LinearOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                     ArrayRef<bool> needsGrad,
                                     SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value dy = resultGrads[0];
  // dx = dy W for a [out, in] weight: read it as [in', out'] = [out, in].
  if (needsGrad[0])
    grads[0] = LinearOp::create(b, getLoc(), dy, getWeight(), Value(),
                                /*in_out=*/!getInOut());
  if (needsGrad[1])
    grads[1] =
        LinearGradWeightOp::create(b, getLoc(), getInput(), dy, getInOut());
  if (getBias() && needsGrad[2])
    grads[2] = sumTo(b, getLoc(), dy, getBias().getType());
  return success();
}

LogicalResult MatmulOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                     ArrayRef<bool> needsGrad,
                                     SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value dc = resultGrads[0];
  Location loc = getLoc();
  if (!getTransposeB()) {
    // C = A B: dA = dC B^T, dB = A^T dC.
    if (needsGrad[0])
      grads[0] = MatmulOp::create(b, loc, dc, getRhs(), /*transpose_b=*/true);
    if (needsGrad[1])
      grads[1] =
          MatmulOp::create(b, loc, transposeLast2(b, loc, getLhs()), dc, false);
  } else {
    // C = A B^T: dA = dC B, dB = dC^T A.
    if (needsGrad[0])
      grads[0] = MatmulOp::create(b, loc, dc, getRhs(), false);
    if (needsGrad[1])
      grads[1] =
          MatmulOp::create(b, loc, transposeLast2(b, loc, dc), getLhs(), false);
  }
  return success();
}

LogicalResult LayerNormOp::buildAdjoint(OpBuilder &b,
                                        ArrayRef<Value> resultGrads,
                                        ArrayRef<bool> needsGrad,
                                        SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  auto grad = LayerNormGradOp::create(b, getLoc(), getInput(), resultGrads[0],
                                      getGamma(), getEpsilonAttr());
  for (unsigned i = 0; i < grads.size(); ++i)
    if (needsGrad[i])
      grads[i] = grad.getResult(i);
  return success();
}

LogicalResult RmsNormOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                      ArrayRef<bool> needsGrad,
                                      SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  auto grad = RmsNormGradOp::create(b, getLoc(), getInput(), resultGrads[0],
                                    getWeight(), getEpsilonAttr());
  if (needsGrad[0])
    grads[0] = grad.getInputGrad();
  if (needsGrad[1])
    grads[1] = grad.getWeightGrad();
  return success();
}

LogicalResult SoftmaxOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                      ArrayRef<bool> needsGrad,
                                      SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (needsGrad[0])
    grads[0] = SoftmaxGradOp::create(b, getLoc(), getResult(), resultGrads[0],
                                     getAxisAttr());
  return success();
}

LogicalResult AttentionOp::buildAdjoint(OpBuilder &b,
                                        ArrayRef<Value> resultGrads,
                                        ArrayRef<bool> needsGrad,
                                        SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  auto grad = AttentionGradOp::create(
      b, getLoc(), getQuery(), getKey(), getValue(), resultGrads[0], getMask(),
      getScaleAttr(), getCausalAttr(), getDropoutAttr(), getRngStreamAttr(),
      getBlockAttr());
  keepTensorParallelMarks(*this, grad);
  for (unsigned i = 0; i < 3; ++i)
    if (needsGrad[i])
      grads[i] = grad.getResult(i);
  return success();
}

LogicalResult RopeOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                   ArrayRef<bool> needsGrad,
                                   SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  // A rotation's adjoint is the rotation by the opposite angle, at the same
  // (scaled) frequencies.
  if (needsGrad[0])
    grads[0] = RopeOp::create(b, getLoc(), resultGrads[0], getThetaAttr(),
                              getInverse() ? UnitAttr() : b.getUnitAttr(),
                              getScalingAttr(), getFactorAttr(),
                              getLowFreqFactorAttr(), getHighFreqFactorAttr(),
                              getOriginalMaxPositionsAttr());
  return success();
}

LogicalResult ReluOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                   ArrayRef<bool> needsGrad,
                                   SmallVectorImpl<Value> &grads) {
  return activationAdjoint(*this, b, resultGrads, needsGrad, grads);
}

LogicalResult SiluOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                   ArrayRef<bool> needsGrad,
                                   SmallVectorImpl<Value> &grads) {
  return activationAdjoint(*this, b, resultGrads, needsGrad, grads);
}

LogicalResult GeluOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                   ArrayRef<bool> needsGrad,
                                   SmallVectorImpl<Value> &grads) {
  return activationAdjoint(*this, b, resultGrads, needsGrad, grads);
}

LogicalResult ScaleOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                    ArrayRef<bool> needsGrad,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (needsGrad[0])
    grads[0] = ScaleOp::create(b, getLoc(), resultGrads[0], getFactorAttr());
  return success();
}

/// The gradient goes back to the operand's element type: an f32 master
/// weight read as bf16 gets an f32 gradient.
LogicalResult CastOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                   ArrayRef<bool> needsGrad,
                                   SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (needsGrad[0])
    grads[0] =
        CastOp::create(b, getLoc(), resultGrads[0],
                       cast<FloatType>(getInput().getType().getElementType()));
  return success();
}

LogicalResult DropoutOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                      ArrayRef<bool> needsGrad,
                                      SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  // The same mask (same rng stream) and the same 1/(1-p) scale.
  if (needsGrad[0])
    grads[0] = keepTensorParallelMarks(
        *this, DropoutOp::create(b, getLoc(), resultGrads[0],
                                 getProbabilityAttr(), getRngStreamAttr()));
  return success();
}

LogicalResult AddOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                  ArrayRef<bool> needsGrad,
                                  SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (needsGrad[0])
    grads[0] = sumTo(b, getLoc(), resultGrads[0], getLhs().getType());
  if (needsGrad[1])
    grads[1] = sumTo(b, getLoc(), resultGrads[0], getRhs().getType());
  return success();
}

LogicalResult MulOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                  ArrayRef<bool> needsGrad,
                                  SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value dy = resultGrads[0];
  if (needsGrad[0])
    grads[0] = sumTo(b, getLoc(), MulOp::create(b, getLoc(), dy, getRhs()),
                     getLhs().getType());
  if (needsGrad[1])
    grads[1] = sumTo(b, getLoc(), MulOp::create(b, getLoc(), dy, getLhs()),
                     getRhs().getType());
  return success();
}

LogicalResult ReshapeOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                      ArrayRef<bool> needsGrad,
                                      SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (needsGrad[0])
    grads[0] =
        ReshapeOp::create(b, getLoc(), getInput().getType(), resultGrads[0]);
  return success();
}

LogicalResult TransposeOp::buildAdjoint(OpBuilder &b,
                                        ArrayRef<Value> resultGrads,
                                        ArrayRef<bool> needsGrad,
                                        SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  ArrayRef<int64_t> perm = getPermutation();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, axis] : llvm::enumerate(perm))
    inverse[axis] = i;
  if (needsGrad[0])
    grads[0] = TransposeOp::create(b, getLoc(), resultGrads[0],
                                   b.getDenseI64ArrayAttr(inverse));
  return success();
}

LogicalResult SplitOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                    ArrayRef<bool> needsGrad,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!needsGrad[0])
    return success();
  SmallVector<Value> pieces;
  for (auto [grad, result] : llvm::zip(resultGrads, getResults()))
    pieces.push_back(grad ? grad
                          : ZerosOp::create(b, getLoc(), result.getType()));
  grads[0] = ConcatOp::create(b, getLoc(), pieces, getAxisAttr());
  return success();
}

LogicalResult ConcatOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                     ArrayRef<bool> needsGrad,
                                     SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  int64_t rank = getResult().getType().getRank();
  // I64Attr getters return uint64_t: read the axis signed.
  int64_t axis = getAxisAttr().getInt();
  if (axis < 0)
    axis += rank;
  SmallVector<int64_t> sizes;
  for (Value input : getInputs()) {
    int64_t size = cast<RankedTensorType>(input.getType()).getDimSize(axis);
    if (ShapedType::isDynamic(size))
      return emitOpError("cannot differentiate a concatenation along a "
                         "dynamic axis");
    sizes.push_back(size);
  }
  auto split =
      SplitOp::create(b, getLoc(), resultGrads[0], b.getI64IntegerAttr(axis),
                      b.getDenseI64ArrayAttr(sizes));
  for (unsigned i = 0; i < grads.size(); ++i)
    if (needsGrad[i])
      grads[i] = split.getResult(i);
  return success();
}

LogicalResult CrossEntropyOp::buildAdjoint(OpBuilder &b,
                                           ArrayRef<Value> resultGrads,
                                           ArrayRef<bool> needsGrad,
                                           SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  // The loss seeds the backward pass: d(loss)/d(loss) = 1.
  if (resultGrads[0])
    return emitOpError("can only be differentiated as the loss itself");
  if (needsGrad[0])
    grads[0] = keepTensorParallelMarks(
        *this, CrossEntropyGradOp::create(b, getLoc(), getLogits(),
                                          getTargets(), getIgnoreIndexAttr()));
  return success();
}

/// The adjoint of a collective is its partner: forward and backward swap.
LogicalResult SyncOp::buildAdjoint(OpBuilder &b, ArrayRef<Value> resultGrads,
                                   ArrayRef<bool> needsGrad,
                                   SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (needsGrad[0])
    grads[0] = SyncOp::create(b, getLoc(), resultGrads[0], getBackwardAttr(),
                              getForwardAttr(), getAxisAttr(), getTpAttr());
  return success();
}

/// d(x + b) = dy * gelu'(x + b) in one pass; the bias sums it over rows.
LogicalResult BiasGeluOp::buildAdjoint(OpBuilder &b,
                                       ArrayRef<Value> resultGrads,
                                       ArrayRef<bool> needsGrad,
                                       SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value dsum = BiasGeluGradOp::create(b, getLoc(), getInput(), getBias(),
                                      resultGrads[0], getTanhAttr());
  if (needsGrad[0])
    grads[0] = dsum;
  if (needsGrad[1])
    grads[1] = sumTo(b, getLoc(), dsum, getBias().getType());
  return success();
}

/// Composed from the parts' adjoints: the layer norm's, the residual
/// branch's (the sum's gradient passes to both terms) and dropout's (the
/// same mask, from the same stream).
LogicalResult BiasDropoutAddLayerNormOp::buildAdjoint(
    OpBuilder &b, ArrayRef<Value> resultGrads, ArrayRef<bool> needsGrad,
    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Location loc = getLoc();
  Value dsum = resultGrads[0];
  if (Value dnormed = resultGrads[1]) {
    auto norm = LayerNormGradOp::create(b, loc, getSum(), dnormed, getGamma(),
                                        getEpsilonAttr());
    grads[3] = needsGrad[3] ? norm.getResult(1) : Value();
    grads[4] = needsGrad[4] ? norm.getResult(2) : Value();
    Value fromNorm = norm.getResult(0);
    dsum = dsum ? AddOp::create(b, loc, dsum, fromNorm).getResult() : fromNorm;
  }
  if (needsGrad[2])
    grads[2] = dsum;
  if (!needsGrad[0] && !needsGrad[1])
    return success();
  Value dbranch = dsum;
  if (getProbability().convertToDouble() > 0.0)
    dbranch = DropoutOp::create(b, loc, dsum, getProbabilityAttr(),
                                getRngStreamAttr());
  if (needsGrad[0])
    grads[0] = dbranch;
  if (needsGrad[1])
    grads[1] = sumTo(b, loc, dbranch, getBias().getType());
  return success();
}

/// The norm's input gradient joins the sum's own; both terms of the sum
/// get the total.
LogicalResult AddRmsNormOp::buildAdjoint(OpBuilder &b,
                                         ArrayRef<Value> resultGrads,
                                         ArrayRef<bool> needsGrad,
                                         SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Location loc = getLoc();
  Value dsum = resultGrads[0];
  if (Value dnormed = resultGrads[1]) {
    auto norm = RmsNormGradOp::create(b, loc, getSum(), dnormed, getWeight(),
                                      getEpsilonAttr());
    if (needsGrad[2])
      grads[2] = norm.getWeightGrad();
    Value fromNorm = norm.getInputGrad();
    dsum = dsum ? AddOp::create(b, loc, dsum, fromNorm).getResult() : fromNorm;
  }
  if (needsGrad[0])
    grads[0] = dsum;
  if (needsGrad[1])
    grads[1] = dsum;
  return success();
}

LogicalResult CausalMaskOp::buildAdjoint(OpBuilder &b,
                                         ArrayRef<Value> resultGrads,
                                         ArrayRef<bool> needsGrad,
                                         SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (needsGrad[0])
    grads[0] = CausalMaskOp::create(b, getLoc(), resultGrads[0],
                                    /*zero=*/true);
  return success();
}
