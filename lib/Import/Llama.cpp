//===- Llama.cpp - LlamaForCausalLM as a graph ---------------------------===//
//
// Mirrors transformers' LlamaForCausalLM: RMSNorm, rotary embeddings with
// rope_theta and rope_scaling (Llama 3), grouped-query attention, SwiGLU
// MLP, optionally tied lm_head.
//
//===----------------------------------------------------------------------===//

#include "GraphBuilder.h"

#include <cmath>
#include <string>

using namespace mlir;
using namespace slapo::graph;

namespace slapo::import {

/// `graph.rope` with the config's rope_theta and rope_scaling.
static Value rope(GraphBuilder &g, Value heads) {
  const RopeScaling &scaling = g.config().ropeScaling;
  OpBuilder &b = g.builder();
  bool scaled = scaling.type != RopeScalingType::Default;
  bool llama3 = scaling.type == RopeScalingType::Llama3;
  auto number = [&](bool given, double value) {
    return given ? b.getF64FloatAttr(value) : FloatAttr();
  };
  return RopeOp::create(
      b, g.loc(), heads, b.getF64FloatAttr(g.config().ropeTheta),
      /*inverse=*/UnitAttr(),
      scaled ? b.getStringAttr(ropeScalingName(scaling.type)) : StringAttr(),
      number(scaled, scaling.factor), number(llama3, scaling.lowFreqFactor),
      number(llama3, scaling.highFreqFactor),
      llama3 ? b.getI64IntegerAttr(scaling.originalMaxPositions)
             : IntegerAttr());
}

static Value llamaAttention(GraphBuilder &g, Value x) {
  const ModelConfig &c = g.config();
  int64_t d = c.hiddenSize;
  int64_t qWidth = c.numHeads * c.headDim;
  int64_t kvWidth = c.numKeyValueHeads * c.headDim;
  bool bias = c.attentionBias;
  return g.module("self_attn", x, [&](ValueRange args) -> Value {
    Value q = g.linear("q_proj", args[0], d, qWidth, bias);
    Value k = g.linear("k_proj", args[0], d, kvWidth, bias);
    Value v = g.linear("v_proj", args[0], d, kvWidth, bias);
    Value qHeads = rope(g, g.splitHeads(q, c.numHeads));
    Value kHeads = rope(g, g.splitHeads(k, c.numKeyValueHeads));
    Value attended =
        g.attention(qHeads, kHeads, g.splitHeads(v, c.numKeyValueHeads),
                    1.0 / std::sqrt(double(c.headDim)));
    return g.linear("o_proj", g.mergeHeads(attended), qWidth, d, bias);
  });
}

static Value llamaMlp(GraphBuilder &g, Value x) {
  const ModelConfig &c = g.config();
  int64_t d = c.hiddenSize, inner = c.intermediateSize;
  return g.module("mlp", x, [&](ValueRange args) -> Value {
    Value gate = g.linear("gate_proj", args[0], d, inner, c.mlpBias);
    Value up = g.linear("up_proj", args[0], d, inner, c.mlpBias);
    return g.linear("down_proj", g.mul(g.activation(gate), up), inner, d,
                    c.mlpBias);
  });
}

static Value llamaLayer(GraphBuilder &g, Value residual) {
  Value h = llamaAttention(g, g.rmsNorm("input_layernorm", residual));
  residual = g.add(residual, h);
  h = llamaMlp(g, g.rmsNorm("post_attention_layernorm", residual));
  return g.add(residual, h);
}

OwningOpRef<mlir::ModuleOp> buildLlama(GraphBuilder &g) {
  const ModelConfig &c = g.config();
  return g.model([&](ValueRange inputs) -> Value {
    Value hidden = g.module("model", inputs[0], [&](ValueRange args) -> Value {
      Value h = g.embedding("embed_tokens", args[0], c.vocabSize, c.hiddenSize);
      h = g.layers("layers", h,
                   [&](Value x, int64_t) { return llamaLayer(g, x); });
      return g.rmsNorm("norm", h);
    });
    return g.lmHeadLoss(hidden, inputs[1],
                        c.tieWordEmbeddings ? "model.embed_tokens.weight" : "");
  });
}

} // namespace slapo::import
