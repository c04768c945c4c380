//===- Dense.cpp - GEMM-based kernels and embeddings ----------------------===//

#include "CPUKernels.h"

#include <cblas.h>
#include <cstring>

namespace slapo::rt::cpu {

/// A vocab-parallel embedding holds rows [first, first + rows) of the
/// table on this rank; ids outside that range give zeros (the sync after it
/// sums the ranks' rows).
static int64_t firstRow(const KernelContext &c, int64_t rows) {
  return c.call->has("vocab_parallel") ? c.tp->rank() * rows : 0;
}

void embedding(KernelContext &c) {
  const int64_t *ids = c.ins[0].i64();
  const float *table = c.ins[1].f32();
  float *out = c.outs[0].f32();
  int64_t n = c.ins[0].numel(), rows = c.ins[1].dim(0), dim = c.ins[1].dim(1);
  int64_t first = firstRow(c, rows);
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    int64_t row = ids[i] - first;
    if (row >= 0 && row < rows)
      std::memcpy(out + i * dim, table + row * dim, dim * sizeof(float));
    else
      std::memset(out + i * dim, 0, dim * sizeof(float));
  }
}

void embeddingGrad(KernelContext &c) {
  const int64_t *ids = c.ins[0].i64();
  const float *grad = c.ins[1].f32();
  float *out = c.outs[0].f32();
  int64_t n = c.ins[0].numel(), rows = c.outs[0].dim(0), dim = c.outs[0].dim(1);
  int64_t first = firstRow(c, rows);
  std::memset(out, 0, c.outs[0].numel() * sizeof(float));
  // Rows may repeat: parallelise over the feature axis, not the tokens.
#pragma omp parallel for
  for (int64_t d0 = 0; d0 < dim; d0 += 16)
    for (int64_t i = 0; i < n; ++i) {
      int64_t local = ids[i] - first;
      if (local < 0 || local >= rows)
        continue;
      float *row = out + local * dim;
      const float *g = grad + i * dim;
      for (int64_t d = d0; d < std::min(dim, d0 + 16); ++d)
        row[d] += g[d];
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

void linear(KernelContext &c) {
  const View &x = c.ins[0], &w = c.ins[1];
  float *out = c.outs[0].f32();
  bool inOut = c.call->has("in_out");
  int64_t m = x.rows(), k = x.dim(-1);
  int64_t n = inOut ? w.dim(1) : w.dim(0);
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

void linearGradWeight(KernelContext &c) {
  const View &x = c.ins[0], &dy = c.ins[1];
  int64_t m = x.rows(), k = x.dim(-1), n = dy.dim(-1);
  if (c.call->has("in_out")) // dW[k, n] = x^T dy
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, 1.0f, x.f32(),
                k, dy.f32(), n, 0.0f, c.outs[0].f32(), n);
  else // dW[n, k] = dy^T x
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, m, 1.0f,
                dy.f32(), n, x.f32(), k, 0.0f, c.outs[0].f32(), k);
}

void matmul(KernelContext &c) {
  const View &a = c.ins[0], &b = c.ins[1];
  bool transposeB = c.call->has("transpose_b");
  int64_t m = a.dim(-2), k = a.dim(-1);
  int64_t n = transposeB ? b.dim(-2) : b.dim(-1);
  int64_t batch = a.numel() / (m * k);
  for (int64_t i = 0; i < batch; ++i)
    cblas_sgemm(CblasRowMajor, CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                a.f32() + i * m * k, k, b.f32() + i * k * n, transposeB ? k : n,
                0.0f, c.outs[0].f32() + i * m * n, n);
}

} // namespace slapo::rt::cpu
