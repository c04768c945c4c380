//===- GraphBuilder.cpp - building blocks of imported models -------------===//

#include "GraphBuilder.h"

#include "llvm/ADT/SmallVector.h"

using namespace mlir;
using namespace slapo::graph;

namespace slapo::import {

GraphBuilder::GraphBuilder(MLIRContext &context, const ModelConfig &config)
    : context(context), cfg(config), b(&context),
      location(NameLoc::get(StringAttr::get(&context, config.modelType))) {
  context.getOrLoadDialect<GraphDialect>();
}

OwningOpRef<mlir::ModuleOp> GraphBuilder::model(const Body &body) {
  SmallVector<NamedAttribute> facts = {
      b.getNamedAttr("model_type", b.getStringAttr(cfg.modelType)),
      b.getNamedAttr("vocab_size", b.getI64IntegerAttr(cfg.vocabSize)),
      b.getNamedAttr("hidden_size", b.getI64IntegerAttr(cfg.hiddenSize)),
      b.getNamedAttr("num_layers", b.getI64IntegerAttr(cfg.numLayers)),
      b.getNamedAttr("num_heads", b.getI64IntegerAttr(cfg.numHeads)),
      b.getNamedAttr("num_kv_heads", b.getI64IntegerAttr(cfg.numKeyValueHeads)),
      b.getNamedAttr("head_dim", b.getI64IntegerAttr(cfg.headDim)),
      b.getNamedAttr("max_positions", b.getI64IntegerAttr(cfg.maxPositions)),
  };
  // For generation: where a sequence starts, and the tokens that end it.
  if (cfg.bosTokenId)
    facts.push_back(
        b.getNamedAttr("bos_token_id", b.getI64IntegerAttr(*cfg.bosTokenId)));
  if (!cfg.eosTokenIds.empty())
    facts.push_back(b.getNamedAttr("eos_token_ids",
                                   b.getDenseI64ArrayAttr(cfg.eosTokenIds)));
  auto configAttr = b.getDictionaryAttr(facts);
  OwningOpRef<mlir::ModuleOp> top = mlir::ModuleOp::create(location);
  b.setInsertionPointToEnd(top->getBody());
  auto ids = RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                                   b.getI64Type());
  auto loss = RankedTensorType::get({}, b.getF32Type());
  auto model = ModelOp::create(
      b, location, cfg.modelType, b.getFunctionType({ids, ids}, {loss}),
      /*arg_attrs=*/nullptr, /*res_attrs=*/nullptr, configAttr);
  Block *entry =
      b.createBlock(&model.getBody(), {}, {ids, ids}, {location, location});
  Value result = body(entry->getArguments());
  OutputOp::create(b, location, result);
  return top;
}

Value GraphBuilder::module(StringRef name, ValueRange inputs,
                           const Body &body) {
  // Build the body in a detached block first: the module's result type is
  // whatever the body produces.
  auto block = std::make_unique<Block>();
  for (Value input : inputs)
    block->addArgument(input.getType(), location);
  Value result;
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(block.get());
    result = body(block->getArguments());
    OutputOp::create(b, location, result);
  }
  auto module = GraphModuleOp::create(b, location, TypeRange{result.getType()},
                                      name, inputs);
  module.getBody().push_back(block.release());
  return module.getResult(0);
}

Value GraphBuilder::param(StringRef name, ArrayRef<int64_t> shape,
                          InitAttr init) {
  auto type = RankedTensorType::get(shape, b.getF32Type());
  return ParamOp::create(b, location, type, name, init, /*trainable=*/true);
}

Value GraphBuilder::paramRef(StringRef path, ArrayRef<int64_t> shape) {
  auto type = RankedTensorType::get(shape, b.getF32Type());
  return ParamRefOp::create(b, location, type, path);
}

InitAttr GraphBuilder::normal(double stddev) {
  return InitAttr::get(&context, InitKind::normal, llvm::APFloat(stddev));
}
InitAttr GraphBuilder::zeros() {
  return InitAttr::get(&context, InitKind::zeros, llvm::APFloat(0.0));
}
InitAttr GraphBuilder::ones() {
  return InitAttr::get(&context, InitKind::ones, llvm::APFloat(0.0));
}

static int64_t lastDim(Value x) {
  return cast<RankedTensorType>(x.getType()).getShape().back();
}

Value GraphBuilder::linear(StringRef name, Value x, int64_t in, int64_t out,
                           bool bias, bool inOut, double stddev) {
  if (stddev == 0.0)
    stddev = cfg.initializerRange;
  return module(name, x, [&](ValueRange args) -> Value {
    SmallVector<int64_t> shape =
        inOut ? SmallVector<int64_t>{in, out} : SmallVector<int64_t>{out, in};
    Value weight = param("weight", shape, normal(stddev));
    Value biasValue = bias ? param("bias", {out}, zeros()) : Value();
    return LinearOp::create(b, location, args[0], weight, biasValue, inOut);
  });
}

Value GraphBuilder::embedding(StringRef name, Value ids, int64_t rows,
                              int64_t dim) {
  return module(name, ids, [&](ValueRange args) -> Value {
    Value table = param("weight", {rows, dim}, normal(cfg.initializerRange));
    return EmbeddingOp::create(b, location, args[0], table);
  });
}

Value GraphBuilder::layerNorm(StringRef name, Value x, bool affine) {
  int64_t dim = lastDim(x);
  return module(name, x, [&](ValueRange args) -> Value {
    SmallVector<Value> affineParams;
    if (affine) {
      affineParams.push_back(param("weight", {dim}, ones()));
      affineParams.push_back(param("bias", {dim}, zeros()));
    }
    return LayerNormOp::create(b, location, args[0], affineParams,
                               b.getF64FloatAttr(cfg.normEpsilon));
  });
}

Value GraphBuilder::rmsNorm(StringRef name, Value x) {
  int64_t dim = lastDim(x);
  return module(name, x, [&](ValueRange args) -> Value {
    Value weight = param("weight", {dim}, ones());
    return RmsNormOp::create(b, location, args[0], weight,
                             b.getF64FloatAttr(cfg.normEpsilon));
  });
}

Value GraphBuilder::layers(StringRef name, Value x, const LayerBody &layer) {
  return module(name, x, [&](ValueRange args) -> Value {
    Value h = args[0];
    for (int64_t index = 0; index < cfg.numLayers; ++index)
      h = module(std::to_string(index), h, [&](ValueRange layerArgs) -> Value {
        return layer(layerArgs[0], index);
      });
    return h;
  });
}

Value GraphBuilder::lmHeadLoss(Value hidden, Value targets, StringRef tiedTo) {
  SmallVector<int64_t> shape{cfg.vocabSize, lastDim(hidden)};
  Value logits = module("lm_head", hidden, [&](ValueRange args) -> Value {
    Value weight = tiedTo.empty()
                       ? param("weight", shape, normal(cfg.initializerRange))
                       : paramRef(tiedTo, shape);
    return LinearOp::create(b, location, args[0], weight, Value(), false);
  });
  return CrossEntropyOp::create(b, location, logits, targets);
}

Value GraphBuilder::dropout(Value x, double p) {
  if (p == 0.0)
    return x;
  return DropoutOp::create(b, location, x, b.getF64FloatAttr(p),
                           /*rng_stream=*/IntegerAttr());
}

Value GraphBuilder::activation(Value x) {
  switch (cfg.activation) {
  case Activation::Relu:
    return ReluOp::create(b, location, x);
  case Activation::Gelu:
    return GeluOp::create(b, location, x, /*tanh=*/false);
  case Activation::GeluTanh:
    return GeluOp::create(b, location, x, /*tanh=*/true);
  case Activation::Silu:
    return SiluOp::create(b, location, x);
  }
  llvm_unreachable("unknown activation");
}

Value GraphBuilder::add(Value a, Value c) {
  return AddOp::create(b, location, a, c);
}

Value GraphBuilder::mul(Value a, Value c) {
  return MulOp::create(b, location, a, c);
}

Value GraphBuilder::attention(Value q, Value k, Value v, double scale) {
  return AttentionOp::create(
      b, location, q, k, v, /*mask=*/Value(), b.getF64FloatAttr(scale),
      /*causal=*/b.getUnitAttr(), b.getF64FloatAttr(cfg.attentionDropout),
      /*rng_stream=*/IntegerAttr(),
      /*block=*/IntegerAttr());
}

Value GraphBuilder::splitHeads(Value x, int64_t heads) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t width = type.getShape().back();
  auto split = RankedTensorType::get(
      {ShapedType::kDynamic, ShapedType::kDynamic, heads, width / heads},
      type.getElementType());
  Value reshaped = ReshapeOp::create(b, location, split, x);
  return TransposeOp::create(b, location, reshaped,
                             b.getDenseI64ArrayAttr({0, 2, 1, 3}));
}

Value GraphBuilder::mergeHeads(Value x) {
  Value transposed =
      TransposeOp::create(b, location, x, b.getDenseI64ArrayAttr({0, 2, 1, 3}));
  auto type = cast<RankedTensorType>(transposed.getType());
  auto merged =
      RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic,
                             type.getDimSize(2) * type.getDimSize(3)},
                            type.getElementType());
  return ReshapeOp::create(b, location, merged, transposed);
}

} // namespace slapo::import
