//===- Loss.cpp - mean cross-entropy and its gradient ---------------------===//

#include "CPUKernels.h"
#include "FastMath.h"

#include <algorithm>
#include <cmath>

namespace slapo::rt::cpu {

namespace {

/// log(sum(exp(row))) computed stably (vectorised exp, float partial sums
/// added in double).
double logSumExp(const float *row, int64_t v) {
  float max = row[0];
  for (int64_t j = 1; j < v; ++j)
    max = std::max(max, row[j]);
  double total = 0.0;
  for (int64_t j0 = 0; j0 < v; j0 += 256) {
    float sum = 0.0f;
    int64_t j1 = std::min(v, j0 + 256);
#pragma omp simd reduction(+ : sum)
    for (int64_t j = j0; j < j1; ++j)
      sum += vexp(row[j] - max);
    total += sum;
  }
  return max + std::log(total);
}

int64_t countTargets(const int64_t *targets, int64_t n, int64_t ignore) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i)
    count += targets[i] != ignore;
  return count;
}

} // namespace

void crossEntropy(KernelContext &c) {
  const View &logits = c.ins[0];
  const int64_t *targets = c.ins[1].i64();
  int64_t ignore = c.call->intAttr("ignore_index", -100);
  int64_t rows = logits.rows(), v = logits.dim(-1);
  double total = 0.0;
#pragma omp parallel for reduction(+ : total)
  for (int64_t i = 0; i < rows; ++i) {
    if (targets[i] == ignore)
      continue;
    const float *row = logits.f32() + i * v;
    total += logSumExp(row, v) - row[targets[i]];
  }
  int64_t count = countTargets(targets, rows, ignore);
  c.outs[0].f32()[0] = count ? float(total / count) : 0.0f;
}

void crossEntropyGrad(KernelContext &c) {
  const View &logits = c.ins[0];
  const int64_t *targets = c.ins[1].i64();
  int64_t ignore = c.call->intAttr("ignore_index", -100);
  int64_t rows = logits.rows(), v = logits.dim(-1);
  int64_t count = countTargets(targets, rows, ignore);
  float inv = count ? 1.0f / float(count) : 0.0f;
  float *grad = c.outs[0].f32();
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const float *row = logits.f32() + i * v;
    float *g = grad + i * v;
    if (targets[i] == ignore) {
      for (int64_t j = 0; j < v; ++j)
        g[j] = 0.0f;
      continue;
    }
    float lse = float(logSumExp(row, v));
#pragma omp simd
    for (int64_t j = 0; j < v; ++j)
      g[j] = vexp(row[j] - lse) * inv;
    g[targets[i]] -= inv;
  }
}

} // namespace slapo::rt::cpu
