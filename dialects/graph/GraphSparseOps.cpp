//===- GraphSparseOps.cpp - block-sparse ops: inference, adjoints ---------===//
//
// graph.block_mask, graph.block_sparse_linear and its input gradient
// (GraphSparseOps.td). The mask's leading axis counts row tiles of the
// flattened leading axes, so it is dynamic until the batch and sequence
// are (graph-specialize-shapes).
//
//===----------------------------------------------------------------------===//

#include "GraphShapeCheck.h"
#include "graph/GraphDialect.h"

#include "mlir/IR/Builders.h"

#include <cmath>

using namespace mlir;
using namespace slapo::graph;
using namespace slapo::graph::detail;

namespace {

/// The number of rows of `type` (the product of all axes but the last), or
/// dynamic.
int64_t rowsOf(RankedTensorType type) {
  int64_t rows = 1;
  for (int64_t dim : type.getShape().drop_back()) {
    if (isDynamic(dim))
      return ShapedType::kDynamic;
    rows *= dim;
  }
  return rows;
}

/// ceil(rows / tile), or dynamic.
int64_t tilesOf(int64_t rows, int64_t tile) {
  // rows + tile - 1 could overflow for a tile near INT64_MAX.
  if (isDynamic(rows))
    return ShapedType::kDynamic;
  return rows == 0 ? 0 : 1 + (rows - 1) / tile;
}

/// The rules graph.block_sparse_linear and its gradient share: `x` is the
/// tensor whose last axis is `xFeatures` of the weight (in for the forward,
/// out for the gradient), `sparse` says which side of the weight the mask's
/// blocks cut.
LogicalResult checkSparseLinear(ShapeCheck &check, RankedTensorType x,
                                StringRef xName, RankedTensorType weight,
                                RankedTensorType mask, int64_t rows,
                                int64_t block, StringRef sparse,
                                bool gradient) {
  if (x.getRank() < 1)
    return check.fail(xName, " must have at least one axis");
  if (failed(check.sameElementType(x, xName, weight, "weight")) ||
      failed(check.sameElementType(x, xName, mask, "mask")))
    return failure();
  if (rows <= 0 || block <= 0)
    return check.fail("rows and block must be positive, got rows = ", rows,
                      " and block = ", block);
  if (sparse != "out" && sparse != "in")
    return check.fail("sparse must be \"out\" (the output features are cut "
                      "in blocks) or \"in\" (the input features are), got \"",
                      sparse, "\"");
  int64_t out = weight.getDimSize(0), in = weight.getDimSize(1);
  int64_t given = x.getShape().back(), expected = gradient ? out : in;
  if (!dimsAgree(given, expected))
    return check.fail(
        xName, " has ", dimStr(given), " features but the weight ",
        shapeToString(weight.getShape()), " ([out, in]) expects ", expected);
  int64_t cut = sparse == "out" ? out : in;
  if (cut % block != 0)
    return check.fail("block ", block, " does not divide the ", sparse,
                      " features (", cut, ")");
  if (mask.getDimSize(1) != cut / block)
    return check.fail("mask has ", dimStr(mask.getDimSize(1)),
                      " blocks a row tile but ", cut, " ", sparse,
                      " features make ", cut / block, " blocks of ", block);
  int64_t tiles = tilesOf(rowsOf(x), rows);
  if (!dimsAgree(mask.getDimSize(0), tiles))
    return check.fail("mask has ", dimStr(mask.getDimSize(0)),
                      " row tiles but ", dimStr(rowsOf(x)), " rows make ",
                      dimStr(tiles), " tiles of ", rows);
  return success();
}

} // namespace

LogicalResult slapo::graph::detail::checkAttentionMask(ShapeCheck &check,
                                                       RankedTensorType query,
                                                       RankedTensorType key,
                                                       Value mask, bool causal,
                                                       IntegerAttr block) {
  if (!mask)
    return block ? check.fail("block is the tile of a mask, but there is none")
                 : success();
  auto type = check.tensorOfRank(mask, "mask", 4);
  if (failed(type) ||
      failed(check.sameElementType(query, "query", *type, "mask")))
    return failure();
  int64_t tile = signedOr(block, 0);
  if (tile <= 0)
    return check.fail("a block mask needs a positive block, got ", tile);
  auto qs = query.getShape(), ks = key.getShape();
  if (!causal || !dimsAgree(qs[2], ks[2]))
    return check.fail("a block mask takes causal self-attention (T = S), "
                      "not query ",
                      shapeToString(qs), " against key ", shapeToString(ks));
  int64_t expected[] = {qs[0], qs[1], tilesOf(qs[2], tile),
                        tilesOf(ks[2], tile)};
  for (int64_t d = 0; d < 4; ++d)
    if (!dimsAgree(type->getDimSize(d), expected[d]))
      return check.fail("mask ", shapeToString(type->getShape()),
                        " must be [B, H, T / ", tile, ", S / ", tile,
                        "] = ", shapeToString(expected));
  return success();
}

LogicalResult BlockMaskOp::inferReturnTypes(MLIRContext *context,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "block_mask");
  auto scores = check.tensor(adaptor.getScores(), "scores");
  if (failed(scores))
    return failure();
  if (scores->getRank() < 1)
    return check.fail("scores must have at least one axis");
  int64_t rows = adaptor.getRowsAttr().getInt(),
          cols = adaptor.getColsAttr().getInt();
  if (rows <= 0 || cols <= 0)
    return check.fail("rows and cols must be positive, got rows = ", rows,
                      " and cols = ", cols);
  double threshold = adaptor.getThresholdAttr().getValueAsDouble();
  if (!std::isfinite(threshold))
    return check.fail("threshold must be finite, got ", threshold);
  // One column a block (a predictor's logits) may be dynamic: an
  // attention's key tiles are until the sequence is.
  int64_t features = scores->getShape().back();
  if (isDynamic(features) ? cols != 1 : features % cols != 0)
    return check.fail("cols ", cols, " does not divide the ", dimStr(features),
                      " score columns");
  int64_t blocks = isDynamic(features) ? features : features / cols;
  if (adaptor.getKeepShape()) {
    if (rows != 1)
      return check.fail("keep_shape keeps every row: rows must be 1, got ",
                        rows);
    SmallVector<int64_t> shape(scores->getShape());
    shape.back() = blocks;
    inferred.push_back(RankedTensorType::get(shape, scores->getElementType()));
    return success();
  }
  inferred.push_back(
      RankedTensorType::get({tilesOf(rowsOf(*scores), rows), blocks},
                            scores->getElementType()));
  return success();
}

LogicalResult BlockSparseLinearOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "block_sparse_linear");
  auto input = check.tensor(adaptor.getInput(), "input");
  auto weight = check.tensorOfRank(adaptor.getWeight(), "weight", 2);
  auto mask = check.tensorOfRank(adaptor.getMask(), "mask", 2);
  if (failed(input) || failed(weight) || failed(mask) ||
      failed(checkSparseLinear(check, *input, "input", *weight, *mask,
                               adaptor.getRowsAttr().getInt(),
                               adaptor.getBlockAttr().getInt(),
                               adaptor.getSparseAttr().getValue(),
                               /*gradient=*/false)))
    return failure();
  int64_t out = weight->getDimSize(0);
  if (Value biasValue = adaptor.getBias()) {
    auto bias = check.tensorOfRank(biasValue, "bias", 1);
    if (failed(bias) ||
        failed(check.sameElementType(*input, "input", *bias, "bias")))
      return failure();
    if (bias->getDimSize(0) != out)
      return check.fail("bias has ", bias->getDimSize(0),
                        " elements but the layer has ", out,
                        " output features");
  }
  SmallVector<int64_t> shape(input->getShape());
  shape.back() = out;
  inferred.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

LogicalResult BlockSparseLinearGradOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "block_sparse_linear_grad");
  auto grad = check.tensor(adaptor.getGrad(), "grad");
  auto weight = check.tensorOfRank(adaptor.getWeight(), "weight", 2);
  auto mask = check.tensorOfRank(adaptor.getMask(), "mask", 2);
  if (failed(grad) || failed(weight) || failed(mask) ||
      failed(checkSparseLinear(
          check, *grad, "grad", *weight, *mask, adaptor.getRowsAttr().getInt(),
          adaptor.getBlockAttr().getInt(), adaptor.getSparseAttr().getValue(),
          /*gradient=*/true)))
    return failure();
  SmallVector<int64_t> shape(grad->getShape());
  shape.back() = weight->getDimSize(1);
  inferred.push_back(RankedTensorType::get(shape, grad->getElementType()));
  return success();
}

LogicalResult BlockMaskOp::buildAdjoint(OpBuilder &, ArrayRef<Value>,
                                        ArrayRef<bool>,
                                        SmallVectorImpl<Value> &grads) {
  // A comparison: the mask is piecewise constant, its gradient zero.
  grads.assign(getOperation()->getNumOperands(), Value());
  return success();
}

LogicalResult BlockSparseLinearOp::buildAdjoint(OpBuilder &b,
                                                ArrayRef<Value> resultGrads,
                                                ArrayRef<bool> needsGrad,
                                                SmallVectorImpl<Value> &grads) {
  grads.assign(getOperation()->getNumOperands(), Value());
  // Operands: input, weight, [bias], mask.
  bool weightGrad = needsGrad[1] || (getBias() && needsGrad[2]);
  if (weightGrad)
    return emitOpError("has a trainable weight or bias, but a block-sparse "
                       "linear layer computes no weight gradient: freeze it "
                       "(sparsify needs its layers frozen)");
  if (needsGrad[0])
    grads[0] = BlockSparseLinearGradOp::create(
        b, getLoc(), resultGrads[0], getWeight(), getMask(), getRowsAttr(),
        getBlockAttr(), getSparseAttr());
  return success();
}

namespace {

/// A `scale` attribute's value: while parsing its default (1) is not filled
/// in yet.
double scaleOf(FloatAttr scale) {
  return scale ? scale.getValueAsDouble() : 1.0;
}

/// `causal` pairs: a tensor whose last two axes are (query tile, key tile)
/// of one causal self-attention, so they agree.
LogicalResult checkCausalPairs(ShapeCheck &check, RankedTensorType type,
                               StringRef name) {
  auto shape = type.getShape();
  if (shape.size() < 2 || !dimsAgree(shape[shape.size() - 2], shape.back()))
    return check.fail("causal pairs need ", name,
                      " [..., query tiles, key tiles] with as many of each, "
                      "got ",
                      shapeToString(shape));
  return success();
}

/// The rule graph.sigmoid_bce and its gradient share: labels [N, C] for
/// logits [..., C], or labels of the logits' shape (with `causal`, only).
LogicalResult checkBceOperands(ShapeCheck &check,
                               FailureOr<RankedTensorType> logits,
                               FailureOr<RankedTensorType> labels, double scale,
                               bool causal) {
  if (failed(logits) || failed(labels))
    return failure();
  if (failed(check.sameElementType(*logits, "logits", *labels, "labels")))
    return failure();
  if (!std::isfinite(scale))
    return check.fail("scale must be finite, got ", scale);
  if (logits->getRank() < 1)
    return check.fail("logits must have at least one axis");
  if (causal) {
    if (*logits != *labels)
      return check.fail("causal labels must have the logits' shape ",
                        shapeToString(logits->getShape()), ", got ",
                        shapeToString(labels->getShape()));
    return checkCausalPairs(check, *logits, "logits");
  }
  if (*logits == *labels)
    return success();
  if (labels->getRank() != 2 ||
      !dimsAgree(labels->getDimSize(0), rowsOf(*logits)) ||
      !dimsAgree(labels->getDimSize(1), logits->getShape().back()))
    return check.fail("labels ", shapeToString(labels->getShape()),
                      " must be [rows, classes] of logits ",
                      shapeToString(logits->getShape()), " or its shape");
  return success();
}

} // namespace

LogicalResult SigmoidBceOp::inferReturnTypes(MLIRContext *context,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "sigmoid_bce");
  if (failed(checkBceOperands(
          check, check.tensor(adaptor.getLogits(), "logits"),
          check.tensor(adaptor.getLabels(), "labels"),
          scaleOf(adaptor.getScaleAttr()), adaptor.getCausal())))
    return failure();
  inferred.push_back(RankedTensorType::get({}, Float32Type::get(context)));
  return success();
}

LogicalResult
SigmoidBceGradOp::inferReturnTypes(MLIRContext *context,
                                   std::optional<Location> loc, Adaptor adaptor,
                                   SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "sigmoid_bce_grad");
  auto logits = check.tensor(adaptor.getLogits(), "logits");
  if (failed(checkBceOperands(
          check, logits, check.tensor(adaptor.getLabels(), "labels"),
          scaleOf(adaptor.getScaleAttr()), adaptor.getCausal())))
    return failure();
  inferred.push_back(*logits);
  return success();
}

LogicalResult
MaskAgreementOp::inferReturnTypes(MLIRContext *context,
                                  std::optional<Location> loc, Adaptor adaptor,
                                  SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "mask_agreement");
  int64_t rows = adaptor.getRowsAttr().getInt();
  double scale = scaleOf(adaptor.getScaleAttr());
  if (rows <= 0 || !std::isfinite(scale))
    return check.fail("rows must be positive and scale finite, got rows = ",
                      rows, " and scale = ", scale);
  if (adaptor.getCausal()) {
    auto predicted = check.tensor(adaptor.getPredicted(), "predicted");
    auto live = check.tensor(adaptor.getLive(), "live");
    if (failed(predicted) || failed(live) ||
        failed(check.sameElementType(*predicted, "predicted", *live, "live")) ||
        failed(checkCausalPairs(check, *live, "live")))
      return failure();
    if (rows != 1 || *predicted != *live)
      return check.fail("causal masks are compared pair by pair: rows must "
                        "be 1 and the shapes equal, got rows = ",
                        rows, ", ", shapeToString(predicted->getShape()),
                        " and ", shapeToString(live->getShape()));
    inferred.push_back(RankedTensorType::get({4}, Float32Type::get(context)));
    return success();
  }
  auto predicted = check.tensorOfRank(adaptor.getPredicted(), "predicted", 2);
  auto live = check.tensorOfRank(adaptor.getLive(), "live", 2);
  if (failed(predicted) || failed(live) ||
      failed(check.sameElementType(*predicted, "predicted", *live, "live")))
    return failure();
  if (!dimsAgree(predicted->getDimSize(1), live->getDimSize(1)))
    return check.fail("predicted has ", dimStr(predicted->getDimSize(1)),
                      " blocks a tile but live has ",
                      dimStr(live->getDimSize(1)));
  int64_t tiles = isDynamic(live->getDimSize(0))
                      ? ShapedType::kDynamic
                      : tilesOf(live->getDimSize(0), rows);
  if (!dimsAgree(predicted->getDimSize(0), tiles))
    return check.fail("predicted has ", dimStr(predicted->getDimSize(0)),
                      " tiles but the ", dimStr(live->getDimSize(0)),
                      " rows of live make ", dimStr(tiles), " tiles of ", rows);
  inferred.push_back(RankedTensorType::get({4}, Float32Type::get(context)));
  return success();
}

/// A loss seeds the backward pass (d(loss)/d(loss) = 1); the labels are
/// data.
LogicalResult SigmoidBceOp::buildAdjoint(OpBuilder &b,
                                         ArrayRef<Value> resultGrads,
                                         ArrayRef<bool> needsGrad,
                                         SmallVectorImpl<Value> &grads) {
  grads.assign(getOperation()->getNumOperands(), Value());
  if (resultGrads[0])
    return emitOpError("can only be differentiated as a loss itself");
  if (needsGrad[1])
    return emitOpError("has labels that depend on a trainable parameter: "
                       "labels are data and get no gradient");
  if (needsGrad[0])
    grads[0] = SigmoidBceGradOp::create(b, getLoc(), getLogits(), getLabels(),
                                        getScaleAttr(), getCausalAttr());
  return success();
}

LogicalResult MaskAgreementOp::buildAdjoint(OpBuilder &, ArrayRef<Value>,
                                            ArrayRef<bool>,
                                            SmallVectorImpl<Value> &grads) {
  grads.assign(getOperation()->getNumOperands(), Value());
  return success();
}

LogicalResult TileMeanOp::inferReturnTypes(MLIRContext *context,
                                           std::optional<Location> loc,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "tile_mean");
  auto input = check.tensorOfRank(adaptor.getInput(), "input", 3);
  if (failed(input))
    return failure();
  int64_t block = adaptor.getBlockAttr().getInt();
  if (block <= 0)
    return check.fail("block must be positive, got ", block);
  auto shape = input->getShape();
  inferred.push_back(RankedTensorType::get(
      {shape[0], tilesOf(shape[1], block), shape[2]}, input->getElementType()));
  return success();
}

/// The predictor's input is a constant of its training: nothing passes.
LogicalResult TileMeanOp::buildAdjoint(OpBuilder &, ArrayRef<Value>,
                                       ArrayRef<bool>,
                                       SmallVectorImpl<Value> &grads) {
  grads.assign(getOperation()->getNumOperands(), Value());
  return success();
}

LogicalResult AttentionBlockMaskOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "attention_block_mask");
  auto query = check.tensorOfRank(adaptor.getQuery(), "query", 4);
  auto key = check.tensorOfRank(adaptor.getKey(), "key", 4);
  if (failed(query) || failed(key) ||
      failed(check.sameElementType(*query, "query", *key, "key")))
    return failure();
  int64_t block = adaptor.getBlockAttr().getInt();
  double scale = adaptor.getScaleAttr().getValueAsDouble(),
         threshold = adaptor.getThresholdAttr().getValueAsDouble();
  if (block <= 0 || !std::isfinite(scale) || !(threshold >= 0.0) ||
      !(threshold < 1.0))
    return check.fail("needs a positive block, a finite scale and a "
                      "threshold probability in [0, 1), got block = ",
                      block, ", scale = ", scale, ", threshold = ", threshold);
  auto qs = query->getShape(), ks = key->getShape();
  bool grouped =
      isDynamic(qs[1]) || isDynamic(ks[1]) || (ks[1] > 0 && qs[1] % ks[1] == 0);
  if (!dimsAgree(qs[0], ks[0]) || !grouped || !dimsAgree(qs[2], ks[2]) ||
      !dimsAgree(qs[3], ks[3]))
    return check.fail("query ", shapeToString(qs), " and key ",
                      shapeToString(ks),
                      " must be [B, H, T, D] and [B, Hkv, T, D] with H a "
                      "multiple of Hkv");
  int64_t tiles = tilesOf(qs[2], block);
  inferred.push_back(RankedTensorType::get({qs[0], qs[1], tiles, tiles},
                                           query->getElementType()));
  return success();
}

LogicalResult
AttentionBlockMaskOp::buildAdjoint(OpBuilder &, ArrayRef<Value>, ArrayRef<bool>,
                                   SmallVectorImpl<Value> &grads) {
  // A comparison: piecewise constant.
  grads.assign(getOperation()->getNumOperands(), Value());
  return success();
}
