//===- AttentionSparsity.cpp - the masks of a block-sparse attention ------===//
//
// graph.tile_mean (the pooled positions an attention predictor scores) and
// graph.attention_block_mask (the exact live (query tile, key tile) pairs
// of a causal attention: the oracle, and a predictor's labels).
//
//===----------------------------------------------------------------------===//

#include "CPUKernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace slapo::rt::cpu {

template <class T> void tileMean(KernelContext &c) {
  const View &x = c.ins[0];
  const T *in = as<T>(x);
  T *out = as<T>(c.outs[0]);
  int64_t batch = x.dim(0), seq = x.dim(1), width = x.dim(2);
  int64_t block = c.call->intAttr("block", 1), tiles = c.outs[0].dim(1);
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < tiles; ++i) {
      int64_t t0 = i * block, t1 = std::min(seq, t0 + block);
      std::vector<float> sum(static_cast<size_t>(width), 0.0f);
      for (int64_t t = t0; t < t1; ++t) {
        const T *row = in + (b * seq + t) * width;
        for (int64_t d = 0; d < width; ++d)
          sum[d] += float(row[d]);
      }
      float inverse = 1.0f / float(t1 - t0);
      T *dst = out + (b * tiles + i) * width;
      for (int64_t d = 0; d < width; ++d)
        dst[d] = T(sum[d] * inverse);
    }
}

/// For each (batch, head, query tile): every query's scores over its causal
/// keys, their softmax normaliser, and each key tile's largest probability
/// against the threshold. The scores in double: the pair's liveness should
/// not depend on rounding.
template <class T> void attentionBlockMask(KernelContext &c) {
  const View &qv = c.ins[0], &kv = c.ins[1];
  const T *q = as<T>(qv), *k = as<T>(kv);
  T *mask = as<T>(c.outs[0]);
  int64_t batch = qv.dim(0), heads = qv.dim(1), seq = qv.dim(2),
          width = qv.dim(3), kvHeads = kv.dim(1);
  int64_t block = c.call->intAttr("block", 1), tiles = c.outs[0].dim(2);
  double scale = c.call->floatAttr("scale", 1.0),
         threshold = c.call->floatAttr("threshold", 0.0);
  int64_t group = heads / kvHeads;
#pragma omp parallel for collapse(3)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < tiles; ++i) {
        const T *keys = k + (b * kvHeads + h / group) * seq * width;
        T *row = mask + ((b * heads + h) * tiles + i) * tiles;
        std::vector<bool> live(static_cast<size_t>(tiles), false);
        std::vector<double> scores(static_cast<size_t>(seq));
        for (int64_t t = i * block, t1 = std::min(seq, t + block); t < t1;
             ++t) {
          const T *query = q + ((b * heads + h) * seq + t) * width;
          double top = -INFINITY;
          for (int64_t s = 0; s <= t; ++s) {
            double dot = 0.0;
            for (int64_t d = 0; d < width; ++d)
              dot +=
                  double(float(query[d])) * double(float(keys[s * width + d]));
            scores[s] = dot * scale;
            top = std::max(top, scores[s]);
          }
          double total = 0.0;
          for (int64_t s = 0; s <= t; ++s)
            total += std::exp(scores[s] - top);
          // Threshold 0 is every causal pair, even a probability that
          // underflows.
          for (int64_t s = 0; s <= t; ++s)
            if (threshold <= 0.0 ||
                std::exp(scores[s] - top) / total > threshold)
              live[s / block] = true;
        }
        for (int64_t j = 0; j < tiles; ++j) {
          bool kept = j <= i && (j == 0 || j == i || live[j]);
          row[j] = T(kept ? 1.0f : 0.0f);
        }
      }
}

SLAPO_CPU_KERNEL_TYPES(tileMean);
SLAPO_CPU_KERNEL_TYPES(attentionBlockMask);

} // namespace slapo::rt::cpu
