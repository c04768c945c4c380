//===- Attention.cpp - causal attention with GQA, and RoPE ----------------===//
//
// Per (batch, head): S = scale * Q K^T, causal mask, softmax rows, dropout,
// O = P V. The probabilities live in the workspace; the backward pass
// recomputes them (it never stores them across the step). Heads run in
// parallel, each with single-threaded GEMMs. Kernels are templates on the
// element type (see Element.h); a bf16 head is computed on float copies.
//
//===----------------------------------------------------------------------===//

#include "../FastMath.h"
#include "../Random.h"
#include "../RopeFrequencies.h"
#include "CPUKernels.h"
#include "DropoutNumbering.h"
#include "ParallelTiles.h"

#include <algorithm>
#include <cblas.h>
#include <cmath>
#include <cstring>
#include <limits>
#include <omp.h>
#include <type_traits>
#include <vector>

namespace slapo::rt::cpu {

namespace {

struct Shapes {
  int64_t batch, heads, kvHeads, t, s, d, dv;
  Shapes(const View &q, const View &k, const View &v)
      : batch(q.dim(0)), heads(q.dim(1)), kvHeads(k.dim(1)), t(q.dim(2)),
        s(k.dim(2)), d(q.dim(3)), dv(v.dim(3)) {}
  int64_t group() const { return heads / kvHeads; }
};

/// Queries are processed in blocks of rows; with a causal mask a block only
/// needs the keys up to its last row, so the masked half of Q K^T is never
/// computed.
constexpr int64_t kRowBlock = 64;

struct RowBlock {
  int64_t first, end, keys; // rows [first, end) see keys [0, keys)
};

RowBlock rowBlock(int64_t first, const Shapes &sh, bool causal) {
  int64_t end = std::min(sh.t, first + kRowBlock);
  int64_t shift = sh.s - sh.t; // keys before the first query (none here)
  return {first, end, causal ? std::min(sh.s, end + shift) : sh.s};
}

/// P[first:end, 0:keys] = softmax(mask(scale * Q K^T)) of one head; `p` is
/// the head's [t, s] matrix.
void blockProbabilities(const float *q, const float *k, float *p,
                        const Shapes &sh, const RowBlock &block, float scale,
                        bool causal) {
  int64_t rows = block.end - block.first;
  float *pb = p + block.first * sh.s;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, block.keys, sh.d,
              scale, q + block.first * sh.d, sh.d, k, sh.d, 0.0f, pb, sh.s);
  int64_t shift = sh.s - sh.t;
  for (int64_t i = block.first; i < block.end; ++i) {
    float *row = p + i * sh.s;
    int64_t visible = causal ? std::min(sh.s, i + shift + 1) : sh.s;
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < visible; ++j)
      max = std::max(max, row[j]);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < visible; ++j)
      sum += (row[j] = vexp(row[j] - max));
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < visible; ++j)
      row[j] *= inv;
    for (int64_t j = visible; j < block.keys; ++j)
      row[j] = 0.0f;
  }
}

/// Multiplies P[first:end, 0:keys] of head `head` by its dropout mask.
void applyDropout(float *p, int64_t head, const Shapes &sh,
                  const RowBlock &block, float rate, const KernelContext &c,
                  int64_t stream) {
  // The probabilities are [batch, heads, t, s]; with heads split over the
  // tensor-parallel group, dropout_shard_axis is 1.
  DropoutNumbering number(c, {sh.batch, sh.heads, sh.t, sh.s});
  int64_t base = head * sh.t * sh.s;
  for (int64_t i = block.first; i < block.end; ++i)
    for (int64_t j = 0; j < block.keys; ++j)
      p[i * sh.s + j] *= dropoutScale(c.seed, c.step, stream,
                                      number(base + i * sh.s + j), rate);
}

} // namespace

template <class T> void attention(KernelContext &c) {
  // bf16 heads run on float copies of q, k, v and the output; float heads
  // read and write the tensors themselves.
  constexpr bool widen = !std::is_same_v<T, float>;
  const View &q = c.ins[0], &k = c.ins[1], &v = c.ins[2];
  Shapes sh(q, k, v);
  float scale = float(c.call->floatAttr("scale", 1.0));
  bool causal = c.call->has("causal");
  float rate = c.training ? float(c.call->floatAttr("dropout", 0.0)) : 0.0f;
  int64_t stream = c.call->intAttr("rng_stream", 0);
  T *out = as<T>(c.outs[0]);
  int64_t qSize = sh.t * sh.d, kSize = sh.s * sh.d, vSize = sh.s * sh.dv;
  int64_t oSize = sh.t * sh.dv;
  int64_t scratch = widen ? qSize + kSize + vSize + oSize : 0;
  parallelTasks(sh.batch * sh.heads, scratch, [&](int64_t bh, float *local) {
    int64_t b = bh / sh.heads, h = bh % sh.heads;
    int64_t kv = b * sh.kvHeads + h / sh.group();
    const T *qSrc = as<T>(q) + bh * sh.t * sh.d;
    const T *kSrc = as<T>(k) + kv * sh.s * sh.d;
    const T *vSrc = as<T>(v) + kv * sh.s * sh.dv;
    T *outh = out + bh * sh.t * sh.dv;
    const float *qh, *kh, *vh;
    float *oh;
    if constexpr (widen) {
      float *qs = local, *ks = qs + qSize, *vs = ks + kSize;
      toFloat(qSrc, qSize, qs);
      toFloat(kSrc, kSize, ks);
      toFloat(vSrc, vSize, vs);
      qh = qs;
      kh = ks;
      vh = vs;
      oh = vs + vSize;
    } else {
      qh = qSrc;
      kh = kSrc;
      vh = vSrc;
      oh = outh;
    }
    float *p = c.workspace + bh * sh.t * sh.s;
    for (int64_t first = 0; first < sh.t; first += kRowBlock) {
      RowBlock block = rowBlock(first, sh, causal);
      blockProbabilities(qh, kh, p, sh, block, scale, causal);
      if (rate > 0.0f)
        applyDropout(p, bh, sh, block, rate, c, stream);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                  block.end - block.first, sh.dv, block.keys, 1.0f,
                  p + first * sh.s, sh.s, vh, sh.dv, 0.0f, oh + first * sh.dv,
                  sh.dv);
    }
    if constexpr (widen)
      fromFloat(oh, oSize, outh);
  });
}

template <class T> void attentionGrad(KernelContext &c) {
  // bf16 tasks run on float copies: of k and v, of each query head's q and
  // dout, and of dq, dk and dv, which are stored once they are complete.
  constexpr bool widen = !std::is_same_v<T, float>;
  const View &q = c.ins[0], &k = c.ins[1], &v = c.ins[2], &dout = c.ins[3];
  Shapes sh(q, k, v);
  float scale = float(c.call->floatAttr("scale", 1.0));
  bool causal = c.call->has("causal");
  float rate = c.training ? float(c.call->floatAttr("dropout", 0.0)) : 0.0f;
  int64_t stream = c.call->intAttr("rng_stream", 0);
  T *dq = as<T>(c.outs[0]), *dk = as<T>(c.outs[1]), *dv = as<T>(c.outs[2]);
  std::memset(dk, 0, c.outs[1].numel() * sizeof(T));
  std::memset(dv, 0, c.outs[2].numel() * sizeof(T));
  int64_t area = sh.t * sh.s;
  float *dpBase = c.workspace + sh.batch * sh.heads * area;
  // One task per key/value head: the query heads sharing it accumulate
  // into its dk and dv one after another.
  int64_t qSize = sh.t * sh.d, kSize = sh.s * sh.d, vSize = sh.s * sh.dv;
  int64_t oSize = sh.t * sh.dv;
  int64_t scratch = widen ? 2 * (kSize + vSize + qSize) + oSize : 0;
  parallelTasks(sh.batch * sh.kvHeads, scratch, [&](int64_t bkv, float *local) {
    int64_t b = bkv / sh.kvHeads, g = bkv % sh.kvHeads;
    const T *kSrc = as<T>(k) + bkv * sh.s * sh.d;
    const T *vSrc = as<T>(v) + bkv * sh.s * sh.dv;
    T *dkOut = dk + bkv * sh.s * sh.d, *dvOut = dv + bkv * sh.s * sh.dv;
    const float *kh, *vh;
    float *dkh, *dvh;
    float *qs = nullptr, *dos = nullptr, *dqs = nullptr; // bf16 query head
    if constexpr (widen) {
      float *ks = local, *vs = ks + kSize;
      dkh = vs + vSize;
      dvh = dkh + kSize;
      qs = dvh + vSize;
      dos = qs + qSize;
      dqs = dos + oSize;
      toFloat(kSrc, kSize, ks);
      toFloat(vSrc, vSize, vs);
      std::fill(dkh, dkh + kSize + vSize, 0.0f); // dk and dv
      kh = ks;
      vh = vs;
    } else {
      kh = kSrc;
      vh = vSrc;
      dkh = dkOut;
      dvh = dvOut;
    }
    for (int64_t h = g * sh.group(); h < (g + 1) * sh.group(); ++h) {
      int64_t bh = b * sh.heads + h;
      const T *qSrc = as<T>(q) + bh * sh.t * sh.d;
      const T *doSrc = as<T>(dout) + bh * sh.t * sh.dv;
      T *dqOut = dq + bh * sh.t * sh.d;
      const float *qh, *doh;
      float *dqh;
      if constexpr (widen) {
        toFloat(qSrc, qSize, qs);
        toFloat(doSrc, oSize, dos);
        qh = qs;
        doh = dos;
        dqh = dqs;
      } else {
        qh = qSrc;
        doh = doSrc;
        dqh = dqOut;
      }
      float *p = c.workspace + bh * area, *dp = dpBase + bh * area;
      for (int64_t first = 0; first < sh.t; first += kRowBlock) {
        RowBlock block = rowBlock(first, sh, causal);
        int64_t rows = block.end - first, keys = block.keys;
        float *pb = p + first * sh.s, *dpb = dp + first * sh.s;
        blockProbabilities(qh, kh, p, sh, block, scale, causal);
        // dV += dropout(P)^T dO
        const float *pd = pb;
        if (rate > 0.0f) {
          for (int64_t i = 0; i < rows; ++i)
            std::memcpy(dpb + i * sh.s, pb + i * sh.s, keys * sizeof(float));
          applyDropout(dp, bh, sh, block, rate, c, stream);
          pd = dpb;
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, keys, sh.dv, rows,
                    1.0f, pd, sh.s, doh + first * sh.dv, sh.dv, 1.0f, dvh,
                    sh.dv);
        // dP = dropout'(dO V^T); dS = P * (dP - rowsum(dP * P))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, sh.dv,
                    1.0f, doh + first * sh.dv, sh.dv, vh, sh.dv, 0.0f, dpb,
                    sh.s);
        if (rate > 0.0f)
          applyDropout(dp, bh, sh, block, rate, c, stream);
        for (int64_t i = 0; i < rows; ++i) {
          float *dpi = dpb + i * sh.s;
          const float *pi = pb + i * sh.s;
          double dot = 0.0;
          for (int64_t j = 0; j < keys; ++j)
            dot += double(dpi[j]) * pi[j];
          float fdot = float(dot);
#pragma omp simd
          for (int64_t j = 0; j < keys; ++j)
            dpi[j] = pi[j] * (dpi[j] - fdot);
        }
        // dQ = scale dS K;  dK += scale dS^T Q
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, sh.d, keys,
                    scale, dpb, sh.s, kh, sh.d, 0.0f, dqh + first * sh.d, sh.d);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, keys, sh.d, rows,
                    scale, dpb, sh.s, qh + first * sh.d, sh.d, 1.0f, dkh, sh.d);
      }
      if constexpr (widen)
        fromFloat(dqh, qSize, dqOut);
    }
    if constexpr (widen) {
      fromFloat(dkh, kSize, dkOut);
      fromFloat(dvh, vSize, dvOut);
    }
  });
}

template <class T> void rope(KernelContext &c) {
  const View &x = c.ins[0];
  int64_t heads = x.dim(0) * x.dim(1), t = x.dim(2), d = x.dim(3), half = d / 2;
  const KernelCall &call = *c.call;
  float sign = call.has("inverse") ? -1.0f : 1.0f;
  std::vector<float> invFreq = ropeInverseFrequencies(call, d);
  T *out = as<T>(c.outs[0]);
#pragma omp parallel for
  for (int64_t row = 0; row < heads * t; ++row) {
    float pos = float(row % t);
    const T *xi = as<T>(x) + row * d;
    T *yi = out + row * d;
    for (int64_t i = 0; i < half; ++i) {
      float angle = pos * invFreq[i];
      float cs = std::cos(angle), sn = sign * std::sin(angle);
      float a = xi[i], b = xi[i + half];
      yi[i] = a * cs - b * sn;
      yi[i + half] = b * cs + a * sn;
    }
  }
}

SLAPO_CPU_KERNEL_TYPES(attention);
SLAPO_CPU_KERNEL_TYPES(attentionGrad);
SLAPO_CPU_KERNEL_TYPES(rope);

} // namespace slapo::rt::cpu
