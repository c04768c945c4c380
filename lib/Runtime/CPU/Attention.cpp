//===- Attention.cpp - causal attention with GQA, and RoPE ----------------===//
//
// Per (batch, head): S = scale * Q K^T, causal mask, softmax rows, dropout,
// O = P V. The probabilities live in the workspace; the backward pass
// recomputes them (it never stores them across the step). Heads run in
// parallel, each with single-threaded GEMMs. Kernels are templates on the
// element type (see Element.h); a bf16 head is computed on float copies.
//
// Block-sparse attention (a fourth input, the mask [B, H, T / block,
// S / block]): query rows are taken `block` at a time and each row block
// computes only its live key tiles (the first and the diagonal one always):
// every GEMM runs over the key spans of those tiles, and a dead tile's
// probabilities are 0. Without a mask a row block's one span is all its
// visible keys, the same GEMMs as before masks existed.
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

RowBlock rowBlock(int64_t first, const Shapes &sh, bool causal,
                  int64_t rows = kRowBlock) {
  int64_t end = std::min(sh.t, first + rows);
  int64_t shift = sh.s - sh.t; // keys before the first query (none here)
  return {first, end, causal ? std::min(sh.s, end + shift) : sh.s};
}

/// Keys [start, start + size) of a row block.
struct Span {
  int64_t start, size;
};

/// A block-sparse attention's mask [B, H, T / block, S / block] (null
/// `live` without one).
template <class T> struct TileMask {
  const T *live = nullptr;
  int64_t block = kRowBlock, queryTiles = 0, keyTiles = 0;

  TileMask(const KernelContext &c, size_t input) {
    if (c.ins.size() <= input)
      return;
    live = as<T>(c.ins[input]);
    block = c.call->intAttr("block", kRowBlock);
    queryTiles = c.ins[input].dim(2);
    keyTiles = c.ins[input].dim(3);
  }

  /// The key spans row block `block` of head `bh` computes: its visible
  /// keys whole, or their live tiles (the first and the diagonal always),
  /// adjacent tiles merged.
  std::vector<Span> spans(int64_t bh, const RowBlock &rows) const {
    if (!live)
      return {{0, rows.keys}};
    std::vector<Span> spans;
    int64_t tile = rows.first / block;
    const T *flags = live + (bh * queryTiles + tile) * keyTiles;
    for (int64_t j = 0; j * block < rows.keys; ++j) {
      if (!(j == 0 || j == tile || float(flags[j]) != 0.0f))
        continue;
      int64_t start = j * block, size = std::min(block, rows.keys - start);
      if (!spans.empty() && spans.back().start + spans.back().size == start)
        spans.back().size += size;
      else
        spans.push_back({start, size});
    }
    return spans;
  }
};

/// P[first:end, 0:keys] = softmax(mask(scale * Q K^T)) of one head over
/// its key `spans` (0 elsewhere); `p` is the head's [t, s] matrix.
void blockProbabilities(const float *q, const float *k, float *p,
                        const Shapes &sh, const RowBlock &block, float scale,
                        bool causal, const std::vector<Span> &spans) {
  int64_t rows = block.end - block.first;
  float *pb = p + block.first * sh.s;
  bool whole = spans.size() == 1 && spans[0].size == block.keys;
  if (!whole)
    for (int64_t i = 0; i < rows; ++i)
      std::fill_n(pb + i * sh.s, block.keys, 0.0f);
  for (const Span &span : spans)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, span.size, sh.d,
                scale, q + block.first * sh.d, sh.d, k + span.start * sh.d,
                sh.d, 0.0f, pb + span.start, sh.s);
  int64_t shift = sh.s - sh.t;
  for (int64_t i = block.first; i < block.end; ++i) {
    float *row = p + i * sh.s;
    int64_t visible = causal ? std::min(sh.s, i + shift + 1) : sh.s;
    float max = -std::numeric_limits<float>::infinity();
    for (const Span &span : spans)
      for (int64_t j = span.start;
           j < std::min(visible, span.start + span.size); ++j)
        max = std::max(max, row[j]);
    float sum = 0.0f;
    for (const Span &span : spans) {
      int64_t end = std::min(visible, span.start + span.size);
#pragma omp simd reduction(+ : sum)
      for (int64_t j = span.start; j < end; ++j)
        sum += (row[j] = vexp(row[j] - max));
    }
    float inv = 1.0f / sum;
    for (const Span &span : spans) {
      int64_t end = std::min(visible, span.start + span.size);
      for (int64_t j = span.start; j < end; ++j)
        row[j] *= inv;
      for (int64_t j = std::max(visible, span.start);
           j < span.start + span.size; ++j)
        row[j] = 0.0f;
    }
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
  TileMask<T> mask(c, 3);
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
    for (int64_t first = 0; first < sh.t; first += mask.block) {
      RowBlock block = rowBlock(first, sh, causal, mask.block);
      std::vector<Span> spans = mask.spans(bh, block);
      blockProbabilities(qh, kh, p, sh, block, scale, causal, spans);
      if (rate > 0.0f)
        applyDropout(p, bh, sh, block, rate, c, stream);
      for (size_t n = 0; n < spans.size(); ++n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                    block.end - block.first, sh.dv, spans[n].size, 1.0f,
                    p + first * sh.s + spans[n].start, sh.s,
                    vh + spans[n].start * sh.dv, sh.dv, n ? 1.0f : 0.0f,
                    oh + first * sh.dv, sh.dv);
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
  TileMask<T> mask(c, 4);
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
      for (int64_t first = 0; first < sh.t; first += mask.block) {
        RowBlock block = rowBlock(first, sh, causal, mask.block);
        int64_t rows = block.end - first, keys = block.keys;
        float *pb = p + first * sh.s, *dpb = dp + first * sh.s;
        std::vector<Span> spans = mask.spans(bh, block);
        blockProbabilities(qh, kh, p, sh, block, scale, causal, spans);
        // dV += dropout(P)^T dO
        const float *pd = pb;
        if (rate > 0.0f) {
          for (int64_t i = 0; i < rows; ++i)
            std::memcpy(dpb + i * sh.s, pb + i * sh.s, keys * sizeof(float));
          applyDropout(dp, bh, sh, block, rate, c, stream);
          pd = dpb;
        }
        for (const Span &span : spans)
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, span.size, sh.dv,
                      rows, 1.0f, pd + span.start, sh.s, doh + first * sh.dv,
                      sh.dv, 1.0f, dvh + span.start * sh.dv, sh.dv);
        // dP = dropout'(dO V^T); dS = P * (dP - rowsum(dP * P))
        for (const Span &span : spans)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, span.size,
                      sh.dv, 1.0f, doh + first * sh.dv, sh.dv,
                      vh + span.start * sh.dv, sh.dv, 0.0f, dpb + span.start,
                      sh.s);
        if (rate > 0.0f)
          applyDropout(dp, bh, sh, block, rate, c, stream);
        for (int64_t i = 0; i < rows; ++i) {
          float *dpi = dpb + i * sh.s;
          const float *pi = pb + i * sh.s;
          double dot = 0.0;
          for (const Span &span : spans)
            for (int64_t j = span.start; j < span.start + span.size; ++j)
              dot += double(dpi[j]) * pi[j];
          float fdot = float(dot);
          for (const Span &span : spans) {
            int64_t end = span.start + span.size;
#pragma omp simd
            for (int64_t j = span.start; j < end; ++j)
              dpi[j] = pi[j] * (dpi[j] - fdot);
          }
        }
        // dQ = scale dS K;  dK += scale dS^T Q
        for (size_t n = 0; n < spans.size(); ++n)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, sh.d,
                      spans[n].size, scale, dpb + spans[n].start, sh.s,
                      kh + spans[n].start * sh.d, sh.d, n ? 1.0f : 0.0f,
                      dqh + first * sh.d, sh.d);
        for (const Span &span : spans)
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, span.size, sh.d,
                      rows, scale, dpb + span.start, sh.s, qh + first * sh.d,
                      sh.d, 1.0f, dkh + span.start * sh.d, sh.d);
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
