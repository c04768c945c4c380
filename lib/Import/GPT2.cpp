//===- GPT2.cpp - GPT2LMHeadModel as a graph -----------------------------===//
//
// Mirrors transformers' GPT2LMHeadModel: Conv1D weights stored [in, out],
// learned positions, pre-LayerNorm blocks, tanh GELU, lm_head tied to wte.
//
//===----------------------------------------------------------------------===//

#include "GraphBuilder.h"

#include <cmath>
#include <string>

using namespace mlir;
using namespace slapo::graph;

namespace slapo::import {

static Value gpt2Attention(GraphBuilder &g, Value x, int64_t layer) {
  const ModelConfig &c = g.config();
  OpBuilder &b = g.builder();
  int64_t d = c.hiddenSize;
  // GPT-2 scales the residual projections' init by 1/sqrt(2 * n_layer).
  double projStd = c.initializerRange / std::sqrt(2.0 * c.numLayers);
  return g.module("attn", x, [&](ValueRange args) -> Value {
    Value qkv = g.linear("c_attn", args[0], d, 3 * d, true, /*inOut=*/true);
    auto split = SplitOp::create(b, g.loc(), qkv, b.getI64IntegerAttr(2),
                                 b.getDenseI64ArrayAttr({d, d, d}));
    Value q = g.splitHeads(split.getResult(0), c.numHeads);
    Value k = g.splitHeads(split.getResult(1), c.numHeads);
    Value v = g.splitHeads(split.getResult(2), c.numHeads);
    double scale =
        c.scaleAttnWeights ? 1.0 / std::sqrt(double(c.headDim)) : 1.0;
    if (c.scaleAttnByInverseLayerIdx)
      scale /= double(layer + 1);
    Value attended = g.attention(q, k, v, scale);
    Value merged = g.mergeHeads(attended);
    Value out = g.linear("c_proj", merged, d, d, true, /*inOut=*/true, projStd);
    return g.dropout(out, c.residualDropout);
  });
}

static Value gpt2Mlp(GraphBuilder &g, Value x) {
  const ModelConfig &c = g.config();
  double projStd = c.initializerRange / std::sqrt(2.0 * c.numLayers);
  return g.module("mlp", x, [&](ValueRange args) -> Value {
    Value h = g.linear("c_fc", args[0], c.hiddenSize, c.intermediateSize, true,
                       /*inOut=*/true);
    h = g.activation(h);
    h = g.linear("c_proj", h, c.intermediateSize, c.hiddenSize, true,
                 /*inOut=*/true, projStd);
    return g.dropout(h, c.residualDropout);
  });
}

static Value gpt2Block(GraphBuilder &g, Value residual, int64_t layer) {
  Value h = gpt2Attention(g, g.layerNorm("ln_1", residual), layer);
  residual = g.add(residual, h);
  h = gpt2Mlp(g, g.layerNorm("ln_2", residual));
  return g.add(residual, h);
}

OwningOpRef<mlir::ModuleOp> buildGPT2(GraphBuilder &g) {
  const ModelConfig &c = g.config();
  OpBuilder &b = g.builder();
  return g.model([&](ValueRange inputs) -> Value {
    Value hidden =
        g.module("transformer", inputs[0], [&](ValueRange args) -> Value {
          Value ids = args[0];
          Value tokens = g.embedding("wte", ids, c.vocabSize, c.hiddenSize);
          Value positions =
              PositionIdsOp::create(b, g.loc(), ids, /*offset=*/0);
          Value pos =
              g.embedding("wpe", positions, c.maxPositions, c.hiddenSize);
          Value h = g.dropout(g.add(tokens, pos), c.embeddingDropout);
          h = g.layers("h", h, [&](Value x, int64_t layer) {
            return gpt2Block(g, x, layer);
          });
          return g.layerNorm("ln_f", h);
        });
    return g.lmHeadLoss(hidden, inputs[1], "transformer.wte.weight");
  });
}

} // namespace slapo::import
