//===- OPT.cpp - OPTForCausalLM as a graph -------------------------------===//
//
// Mirrors transformers' OPTForCausalLM: learned positions with offset 2,
// pre- or post-LayerNorm (do_layer_norm_before), ReLU MLP, optional
// project_in/project_out when word_embed_proj_dim differs from hidden_size.
//
//===----------------------------------------------------------------------===//

#include "GraphBuilder.h"

#include <cmath>
#include <string>

using namespace mlir;
using namespace slapo::graph;

namespace slapo::import {

/// OPT's learned positional embedding reserves two rows before position 0.
static constexpr int64_t kOPTPositionOffset = 2;

static Value optAttention(GraphBuilder &g, Value x) {
  const ModelConfig &c = g.config();
  int64_t d = c.hiddenSize;
  return g.module("self_attn", x, [&](ValueRange args) -> Value {
    Value k = g.linear("k_proj", args[0], d, d, c.enableBias);
    Value v = g.linear("v_proj", args[0], d, d, c.enableBias);
    Value q = g.linear("q_proj", args[0], d, d, c.enableBias);
    Value attended = g.attention(
        g.splitHeads(q, c.numHeads), g.splitHeads(k, c.numHeads),
        g.splitHeads(v, c.numHeads), 1.0 / std::sqrt(double(c.headDim)));
    return g.linear("out_proj", g.mergeHeads(attended), d, d, c.enableBias);
  });
}

static Value optLayer(GraphBuilder &g, Value input) {
  const ModelConfig &c = g.config();
  bool affine = c.layerNormElementwiseAffine;
  // Self attention.
  Value residual = input;
  Value h = c.doLayerNormBefore
                ? g.layerNorm("self_attn_layer_norm", residual, affine)
                : residual;
  h = g.dropout(optAttention(g, h), c.residualDropout);
  h = g.add(residual, h);
  if (!c.doLayerNormBefore)
    h = g.layerNorm("self_attn_layer_norm", h, affine);
  // Feed forward.
  residual = h;
  if (c.doLayerNormBefore)
    h = g.layerNorm("final_layer_norm", h, affine);
  h = g.linear("fc1", h, c.hiddenSize, c.intermediateSize, c.enableBias);
  h = g.activation(h);
  h = g.linear("fc2", h, c.intermediateSize, c.hiddenSize, c.enableBias);
  h = g.add(residual, g.dropout(h, c.residualDropout));
  if (!c.doLayerNormBefore)
    h = g.layerNorm("final_layer_norm", h, affine);
  return h;
}

OwningOpRef<mlir::ModuleOp> buildOPT(GraphBuilder &g) {
  const ModelConfig &c = g.config();
  OpBuilder &b = g.builder();
  int64_t proj = c.wordEmbedProjDim;
  bool projected = proj != c.hiddenSize;
  return g.model([&](ValueRange inputs) -> Value {
    Value hidden =
        g.module("model", inputs[0], [&](ValueRange modelArgs) -> Value {
          return g.module(
              "decoder", modelArgs[0], [&](ValueRange args) -> Value {
                Value ids = args[0];
                Value tokens =
                    g.embedding("embed_tokens", ids, c.vocabSize, proj);
                if (projected)
                  tokens =
                      g.linear("project_in", tokens, proj, c.hiddenSize, false);
                Value positions =
                    PositionIdsOp::create(b, g.loc(), ids, kOPTPositionOffset);
                Value pos = g.embedding("embed_positions", positions,
                                        c.maxPositions + kOPTPositionOffset,
                                        c.hiddenSize);
                Value h = g.add(tokens, pos);
                h = g.layers("layers", h,
                             [&](Value x, int64_t) { return optLayer(g, x); });
                if (c.doLayerNormBefore && !c.removeFinalLayerNorm)
                  h = g.layerNorm("final_layer_norm", h,
                                  c.layerNormElementwiseAffine);
                if (projected)
                  h = g.linear("project_out", h, c.hiddenSize, proj, false);
                return h;
              });
        });
    return g.lmHeadLoss(
        hidden, inputs[1],
        c.tieWordEmbeddings ? "model.decoder.embed_tokens.weight" : "");
  });
}

} // namespace slapo::import
