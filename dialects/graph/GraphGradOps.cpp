//===- GraphGradOps.cpp - backward and optimizer ops ---------------------===//

#include "GraphShapeCheck.h"
#include "graph/GraphDialect.h"

using namespace mlir;
using namespace slapo::graph;
using namespace slapo::graph::detail;

LogicalResult SumToOp::verify() {
  ArrayRef<int64_t> from = getInput().getType().getShape();
  ArrayRef<int64_t> to = getResult().getType().getShape();
  if (getInput().getType().getElementType() !=
      getResult().getType().getElementType())
    return emitOpError("cannot change the element type");
  if (to.size() > from.size())
    return emitOpError("cannot sum ")
           << shapeToString(from) << " to the larger rank of "
           << shapeToString(to);
  size_t lead = from.size() - to.size();
  for (size_t i = 0; i < to.size(); ++i)
    if (to[i] != 1 && !dimsAgree(to[i], from[lead + i]))
      return emitOpError("cannot sum ")
             << shapeToString(from) << " to " << shapeToString(to)
             << ": it does not broadcast back";
  return success();
}

/// Updates and gradients pair a parameter with a gradient of its type.
static LogicalResult verifyParamAndGrad(Operation *op, Value param,
                                        Value grad) {
  if (!param.getDefiningOp<ParamOp>())
    return op->emitOpError("first operand must be a graph.param");
  if (param.getType() != grad.getType())
    return op->emitOpError("gradient type ")
           << grad.getType() << " differs from the parameter's "
           << param.getType();
  return success();
}

LogicalResult GradientOp::verify() {
  return verifyParamAndGrad(*this, getParam(), getGrad());
}

LogicalResult SgdUpdateOp::verify() {
  return verifyParamAndGrad(*this, getParam(), getGrad());
}

LogicalResult AdamwUpdateOp::verify() {
  if (failed(verifyParamAndGrad(*this, getParam(), getGrad())))
    return failure();
  auto inUnit = [](APFloat value) {
    double v = value.convertToDouble();
    return v >= 0.0 && v < 1.0;
  };
  if (!inUnit(getBeta1()) || !inUnit(getBeta2()))
    return emitOpError("betas must be in [0, 1)");
  if (!(getEpsilon().convertToDouble() > 0.0))
    return emitOpError("epsilon must be positive");
  if (getWeightDecay().convertToDouble() < 0.0)
    return emitOpError("weight_decay must be non-negative");
  return success();
}

LogicalResult LinearGradWeightOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "linear_grad_weight");
  auto input = check.tensor(adaptor.getInput(), "input");
  auto grad = check.tensor(adaptor.getGrad(), "grad");
  if (failed(input) || failed(grad) ||
      failed(check.sameElementType(*input, "input", *grad, "grad")))
    return failure();
  if (input->getRank() < 1 || input->getRank() != grad->getRank())
    return check.fail("input ", shapeToString(input->getShape()), " and grad ",
                      shapeToString(grad->getShape()),
                      " must have the same rank >= 1");
  int64_t in = input->getShape().back(), out = grad->getShape().back();
  if (isDynamic(in) || isDynamic(out))
    return check.fail("feature sizes must be static");
  SmallVector<int64_t> shape = adaptor.getInOut()
                                   ? SmallVector<int64_t>{in, out}
                                   : SmallVector<int64_t>{out, in};
  inferred.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

LogicalResult
EmbeddingGradOp::inferReturnTypes(MLIRContext *context,
                                  std::optional<Location> loc, Adaptor adaptor,
                                  SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "embedding_grad");
  auto ids = check.tensor(adaptor.getIds(), "ids");
  auto grad = check.tensor(adaptor.getGrad(), "grad");
  if (failed(ids) || failed(grad))
    return failure();
  if (grad->getRank() != ids->getRank() + 1)
    return check.fail("grad must have one more axis than ids");
  int64_t rows = adaptor.getRowsAttr().getInt();
  if (rows <= 0)
    return check.fail("rows must be positive");
  inferred.push_back(RankedTensorType::get({rows, grad->getShape().back()},
                                           grad->getElementType()));
  return success();
}

LogicalResult
LayerNormGradOp::inferReturnTypes(MLIRContext *context,
                                  std::optional<Location> loc, Adaptor adaptor,
                                  SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "layer_norm_grad");
  auto input = check.gradOf(adaptor.getInput(), "input", adaptor.getGrad());
  if (failed(input))
    return failure();
  inferred.push_back(*input);
  if (Value gamma = adaptor.getGamma()) {
    inferred.push_back(gamma.getType());
    inferred.push_back(gamma.getType());
  }
  return success();
}

LogicalResult RmsNormGradOp::inferReturnTypes(MLIRContext *context,
                                              std::optional<Location> loc,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "rms_norm_grad");
  auto input = check.gradOf(adaptor.getInput(), "input", adaptor.getGrad());
  if (failed(input))
    return failure();
  inferred.push_back(*input);
  inferred.push_back(adaptor.getWeight().getType());
  return success();
}

LogicalResult SoftmaxGradOp::inferReturnTypes(MLIRContext *context,
                                              std::optional<Location> loc,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "softmax_grad");
  auto output = check.gradOf(adaptor.getOutput(), "output", adaptor.getGrad());
  if (failed(output) || failed(check.axis(signedOr(adaptor.getAxisAttr(), -1),
                                          output->getRank())))
    return failure();
  inferred.push_back(*output);
  return success();
}

LogicalResult
AttentionGradOp::inferReturnTypes(MLIRContext *context,
                                  std::optional<Location> loc, Adaptor adaptor,
                                  SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "attention_grad");
  auto query = check.tensorOfRank(adaptor.getQuery(), "query", 4);
  auto key = check.tensorOfRank(adaptor.getKey(), "key", 4);
  auto grad = check.tensorOfRank(adaptor.getGrad(), "grad", 4);
  if (failed(query) || failed(key) || failed(grad) ||
      failed(slapo::graph::detail::checkAttentionMask(
          check, *query, *key, adaptor.getMask(),
          adaptor.getCausalAttr() != nullptr, adaptor.getBlockAttr())))
    return failure();
  inferred.push_back(adaptor.getQuery().getType());
  inferred.push_back(adaptor.getKey().getType());
  inferred.push_back(adaptor.getValue().getType());
  return success();
}

LogicalResult
ActivationGradOp::inferReturnTypes(MLIRContext *context,
                                   std::optional<Location> loc, Adaptor adaptor,
                                   SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "activation_grad");
  StringRef kind = adaptor.getActivation();
  if (kind != "relu" && kind != "silu" && kind != "gelu" && kind != "gelu_tanh")
    return check.fail("unknown activation '", kind,
                      "', expected relu, silu, gelu or gelu_tanh");
  auto input = check.gradOf(adaptor.getInput(), "input", adaptor.getGrad());
  if (failed(input))
    return failure();
  inferred.push_back(*input);
  return success();
}

LogicalResult CrossEntropyGradOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  inferred.push_back(adaptor.getLogits().getType());
  return success();
}

LogicalResult
BiasGeluGradOp::inferReturnTypes(MLIRContext *context,
                                 std::optional<Location> loc, Adaptor adaptor,
                                 SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "bias_gelu_grad");
  auto input = check.gradOf(adaptor.getInput(), "input", adaptor.getGrad());
  if (failed(input) ||
      failed(check.featureVector(*input, adaptor.getBias(), "bias")))
    return failure();
  inferred.push_back(*input);
  return success();
}
