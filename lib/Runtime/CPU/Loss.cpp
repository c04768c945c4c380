//===- Loss.cpp - mean cross-entropy and its gradient ---------------------===//
//
// With `vocab_parallel` each rank holds a [rows, V/tp] block of the logits
// (columns [rank * V/tp, (rank + 1) * V/tp)): the row maxima, the sums of
// exponentials and the target logits are reduced over the tensor-parallel
// group, so no rank ever holds the full logits. The kernels are templates on
// the logits' element type T (Element.h); the loss is always float.
//
//===----------------------------------------------------------------------===//

#include "../FastMath.h"
#include "CPUKernels.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

namespace slapo::rt::cpu {

namespace {

/// sum(exp(row - max)) (vectorised exp, float partial sums added in double).
/// LaneSum.h's loop, written out: through a lambda GCC vectorises it with
/// another summation order, and f32 results must stay as they were.
template <class T> double sumExp(const T *row, int64_t v, float max) {
  double total = 0.0;
  for (int64_t j0 = 0; j0 < v; j0 += 256) {
    float sum = 0.0f;
    int64_t j1 = std::min(v, j0 + 256);
#pragma omp simd reduction(+ : sum)
    for (int64_t j = j0; j < j1; ++j)
      sum += vexp(row[j] - max);
    total += sum;
  }
  return total;
}

template <class T> float rowMax(const T *row, int64_t v) {
  if (v == 0)
    return -INFINITY;
  float max = row[0];
  for (int64_t j = 1; j < v; ++j)
    max = std::max(max, float(row[j]));
  return max;
}

/// The columns of this rank's block that are real vocabulary, not padding.
int64_t realColumns(const KernelContext &c, int64_t v) {
  int64_t vocab = c.call->intAttr("vocab_parallel", 0);
  if (vocab <= 0)
    return v;
  return std::clamp<int64_t>(vocab - c.tp->rank() * v, 0, v);
}

int64_t countTargets(const int64_t *targets, int64_t n, int64_t ignore) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i)
    count += targets[i] != ignore;
  return count;
}

/// log(sum(exp(row))) of every row over the whole vocabulary, and where
/// `targetLogits` is given, each row's target logit (0 for ignored rows).
struct RowStats {
  std::vector<double> logSumExp;
  std::vector<float> targetLogit;
  int64_t first = 0;   // the block's first vocabulary column
  int64_t columns = 0; // its columns that are vocabulary, not padding
};

template <class T> RowStats rowStats(KernelContext &c, bool wantTargets) {
  const View &logits = c.ins[0];
  const int64_t *targets = c.ins[1].i64();
  int64_t ignore = c.call->intAttr("ignore_index", -100);
  int64_t rows = logits.rows(), v = logits.dim(-1);
  const T *x = as<T>(logits);
  RowStats stats;
  stats.logSumExp.resize(rows);
  if (wantTargets)
    stats.targetLogit.assign(rows, 0.0f);
  bool parallel = c.call->has("vocab_parallel") && c.tp->size() > 1;
  int64_t first = stats.first = parallel ? c.tp->rank() * v : 0;
  int64_t columns = stats.columns = parallel ? realColumns(c, v) : v;
  auto targetColumn = [&](int64_t i) {
    int64_t column = targets[i] - first;
    return targets[i] == ignore || column < 0 || column >= columns ? -1
                                                                   : column;
  };
  if (!parallel) {
#pragma omp parallel for
    for (int64_t i = 0; i < rows; ++i) {
      const T *row = x + i * v;
      float max = rowMax(row, v);
      stats.logSumExp[i] = max + std::log(sumExp(row, v, max));
      if (wantTargets && targetColumn(i) >= 0)
        stats.targetLogit[i] = row[targetColumn(i)];
    }
    return stats;
  }
  std::vector<float> max(rows), sum(rows);
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i)
    max[i] = rowMax(x + i * v, columns);
  c.tp->allReduce(max.data(), rows, ReduceOp::Max);
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    sum[i] = float(sumExp(x + i * v, columns, max[i]));
    if (wantTargets && targetColumn(i) >= 0)
      stats.targetLogit[i] = x[i * v + targetColumn(i)];
  }
  c.tp->allReduce(sum.data(), rows, ReduceOp::Sum);
  if (wantTargets)
    c.tp->allReduce(stats.targetLogit.data(), rows, ReduceOp::Sum);
  for (int64_t i = 0; i < rows; ++i)
    stats.logSumExp[i] = max[i] + std::log(double(sum[i]));
  return stats;
}

} // namespace

template <class T> void crossEntropy(KernelContext &c) {
  const int64_t *targets = c.ins[1].i64();
  int64_t ignore = c.call->intAttr("ignore_index", -100);
  int64_t rows = c.ins[0].rows();
  RowStats stats = rowStats<T>(c, /*wantTargets=*/true);
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i)
    if (targets[i] != ignore)
      total += stats.logSumExp[i] - stats.targetLogit[i];
  int64_t count = countTargets(targets, rows, ignore);
  c.outs[0].f32()[0] = count ? float(total / count) : 0.0f;
}

template <class T> void crossEntropyGrad(KernelContext &c) {
  const View &logits = c.ins[0];
  const int64_t *targets = c.ins[1].i64();
  int64_t ignore = c.call->intAttr("ignore_index", -100);
  int64_t rows = logits.rows(), v = logits.dim(-1);
  int64_t count = countTargets(targets, rows, ignore);
  float inv = count ? 1.0f / float(count) : 0.0f;
  RowStats stats = rowStats<T>(c, /*wantTargets=*/false);
  int64_t first = stats.first, columns = stats.columns;
  T *grad = as<T>(c.outs[0]);
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const T *row = as<T>(logits) + i * v;
    T *g = grad + i * v;
    if (targets[i] == ignore) {
      for (int64_t j = 0; j < v; ++j)
        g[j] = 0.0f;
      continue;
    }
    float lse = float(stats.logSumExp[i]);
#pragma omp simd
    for (int64_t j = 0; j < columns; ++j)
      g[j] = vexp(row[j] - lse) * inv;
    for (int64_t j = columns; j < v; ++j)
      g[j] = 0.0f;
    int64_t column = targets[i] - first;
    if (column >= 0 && column < columns) {
      if constexpr (std::is_same_v<T, float>)
        g[column] -= inv;
      else // from the unrounded probability, so that T rounds only once
        g[column] = vexp(row[column] - lse) * inv - inv;
    }
  }
}

SLAPO_CPU_KERNEL_TYPES(crossEntropy);
SLAPO_CPU_KERNEL_TYPES(crossEntropyGrad);

} // namespace slapo::rt::cpu
