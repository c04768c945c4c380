//===- Predictor.cpp - the kernels that train a sparsity predictor --------===//
//
// graph.sigmoid_bce (a predictor's loss against the per-row liveness of
// its MLP's blocks), its gradient, and graph.mask_agreement (the recall
// and density of a predicted tile mask). Sums are taken in double over
// fixed chunks (tiles), then over the chunks in order, so results do not
// depend on the thread count.
//
//===----------------------------------------------------------------------===//

#include "CPUKernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace slapo::rt::cpu {

namespace {

constexpr int64_t kChunk = 4096; // elements summed by one task

/// -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))) without overflow.
inline double bce(float x, float y) {
  return std::max(x, 0.0f) - double(x) * y +
         std::log1p(std::exp(-std::fabs(double(x))));
}

/// With `causal`, the elements of a tensor whose last two axes are
/// (query tile, key tile), `tiles` each, that count: key tile <= query
/// tile. Without, every element.
struct CausalPairs {
  bool causal;
  int64_t tiles;
  CausalPairs(KernelContext &c, const View &v)
      : causal(c.call->has("causal")), tiles(causal ? v.dim(-1) : 1) {}
  int64_t keyTile(int64_t i) const { return i % tiles; }
  int64_t queryTile(int64_t i) const { return i / tiles % tiles; }
  bool counts(int64_t i) const { return !causal || keyTile(i) <= queryTile(i); }
  /// The number of elements of `n` that count.
  int64_t counted(int64_t n) const {
    return causal ? n / (tiles * tiles) * (tiles * (tiles + 1) / 2) : n;
  }
};

} // namespace

template <class T> void sigmoidBce(KernelContext &c) {
  const T *x = as<T>(c.ins[0]), *y = as<T>(c.ins[1]);
  int64_t n = c.ins[0].numel();
  CausalPairs pairs(c, c.ins[0]);
  int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for
  for (int64_t k = 0; k < chunks; ++k) {
    double sum = 0.0;
    for (int64_t i = k * kChunk, e = std::min(n, i + kChunk); i < e; ++i)
      if (pairs.counts(i))
        sum += bce(float(x[i]), float(y[i]));
    partial[k] = sum;
  }
  double total = 0.0;
  for (double p : partial)
    total += p;
  double scale = c.call->floatAttr("scale", 1.0);
  int64_t counted = pairs.counted(n);
  c.outs[0].f32()[0] = counted ? float(scale * total / double(counted)) : 0.0f;
}

template <class T> void sigmoidBceGrad(KernelContext &c) {
  const T *x = as<T>(c.ins[0]), *y = as<T>(c.ins[1]);
  T *g = as<T>(c.outs[0]);
  int64_t n = c.ins[0].numel();
  CausalPairs pairs(c, c.ins[0]);
  int64_t counted = pairs.counted(n);
  float factor =
      counted ? float(c.call->floatAttr("scale", 1.0) / double(counted)) : 0.0f;
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    float sigmoid = 1.0f / (1.0f + std::exp(-float(x[i])));
    g[i] = pairs.counts(i) ? T((sigmoid - float(y[i])) * factor) : T(0.0f);
  }
}

namespace {

/// mask_agreement with `causal`: two attention masks of one shape, pair by
/// pair over the causal pairs; the first key tile and the diagonal are
/// computed always, so they count as predicted.
template <class T> void causalMaskAgreement(KernelContext &c) {
  const T *predicted = as<T>(c.ins[0]), *live = as<T>(c.ins[1]);
  CausalPairs pairs(c, c.ins[1]);
  int64_t n = c.ins[1].numel();
  int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> covered(chunks), alive(chunks), computed(chunks);
#pragma omp parallel for
  for (int64_t k = 0; k < chunks; ++k) {
    double cov = 0, liv = 0, comp = 0;
    for (int64_t i = k * kChunk, e = std::min(n, i + kChunk); i < e; ++i) {
      if (!pairs.counts(i))
        continue;
      int64_t key = pairs.keyTile(i);
      bool p =
          key == 0 || key == pairs.queryTile(i) || float(predicted[i]) != 0.0f;
      bool l = float(live[i]) != 0.0f;
      cov += l && p;
      liv += l;
      comp += p;
    }
    covered[k] = cov;
    alive[k] = liv;
    computed[k] = comp;
  }
  double sums[3] = {0, 0, 0};
  for (int64_t k = 0; k < chunks; ++k) {
    sums[0] += covered[k];
    sums[1] += alive[k];
    sums[2] += computed[k];
  }
  double scale = c.call->floatAttr("scale", 1.0);
  double counted = double(pairs.counted(n));
  float *out = c.outs[0].f32();
  // Per pair, the tiles some row of which is live are the live pairs.
  double fractions[4] = {sums[0], sums[1], sums[2], sums[1]};
  for (int i = 0; i < 4; ++i)
    out[i] = counted ? float(scale * fractions[i] / counted) : 0.0f;
}

} // namespace

template <class T> void maskAgreement(KernelContext &c) {
  if (c.call->has("causal"))
    return causalMaskAgreement<T>(c);
  const View &predictedView = c.ins[0], &liveView = c.ins[1];
  const T *predicted = as<T>(predictedView), *live = as<T>(liveView);
  int64_t rows = c.call->intAttr("rows", 1);
  int64_t n = liveView.dim(0), blocks = liveView.dim(1);
  int64_t tiles = predictedView.dim(0);
  // Per tile: live and covered pairs, live pairs, predicted blocks, blocks
  // some row of the tile needs.
  std::vector<double> covered(tiles), alive(tiles), predictedBlocks(tiles),
      shadowed(tiles);
#pragma omp parallel for
  for (int64_t t = 0; t < tiles; ++t) {
    int64_t r0 = t * rows, r1 = std::min(n, r0 + rows);
    double cov = 0, liv = 0, pred = 0, shadow = 0;
    for (int64_t j = 0; j < blocks; ++j) {
      bool p = float(predicted[t * blocks + j]) != 0.0f, any = false;
      for (int64_t r = r0; r < r1; ++r) {
        bool l = float(live[r * blocks + j]) != 0.0f;
        liv += l;
        cov += l && p;
        any = any || l;
      }
      pred += p;
      shadow += any;
    }
    covered[t] = cov;
    alive[t] = liv;
    predictedBlocks[t] = pred;
    shadowed[t] = shadow;
  }
  double sums[4] = {0, 0, 0, 0};
  for (int64_t t = 0; t < tiles; ++t) {
    sums[0] += covered[t];
    sums[1] += alive[t];
    sums[2] += predictedBlocks[t];
    sums[3] += shadowed[t];
  }
  double scale = c.call->floatAttr("scale", 1.0);
  double pairs = double(n) * double(blocks),
         tileBlocks = double(tiles) * double(blocks);
  float *out = c.outs[0].f32();
  out[0] = pairs ? float(scale * sums[0] / pairs) : 0.0f;
  out[1] = pairs ? float(scale * sums[1] / pairs) : 0.0f;
  out[2] = tileBlocks ? float(scale * sums[2] / tileBlocks) : 0.0f;
  out[3] = tileBlocks ? float(scale * sums[3] / tileBlocks) : 0.0f;
}

SLAPO_CPU_KERNEL_TYPES(sigmoidBce);
SLAPO_CPU_KERNEL_TYPES(sigmoidBceGrad);
SLAPO_CPU_KERNEL_TYPES(maskAgreement);

} // namespace slapo::rt::cpu
