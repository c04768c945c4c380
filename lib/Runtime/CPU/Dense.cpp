//===- Dense.cpp - GEMM-based kernels and embeddings ----------------------===//
//
// Templates on the element type (Element.h): f32 GEMMs are OpenBLAS sgemm,
// bf16 ones oneDNN with float32 accumulation (Bf16Gemm.cpp).
//
//===----------------------------------------------------------------------===//

#include "Bf16Gemm.h"
#include "CPUKernels.h"

#include <algorithm>
#include <cblas.h>
#include <cstring>
#include <type_traits>
#include <vector>

namespace slapo::rt::cpu {

/// A vocab-parallel embedding holds rows [first, first + rows) of the
/// table on this rank; ids outside that range give zeros (the sync after it
/// sums the ranks' rows).
static int64_t firstRow(const KernelContext &c, int64_t rows) {
  return c.call->has("vocab_parallel") ? c.tp->rank() * rows : 0;
}

template <class T> void embedding(KernelContext &c) {
  const int64_t *ids = c.ins[0].i64();
  const T *table = as<T>(c.ins[1]);
  T *out = as<T>(c.outs[0]);
  int64_t n = c.ins[0].numel(), rows = c.ins[1].dim(0), dim = c.ins[1].dim(1);
  int64_t first = firstRow(c, rows);
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    int64_t row = ids[i] - first;
    if (row >= 0 && row < rows)
      std::memcpy(out + i * dim, table + row * dim, dim * sizeof(T));
    else
      std::memset(out + i * dim, 0, dim * sizeof(T));
  }
}

/// Sums the gradient rows of tokens [.., i, ..] into the table rows their
/// ids name, over features [d0, d1): into `acc`, `width` floats per row.
template <class T>
static void sumRows(const int64_t *ids, int64_t n, int64_t first, int64_t rows,
                    const T *grad, int64_t dim, int64_t d0, int64_t d1,
                    float *acc, int64_t width) {
  for (int64_t i = 0; i < n; ++i) {
    int64_t local = ids[i] - first;
    if (local < 0 || local >= rows)
      continue;
    float *row = acc + local * width;
    const T *g = grad + i * dim;
    for (int64_t d = d0; d < d1; ++d)
      row[d - d0] += g[d];
  }
}

template <class T> void embeddingGrad(KernelContext &c) {
  const int64_t *ids = c.ins[0].i64();
  const T *grad = as<T>(c.ins[1]);
  T *out = as<T>(c.outs[0]);
  int64_t n = c.ins[0].numel(), rows = c.outs[0].dim(0), dim = c.outs[0].dim(1);
  int64_t first = firstRow(c, rows);
  constexpr int64_t kWidth = 16;
  if constexpr (std::is_same_v<T, float>) {
    std::memset(out, 0, c.outs[0].numel() * sizeof(float));
    // Rows may repeat: parallelise over the feature axis, not the tokens.
#pragma omp parallel for
    for (int64_t d0 = 0; d0 < dim; d0 += kWidth)
      sumRows(ids, n, first, rows, grad, dim, d0, std::min(dim, d0 + kWidth),
              out + d0, dim);
  } else {
    // bf16 rows: sum each block of features in float, then round once.
#pragma omp parallel
    {
      std::vector<float> acc;
#pragma omp for
      for (int64_t d0 = 0; d0 < dim; d0 += kWidth) {
        int64_t d1 = std::min(dim, d0 + kWidth), width = d1 - d0;
        acc.assign(size_t(rows * width), 0.0f);
        sumRows(ids, n, first, rows, grad, dim, d0, d1, acc.data(), width);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t d = d0; d < d1; ++d)
            out[r * dim + d] = acc[r * width + d - d0];
      }
    }
  }
}

void positionIds(KernelContext &c) {
  int64_t offset = c.call->intAttr("offset", 0);
  int64_t batch = c.outs[0].dim(0), seq = c.outs[0].dim(1);
  int64_t *out = c.outs[0].i64();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seq; ++t)
      out[b * seq + t] = offset + t;
}

template <class T> void linear(KernelContext &c) {
  const View &x = c.ins[0], &w = c.ins[1];
  bool inOut = c.call->has("in_out");
  int64_t m = x.rows(), k = x.dim(-1);
  int64_t n = inOut ? w.dim(1) : w.dim(0);
  if constexpr (std::is_same_v<T, bf16>) {
    GemmShape shape{1, m, n, k, false, !inOut, c.ins.size() == 3};
    gemmBf16(shape, as<bf16>(x), as<bf16>(w),
             shape.bias ? as<bf16>(c.ins[2]) : nullptr, as<bf16>(c.outs[0]));
    return;
  }
  float *out = c.outs[0].f32();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, inOut ? CblasNoTrans : CblasTrans, m,
              n, k, 1.0f, x.f32(), k, w.f32(), inOut ? n : k, 0.0f, out, n);
  if (c.ins.size() == 3) {
    const float *bias = c.ins[2].f32();
#pragma omp parallel for
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        out[i * n + j] += bias[j];
  }
}

template <class T> void linearGradWeight(KernelContext &c) {
  const View &x = c.ins[0], &dy = c.ins[1];
  int64_t m = x.rows(), k = x.dim(-1), n = dy.dim(-1);
  bool inOut = c.call->has("in_out");
  if constexpr (std::is_same_v<T, bf16>) {
    if (inOut) // dW[k, n] = x^T dy
      gemmBf16({1, k, n, m, true, false, false}, as<bf16>(x), as<bf16>(dy),
               nullptr, as<bf16>(c.outs[0]));
    else // dW[n, k] = dy^T x
      gemmBf16({1, n, k, m, true, false, false}, as<bf16>(dy), as<bf16>(x),
               nullptr, as<bf16>(c.outs[0]));
    return;
  }
  if (inOut) // dW[k, n] = x^T dy
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, 1.0f, x.f32(),
                k, dy.f32(), n, 0.0f, c.outs[0].f32(), n);
  else // dW[n, k] = dy^T x
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, m, 1.0f,
                dy.f32(), n, x.f32(), k, 0.0f, c.outs[0].f32(), k);
}

template <class T> void matmul(KernelContext &c) {
  const View &a = c.ins[0], &b = c.ins[1];
  bool transposeB = c.call->has("transpose_b");
  int64_t m = a.dim(-2), k = a.dim(-1);
  int64_t n = transposeB ? b.dim(-2) : b.dim(-1);
  int64_t batch = a.numel() / (m * k);
  if constexpr (std::is_same_v<T, bf16>) {
    gemmBf16({batch, m, n, k, false, transposeB, false}, as<bf16>(a),
             as<bf16>(b), nullptr, as<bf16>(c.outs[0]));
    return;
  }
  for (int64_t i = 0; i < batch; ++i)
    cblas_sgemm(CblasRowMajor, CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                a.f32() + i * m * k, k, b.f32() + i * k * n, transposeB ? k : n,
                0.0f, c.outs[0].f32() + i * m * n, n);
}

SLAPO_CPU_KERNEL_TYPES(embedding);
SLAPO_CPU_KERNEL_TYPES(embeddingGrad);
SLAPO_CPU_KERNEL_TYPES(linear);
SLAPO_CPU_KERNEL_TYPES(linearGradWeight);
SLAPO_CPU_KERNEL_TYPES(matmul);

} // namespace slapo::rt::cpu
