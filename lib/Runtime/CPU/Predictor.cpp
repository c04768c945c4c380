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

} // namespace

template <class T> void sigmoidBce(KernelContext &c) {
  const T *x = as<T>(c.ins[0]), *y = as<T>(c.ins[1]);
  int64_t n = c.ins[0].numel();
  int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for
  for (int64_t k = 0; k < chunks; ++k) {
    double sum = 0.0;
    for (int64_t i = k * kChunk, e = std::min(n, i + kChunk); i < e; ++i)
      sum += bce(float(x[i]), float(y[i]));
    partial[k] = sum;
  }
  double total = 0.0;
  for (double p : partial)
    total += p;
  double scale = c.call->floatAttr("scale", 1.0);
  c.outs[0].f32()[0] = n ? float(scale * total / double(n)) : 0.0f;
}

template <class T> void sigmoidBceGrad(KernelContext &c) {
  const T *x = as<T>(c.ins[0]), *y = as<T>(c.ins[1]);
  T *g = as<T>(c.outs[0]);
  int64_t n = c.ins[0].numel();
  float factor = n ? float(c.call->floatAttr("scale", 1.0) / double(n)) : 0.0f;
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    float sigmoid = 1.0f / (1.0f + std::exp(-float(x[i])));
    g[i] = T((sigmoid - float(y[i])) * factor);
  }
}

template <class T> void maskAgreement(KernelContext &c) {
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
