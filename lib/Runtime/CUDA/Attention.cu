//===- Attention.cu - flash attention with GQA, and RoPE ------------------===//
//
// The CUDA forms of CPU/Attention.cpp's kernels, with its semantics: q
// [B, H, T, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv], query head h reading
// key/value head h / (H / Hkv); scores scale * q.k in float32, keys past
// query i + (S - T) masked when causal, softmax rows, then dropout on the
// probabilities [B, H, T, S] (DropoutMask.cuh: the CPU's numbering), O = P V.
//
// FlashAttention-2's schedule in float32 SIMT arithmetic (no tensor cores:
// the CPU keeps P in float32 and rounds only the results): the T x S scores
// are never stored. The forward pass gives a block 64 query rows, walks the
// key/value tiles with a running row max and sum, and writes O once. The
// backward pass first recomputes, per query row, the log-sum-exp L and
// D = dO . O (the forward pass stores neither) into the workspace; then one
// kernel owns 64 keys of a key/value head and walks every query tile of the
// heads sharing it, in a fixed order, accumulating dK and dV in registers;
// and one owns 64 query rows and walks the key tiles for dQ. Each recomputes
// P = exp(S - L). No atomics: every result has one owner and a fixed order
// of summation, so the results are deterministic. Head sizes above 128, or a
// device without the shared memory for the tiles, take a slower path that
// gives a block one query row (or one key).
//
// rope: x [B, H, T, D] at positions 0..T-1, rotating the halves of each
// head by the frequencies the CPU rotates by (RopeFrequencies.h, computed
// on the host). Private to lib/Runtime/CUDA.
//
//===----------------------------------------------------------------------===//

#include "../RopeFrequencies.h"
#include "CudaKernels.h"
#include "Device.cuh"
#include "DropoutMask.cuh"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

namespace slapo::rt::cuda {

namespace {

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

/// One attention call, passed by value to its kernels.
struct Attn {
  int64_t batch, heads, kvHeads, t, s, d, dv;
  int64_t group; // query heads per key/value head
  int64_t shift; // S - T: keys before the first query (causal: >= 0)
  float scale;
  bool causal;
  bool dropout; // a dropout probability above 0 (training is the device's)
  /// Block-sparse attention: the mask [B, H, T / 64, S / 64] of (query
  /// tile, key tile) pairs, of the activations' type; null for dense.
  const void *tiles = nullptr;
  int64_t queryTiles = 0, keyTiles = 0;
};

Attn attnOf(const KernelContext &c, size_t maskInput) {
  const View &q = c.ins[0], &k = c.ins[1], &v = c.ins[2];
  Attn a;
  a.batch = q.dim(0);
  a.heads = q.dim(1);
  a.kvHeads = k.dim(1);
  a.t = q.dim(2);
  a.s = k.dim(2);
  a.d = q.dim(3);
  a.dv = v.dim(3);
  a.group = a.heads / a.kvHeads;
  a.shift = a.s - a.t;
  a.scale = float(c.call->floatAttr("scale", 1.0));
  a.causal = c.call->has("causal");
  a.dropout = c.call->floatAttr("dropout", 0.0) > 0.0;
  if (c.ins.size() > maskInput) {
    const View &tiles = c.ins[maskInput];
    a.tiles = tiles.data;
    a.queryTiles = tiles.dim(2);
    a.keyTiles = tiles.dim(3);
  }
  return a;
}

/// The probabilities' dropout: [B, H, T, S], element (bh, i, j) numbered
/// (bh T + i) S + j on this rank. Training off leaves every multiplier 1.
DropoutMask maskOf(const KernelContext &c, const Attn &a) {
  return dropoutMask(c, float(c.call->floatAttr("dropout", 0.0)),
                     {a.batch, a.heads, a.t, a.s});
}

__device__ __forceinline__ int64_t smaller(int64_t x, int64_t y) {
  return x < y ? x : y;
}

__device__ __forceinline__ int roundUp4(int64_t n) {
  return int((n + 3) / 4 * 4);
}

/// Whether query `row` sees `key` (both may be past the end, in a tile).
__device__ __forceinline__ bool visible(const Attn &a, int64_t row,
                                        int64_t key) {
  return row < a.t && key < a.s && (!a.causal || key <= row + a.shift);
}

/// The keys [0, end) that some row of [0, rowEnd) sees.
__device__ __forceinline__ int64_t keysSeen(const Attn &a, int64_t rowEnd) {
  return a.causal ? smaller(a.s, rowEnd + a.shift) : a.s;
}

/// The flat index of key/value head of query head `bh` (= b H + h).
__device__ __forceinline__ int64_t kvHeadOf(const Attn &a, int64_t bh) {
  return bh / a.heads * a.kvHeads + bh % a.heads / a.group;
}

/// What a block of the query-side kernels works on: query head `bh`
/// (= b H + h) from query row `row`, and the keys and values of the
/// key/value head it reads.
template <class T> struct QueryBlock {
  int64_t bh, row;
  const T *kh, *vh;
};

template <class T>
__device__ __forceinline__ QueryBlock<T>
queryBlock(const Attn &a, int64_t bh, int64_t row, const T *k, const T *v) {
  int64_t kv = kvHeadOf(a, bh);
  return {bh, row, k + kv * a.s * a.d, v + kv * a.s * a.dv};
}

/// The dropout multiplier of P[bh, row, key] (1 without dropout).
__device__ __forceinline__ float keep(const Attn &a, const DropoutMask &mask,
                                      int64_t bh, int64_t row, int64_t key) {
  return a.dropout ? mask((bh * a.t + row) * a.s + key) : 1.0f;
}

//===----------------------------------------------------------------------===//
// Tiles
//===----------------------------------------------------------------------===//

// The tiled kernels' 256 threads form a 16 x 16 grid: thread (ty, tx) =
// (threadIdx.x / 16, threadIdx.x % 16) holds rows 4 ty .. 4 ty + 3 and
// columns tx + 16 j of a 64 x 64 tile of scores, and the same rows (columns
// tx + 16 c) of its 64-row accumulator. The 16 threads of a row group are
// half a warp, so a row's max and sum are shuffles among them.
constexpr int kTile = 64;
constexpr int kTileThreads = 256;
/// Tiles are row-major in shared memory, as float: the rows of a
/// kDim-wide tile kDim + 4 floats apart, those of a tile of scores
/// kPStride. Rows stay 16-byte aligned for float4 reads, and an odd number
/// of 16-byte words apart, so 8 threads reading a float4 each of 8
/// consecutive rows, or 16 reading consecutive floats of a row, hit
/// distinct banks.
constexpr int kPStride = kTile + 4;

/// How many keys of the tile at `first` query `row` sees: it sees keys
/// first + [0, n) (none for a row past the end).
__device__ __forceinline__ int tileKeys(const Attn &a, int64_t row,
                                        int64_t first) {
  int64_t end = row >= a.t ? 0
                : a.causal ? smaller(a.s, row + a.shift + 1)
                           : a.s;
  end -= first;
  return end < 0 ? 0 : end > kTile ? kTile : int(end);
}

/// Whether the tiled kernels compute the (query tile at r0, key tile at j0)
/// pair of head `bh`: always without a mask, and under one the first key
/// tile, the diagonal one and the live ones.
template <class T>
__device__ __forceinline__ bool tileLive(const Attn &a, int64_t bh, int64_t r0,
                                         int64_t j0) {
  if (!a.tiles)
    return true;
  int64_t it = r0 / kTile, jt = j0 / kTile;
  const T *live = static_cast<const T *>(a.tiles);
  return jt == 0 || jt == it ||
         toFloat(live[(bh * a.queryTiles + it) * a.keyTiles + jt]) != 0.0f;
}

/// The query head and first row of this block of a tiled query-side
/// kernel: grid B H ceil(T / 64), the last row tiles first (with a causal
/// mask they have the most keys).
template <class T>
__device__ __forceinline__ QueryBlock<T> queryTileOf(const Attn &a, const T *k,
                                                     const T *v) {
  int64_t heads = a.batch * a.heads;
  int64_t bh = int64_t(blockIdx.x) % heads;
  int64_t rowTiles = (a.t + kTile - 1) / kTile;
  int64_t r0 = (rowTiles - 1 - int64_t(blockIdx.x) / heads) * kTile;
  return queryBlock(a, bh, r0, k, v);
}

/// The head sizes of the tiled kernels: 16, 32, 64 or 128 columns.
constexpr int64_t kMaxTileDim = 128;

/// Dynamic shared memory of a tiled kernel with `tiles` kDim-wide tiles and
/// one tile of scores.
constexpr int tileBytes(int kDim, int tiles) {
  return int((tiles * kTile * (kDim + 4) + kTile * kPStride) * sizeof(float));
}

__device__ __forceinline__ float *sharedFloats() {
  extern __shared__ float4 shared4[]; // 16-byte aligned
  return reinterpret_cast<float *>(shared4);
}

/// Rows [first, first + 64) of a row-major [rows, cols] matrix into a
/// shared tile of kDim columns (stride kDim + 4), as float; rows at or past
/// `rows` and columns at or past `cols` are zero. Whole block.
template <int kDim, class T>
__device__ __forceinline__ void
loadTile(float *tile, const T *src, int64_t first, int64_t rows, int64_t cols) {
  constexpr int kStride = kDim + 4;
  int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
#pragma unroll 2
  for (int r = warp; r < kTile; r += kTileThreads / 32) {
    int64_t row = first + r;
    bool inside = row < rows;
    const T *line = src + (inside ? row : 0) * cols;
#pragma unroll
    for (int c = 0; c < (kDim + 31) / 32; ++c) {
      int e = lane + 32 * c;
      if (e < kDim)
        tile[r * kStride + e] = inside && e < cols ? toFloat(line[e]) : 0.0f;
    }
  }
}

/// acc[i][j] += a[4 ty + i] . b[tx + 16 j] over the first n columns (n a
/// multiple of 4, at most kDim; both tiles kDim wide).
template <int kDim>
__device__ __forceinline__ void tileDots(float (&acc)[4][4], const float *a,
                                         const float *b, int n, int ty,
                                         int tx) {
  constexpr int kStride = kDim + 4;
  const float *aRows = a + 4 * ty * kStride, *bRows = b + tx * kStride;
#pragma unroll 1
  for (int e = 0; e < n; e += 4) {
    float4 x[4], y[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      x[i] = *reinterpret_cast<const float4 *>(aRows + i * kStride + e);
#pragma unroll
    for (int j = 0; j < 4; ++j)
      y[j] = *reinterpret_cast<const float4 *>(bRows + 16 * j * kStride + e);
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float sum = acc[i][j];
        sum = fmaf(x[i].x, y[j].x, sum);
        sum = fmaf(x[i].y, y[j].y, sum);
        sum = fmaf(x[i].z, y[j].z, sum);
        sum = fmaf(x[i].w, y[j].w, sum);
        acc[i][j] = sum;
      }
  }
}

__device__ __forceinline__ float part(const float4 &v, int k) {
  return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w;
}

/// acc[i][c] += sum over r < n of p[4 ty + i][r] m[r][tx + 16 c]: p a tile
/// of scores (stride kPStride), m a kDim-wide tile; n a multiple of 4.
template <int kDim>
__device__ __forceinline__ void tileProducts(float (&acc)[4][kDim / 16],
                                             const float *p, const float *m,
                                             int n, int ty, int tx) {
  constexpr int kStride = kDim + 4, kCols = kDim / 16;
  const float *pRows = p + 4 * ty * kPStride;
#pragma unroll 1
  for (int r = 0; r < n; r += 4) {
    float4 w[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      w[i] = *reinterpret_cast<const float4 *>(pRows + i * kPStride + r);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      float col[kCols];
#pragma unroll
      for (int c = 0; c < kCols; ++c)
        col[c] = m[(r + k) * kStride + tx + 16 * c];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float weight = part(w[i], k);
#pragma unroll
        for (int c = 0; c < kCols; ++c)
          acc[i][c] = fmaf(weight, col[c], acc[i][c]);
      }
    }
  }
}

/// The max (sum) of `value` over the 16 threads of a row group.
__device__ __forceinline__ float rowMax(float value) {
  for (int offset = 8; offset > 0; offset /= 2)
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}
__device__ __forceinline__ float rowSum(float value) {
  for (int offset = 8; offset > 0; offset /= 2)
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

//===----------------------------------------------------------------------===//
// Tiled kernels (head sizes up to 128)
//===----------------------------------------------------------------------===//

/// O of 64 query rows of one head: grid B H ceil(T / 64), the last row
/// tiles first (with a causal mask they have the most keys). kStats
/// instead writes each row's log-sum-exp L (lse) and D = dO . O (delta),
/// [B H T] each, for the backward kernels. Shared memory: Q, then K or V
/// (one buffer, in turn), then the tile's probabilities.
template <class T, int kDim, bool kStats>
__global__ void __launch_bounds__(kTileThreads, 2)
    flashForwardKernel(Attn a, const T *q, const T *k, const T *v, T *out,
                       const T *dout, float *lse, float *delta,
                       DropoutMask mask) {
  constexpr int kStride = kDim + 4, kCols = kDim / 16;
  float *sQ = sharedFloats();
  float *sKV = sQ + kTile * kStride;
  float *sP = sKV + kTile * kStride;
  int tx = int(threadIdx.x) % 16, ty = int(threadIdx.x) / 16;

  auto [bh, r0, kh, vh] = queryTileOf(a, k, v);

  loadTile<kDim>(sQ, q + bh * a.t * a.d, r0, a.t, a.d);
  float o[4][kCols], m[4], l[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < kCols; ++c)
      o[i][c] = 0.0f;
  }
  int64_t keyEnd = keysSeen(a, smaller(a.t, r0 + kTile));
  int dots = roundUp4(a.d);
  for (int64_t j0 = 0; j0 < keyEnd; j0 += kTile) {
    if (!tileLive<T>(a, bh, r0, j0))
      continue;      // the whole block skips it
    __syncthreads(); // the last tile's V and P are read
    loadTile<kDim>(sKV, kh, j0, a.s, a.d);
    __syncthreads();
    float s[4][4] = {};
    tileDots<kDim>(s, sQ, sKV, dots, ty, tx);
    __syncthreads(); // K is read: V replaces it
    loadTile<kDim>(sKV, vh, j0, a.s, a.dv);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      int seen = tileKeys(a, r0 + 4 * ty + i, j0);
      float top = -INFINITY;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        s[i][j] = tx + 16 * j < seen ? a.scale * s[i][j] : -INFINITY;
        top = fmaxf(top, s[i][j]);
      }
      // Online softmax: rescale what the earlier tiles added by
      // exp(old max - new max). A row that has seen no key yet keeps max
      // -inf, and its terms are 0 (base 0 avoids -inf - -inf).
      float next = fmaxf(m[i], rowMax(top));
      float base = next == -INFINITY ? 0.0f : next;
      float rescale = expf(m[i] - base);
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float p = expf(s[i][j] - base);
        sum += p;
        sP[(4 * ty + i) * kPStride + tx + 16 * j] = p;
      }
      l[i] = l[i] * rescale + rowSum(sum);
      m[i] = next;
#pragma unroll
      for (int c = 0; c < kCols; ++c)
        o[i][c] *= rescale;
    }
    // Dropout multiplies P after the softmax's sum, as on the CPU; each
    // thread rereads its own probabilities.
    if (a.dropout)
#pragma unroll 1
      for (int i = 0; i < 4; ++i) {
        int64_t row = r0 + 4 * ty + i;
        int seen = tileKeys(a, row, j0);
#pragma unroll 1
        for (int j = 0; j < 4; ++j)
          if (tx + 16 * j < seen)
            sP[(4 * ty + i) * kPStride + tx + 16 * j] *=
                keep(a, mask, bh, row, j0 + tx + 16 * j);
      }
    __syncthreads(); // P and V are in place
    tileProducts<kDim>(o, sP, sKV, roundUp4(smaller(kTile, keyEnd - j0)), ty,
                       tx);
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    int64_t row = r0 + 4 * ty + i;
    bool inside = row < a.t;
    float inv = 1.0f / l[i]; // as the CPU scales P: p * (1 / sum)
    if constexpr (!kStats) {
      if (inside)
#pragma unroll
        for (int c = 0; c < kCols; ++c) {
          int64_t col = tx + 16 * c;
          if (col < a.dv)
            out[(bh * a.t + row) * a.dv + col] = fromFloat<T>(o[i][c] * inv);
        }
    } else {
      float dot = 0.0f;
      if (inside)
#pragma unroll
        for (int c = 0; c < kCols; ++c) {
          int64_t col = tx + 16 * c;
          if (col < a.dv)
            dot +=
                toFloat(dout[(bh * a.t + row) * a.dv + col]) * (o[i][c] * inv);
        }
      dot = rowSum(dot); // every thread of the row group takes part
      if (inside && tx == 0) {
        lse[bh * a.t + row] = m[i] + logf(l[i]);
        delta[bh * a.t + row] = dot;
      }
    }
  }
}

/// dQ of 64 query rows of one head (grid as the forward kernel's):
/// dS = P (dP - D) with P = exp(S - L) and dP = dropout'(dO V^T), then
/// dQ = scale dS K. Shared memory: Q, dO, K, V, then the tile's dS.
template <class T, int kDim>
__global__ void __launch_bounds__(kTileThreads, 1)
    flashGradQueryKernel(Attn a, const T *q, const T *k, const T *v,
                         const T *dout, const float *lse, const float *delta,
                         T *dq, DropoutMask mask) {
  constexpr int kStride = kDim + 4, kCols = kDim / 16;
  float *sQ = sharedFloats();
  float *sO = sQ + kTile * kStride; // dO
  float *sK = sO + kTile * kStride;
  float *sV = sK + kTile * kStride;
  float *sP = sV + kTile * kStride;
  int tx = int(threadIdx.x) % 16, ty = int(threadIdx.x) / 16;

  auto [bh, r0, kh, vh] = queryTileOf(a, k, v);

  loadTile<kDim>(sQ, q + bh * a.t * a.d, r0, a.t, a.d);
  loadTile<kDim>(sO, dout + bh * a.t * a.dv, r0, a.t, a.dv);
  float rowL[4], rowD[4], acc[4][kCols];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    int64_t row = r0 + 4 * ty + i;
    rowL[i] = row < a.t ? lse[bh * a.t + row] : 0.0f;
    rowD[i] = row < a.t ? delta[bh * a.t + row] : 0.0f;
#pragma unroll
    for (int c = 0; c < kCols; ++c)
      acc[i][c] = 0.0f;
  }
  int64_t keyEnd = keysSeen(a, smaller(a.t, r0 + kTile));
  int dots = roundUp4(a.d), dvDots = roundUp4(a.dv);
  for (int64_t j0 = 0; j0 < keyEnd; j0 += kTile) {
    if (!tileLive<T>(a, bh, r0, j0))
      continue;      // the whole block skips it
    __syncthreads(); // the last tile's K and dS are read
    loadTile<kDim>(sK, kh, j0, a.s, a.d);
    loadTile<kDim>(sV, vh, j0, a.s, a.dv);
    __syncthreads();
    float s[4][4] = {}, dp[4][4] = {};
    tileDots<kDim>(s, sQ, sK, dots, ty, tx);
    tileDots<kDim>(dp, sO, sV, dvDots, ty, tx);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      int64_t row = r0 + 4 * ty + i;
      int seen = tileKeys(a, row, j0);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float ds = 0.0f;
        if (tx + 16 * j < seen) {
          float p = expf(a.scale * s[i][j] - rowL[i]);
          ds = p *
               (dp[i][j] * keep(a, mask, bh, row, j0 + tx + 16 * j) - rowD[i]);
        }
        sP[(4 * ty + i) * kPStride + tx + 16 * j] = ds;
      }
    }
    __syncthreads(); // dS is in place
    tileProducts<kDim>(acc, sP, sK, roundUp4(smaller(kTile, keyEnd - j0)), ty,
                       tx);
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    int64_t row = r0 + 4 * ty + i;
    if (row < a.t)
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        int64_t col = tx + 16 * c;
        if (col < a.d)
          dq[(bh * a.t + row) * a.d + col] = fromFloat<T>(a.scale * acc[i][c]);
      }
  }
}

/// dK and dV of 64 keys of one key/value head: grid B Hkv ceil(S / 64).
/// The block walks the query heads sharing the key/value head, in order,
/// and their query tiles that see its keys: dV += dropout(P)^T dO and
/// dK += dS^T Q, scaled once at the end. Shared memory: K, V, Q, dO, then
/// the tile's dropout(P), and then its dS, in turn.
template <class T, int kDim>
__global__ void __launch_bounds__(kTileThreads, 1)
    flashGradKeyValueKernel(Attn a, const T *q, const T *k, const T *v,
                            const T *dout, const float *lse, const float *delta,
                            T *dk, T *dv, DropoutMask mask) {
  constexpr int kStride = kDim + 4, kCols = kDim / 16;
  float *sK = sharedFloats();
  float *sV = sK + kTile * kStride;
  float *sQ = sV + kTile * kStride;
  float *sO = sQ + kTile * kStride; // dO
  float *sP = sO + kTile * kStride;
  int tx = int(threadIdx.x) % 16, ty = int(threadIdx.x) / 16;

  // The first key tiles first: with a causal mask they have the most rows.
  int64_t kvs = a.batch * a.kvHeads;
  int64_t bkv = int64_t(blockIdx.x) % kvs;
  int64_t j0 = int64_t(blockIdx.x) / kvs * kTile;
  int64_t b = bkv / a.kvHeads, g = bkv % a.kvHeads;

  loadTile<kDim>(sK, k + bkv * a.s * a.d, j0, a.s, a.d);
  loadTile<kDim>(sV, v + bkv * a.s * a.dv, j0, a.s, a.dv);
  float accK[4][kCols], accV[4][kCols];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      accK[i][c] = 0.0f;
      accV[i][c] = 0.0f;
    }
  // With a causal mask, rows before j0 - shift see none of these keys.
  int64_t firstRow =
      a.causal ? (j0 - a.shift > 0 ? j0 - a.shift : 0) / kTile * kTile : 0;
  int dots = roundUp4(a.d), dvDots = roundUp4(a.dv);
  for (int64_t hh = 0; hh < a.group; ++hh) {
    int64_t bh = b * a.heads + g * a.group + hh;
    const T *qh = q + bh * a.t * a.d, *oh = dout + bh * a.t * a.dv;
    for (int64_t i0 = firstRow; i0 < a.t; i0 += kTile) {
      if (!tileLive<T>(a, bh, i0, j0))
        continue;      // the whole block skips it
      __syncthreads(); // the last tile's Q, dO and dS are read
      loadTile<kDim>(sQ, qh, i0, a.t, a.d);
      loadTile<kDim>(sO, oh, i0, a.t, a.dv);
      __syncthreads();
      // Transposed scores: rows are keys, columns queries.
      float s[4][4] = {}, dp[4][4] = {};
      tileDots<kDim>(s, sK, sQ, dots, ty, tx);
      tileDots<kDim>(dp, sV, sO, dvDots, ty, tx);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        int64_t row = i0 + tx + 16 * j;
        int seen = tileKeys(a, row, j0);
        float rowL = row < a.t ? lse[bh * a.t + row] : 0.0f;
        float rowD = row < a.t ? delta[bh * a.t + row] : 0.0f;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          float p = 0.0f, ds = 0.0f;
          if (4 * ty + i < seen) {
            p = expf(a.scale * s[i][j] - rowL);
            float kept = keep(a, mask, bh, row, j0 + 4 * ty + i);
            ds = p * (dp[i][j] * kept - rowD);
            p *= kept;
          }
          sP[(4 * ty + i) * kPStride + tx + 16 * j] = p;
          s[i][j] = ds;
        }
      }
      int rows = roundUp4(smaller(kTile, a.t - i0));
      __syncthreads(); // dropout(P) is in place
      tileProducts<kDim>(accV, sP, sO, rows, ty, tx);
      __syncthreads(); // dropout(P) is read: dS replaces it
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          sP[(4 * ty + i) * kPStride + tx + 16 * j] = s[i][j];
      __syncthreads();
      tileProducts<kDim>(accK, sP, sQ, rows, ty, tx);
    }
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    int64_t key = j0 + 4 * ty + i;
    if (key >= a.s)
      continue;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      int64_t col = tx + 16 * c;
      if (col < a.d)
        dk[(bkv * a.s + key) * a.d + col] = fromFloat<T>(a.scale * accK[i][c]);
      if (col < a.dv)
        dv[(bkv * a.s + key) * a.dv + col] = fromFloat<T>(accV[i][c]);
    }
  }
}

//===----------------------------------------------------------------------===//
// Row kernels (any head size)
//===----------------------------------------------------------------------===//

// The slower path: a block of 128 threads per query row (per key for dK
// and dV), its vectors and accumulators in shared memory, walking the keys
// (queries) 128 at a time, one a thread, with the same online softmax.
constexpr int kRowThreads = 128;

/// The query head and row of this block of a row kernel: grid B H T.
template <class T>
__device__ __forceinline__ QueryBlock<T> queryRowOf(const Attn &a, const T *k,
                                                    const T *v) {
  return queryBlock(a, int64_t(blockIdx.x) / a.t, int64_t(blockIdx.x) % a.t, k,
                    v);
}

/// The forward kernel (kStats: L and D) of one query row: grid B H T.
/// Shared memory: q [D], O [Dv], the chunk's probabilities, 32 floats of
/// reduction scratch.
template <class T, bool kStats>
__global__ void __launch_bounds__(kRowThreads)
    rowForwardKernel(Attn a, const T *q, const T *k, const T *v, T *out,
                     const T *dout, float *lse, float *delta,
                     DropoutMask mask) {
  float *sq = sharedFloats();
  float *so = sq + a.d;
  float *sp = so + a.dv;
  float *scratch = sp + kRowThreads;
  auto [bh, row, kh, vh] = queryRowOf(a, k, v);
  int64_t at = bh * a.t + row;
  for (int64_t e = threadIdx.x; e < a.d; e += kRowThreads)
    sq[e] = toFloat(q[at * a.d + e]);
  for (int64_t e = threadIdx.x; e < a.dv; e += kRowThreads)
    so[e] = 0.0f; // each thread's own columns, as below
  __syncthreads();
  int64_t keys = keysSeen(a, row + 1);
  float m = -INFINITY, l = 0.0f;
  for (int64_t j0 = 0; j0 < keys; j0 += kRowThreads) {
    int64_t key = j0 + threadIdx.x;
    float s = -INFINITY;
    if (key < keys) {
      const T *kj = kh + key * a.d;
      float dot = 0.0f;
      for (int64_t e = 0; e < a.d; ++e)
        dot = fmaf(sq[e], toFloat(kj[e]), dot);
      s = a.scale * dot;
    }
    float next = fmaxf(m, blockMax(s, scratch)); // finite: key j0 is seen
    float rescale = expf(m - next);
    float p = key < keys ? expf(s - next) : 0.0f;
    l = l * rescale + blockSum(p, scratch);
    m = next;
    if (p > 0.0f)
      p *= keep(a, mask, bh, row, key);
    sp[threadIdx.x] = p;
    __syncthreads();
    int64_t n = smaller(kRowThreads, keys - j0);
    for (int64_t e = threadIdx.x; e < a.dv; e += kRowThreads) {
      float acc = so[e] * rescale;
      for (int64_t r = 0; r < n; ++r)
        acc = fmaf(sp[r], toFloat(vh[(j0 + r) * a.dv + e]), acc);
      so[e] = acc;
    }
    __syncthreads(); // sp is read
  }
  float inv = 1.0f / l;
  if constexpr (!kStats) {
    for (int64_t e = threadIdx.x; e < a.dv; e += kRowThreads)
      out[at * a.dv + e] = fromFloat<T>(so[e] * inv);
  } else {
    float dot = 0.0f;
    for (int64_t e = threadIdx.x; e < a.dv; e += kRowThreads)
      dot += toFloat(dout[at * a.dv + e]) * (so[e] * inv);
    dot = blockSum(dot, scratch);
    if (threadIdx.x == 0) {
      lse[at] = m + logf(l);
      delta[at] = dot;
    }
  }
}

/// dQ of one query row: grid B H T. Shared memory: q [D], dO [Dv],
/// dQ [D], the chunk's dS.
template <class T>
__global__ void __launch_bounds__(kRowThreads)
    rowGradQueryKernel(Attn a, const T *q, const T *k, const T *v,
                       const T *dout, const float *lse, const float *delta,
                       T *dq, DropoutMask mask) {
  float *sq = sharedFloats();
  float *so = sq + a.d;
  float *sacc = so + a.dv;
  float *sds = sacc + a.d;
  auto [bh, row, kh, vh] = queryRowOf(a, k, v);
  int64_t at = bh * a.t + row;
  for (int64_t e = threadIdx.x; e < a.d; e += kRowThreads) {
    sq[e] = toFloat(q[at * a.d + e]);
    sacc[e] = 0.0f;
  }
  for (int64_t e = threadIdx.x; e < a.dv; e += kRowThreads)
    so[e] = toFloat(dout[at * a.dv + e]);
  __syncthreads();
  float rowL = lse[at], rowD = delta[at];
  int64_t keys = keysSeen(a, row + 1);
  for (int64_t j0 = 0; j0 < keys; j0 += kRowThreads) {
    int64_t key = j0 + threadIdx.x;
    float ds = 0.0f;
    if (key < keys) {
      const T *kj = kh + key * a.d, *vj = vh + key * a.dv;
      float s = 0.0f, dp = 0.0f;
      for (int64_t e = 0; e < a.d; ++e)
        s = fmaf(sq[e], toFloat(kj[e]), s);
      for (int64_t e = 0; e < a.dv; ++e)
        dp = fmaf(so[e], toFloat(vj[e]), dp);
      float p = expf(a.scale * s - rowL);
      ds = p * (dp * keep(a, mask, bh, row, key) - rowD);
    }
    sds[threadIdx.x] = ds;
    __syncthreads();
    int64_t n = smaller(kRowThreads, keys - j0);
    for (int64_t e = threadIdx.x; e < a.d; e += kRowThreads) {
      float acc = sacc[e];
      for (int64_t r = 0; r < n; ++r)
        acc = fmaf(sds[r], toFloat(kh[(j0 + r) * a.d + e]), acc);
      sacc[e] = acc;
    }
    __syncthreads(); // sds is read
  }
  for (int64_t e = threadIdx.x; e < a.d; e += kRowThreads)
    dq[at * a.d + e] = fromFloat<T>(a.scale * sacc[e]);
}

/// dK and dV of one key: grid B Hkv S, the query heads sharing its
/// key/value head in order. Shared memory: k [D], v [Dv], dK [D], dV [Dv],
/// the chunk's dropout(P) and dS.
template <class T>
__global__ void __launch_bounds__(kRowThreads)
    rowGradKeyValueKernel(Attn a, const T *q, const T *k, const T *v,
                          const T *dout, const float *lse, const float *delta,
                          T *dk, T *dv, DropoutMask mask) {
  float *sk = sharedFloats();
  float *sv = sk + a.d;
  float *sdk = sv + a.dv;
  float *sdv = sdk + a.d;
  float *sp = sdv + a.dv;
  float *sds = sp + kRowThreads;
  int64_t bkv = int64_t(blockIdx.x) / a.s, key = int64_t(blockIdx.x) % a.s;
  int64_t b = bkv / a.kvHeads, g = bkv % a.kvHeads;
  int64_t at = bkv * a.s + key;
  for (int64_t e = threadIdx.x; e < a.d; e += kRowThreads) {
    sk[e] = toFloat(k[at * a.d + e]);
    sdk[e] = 0.0f;
  }
  for (int64_t e = threadIdx.x; e < a.dv; e += kRowThreads) {
    sv[e] = toFloat(v[at * a.dv + e]);
    sdv[e] = 0.0f;
  }
  __syncthreads();
  int64_t firstRow = a.causal && key - a.shift > 0 ? key - a.shift : 0;
  for (int64_t hh = 0; hh < a.group; ++hh) {
    int64_t bh = b * a.heads + g * a.group + hh;
    const T *qh = q + bh * a.t * a.d, *oh = dout + bh * a.t * a.dv;
    for (int64_t i0 = firstRow; i0 < a.t; i0 += kRowThreads) {
      int64_t row = i0 + threadIdx.x;
      float p = 0.0f, ds = 0.0f;
      if (visible(a, row, key)) {
        const T *qi = qh + row * a.d, *oi = oh + row * a.dv;
        float s = 0.0f, dp = 0.0f;
        for (int64_t e = 0; e < a.d; ++e)
          s = fmaf(toFloat(qi[e]), sk[e], s);
        for (int64_t e = 0; e < a.dv; ++e)
          dp = fmaf(toFloat(oi[e]), sv[e], dp);
        p = expf(a.scale * s - lse[bh * a.t + row]);
        float kept = keep(a, mask, bh, row, key);
        ds = p * (dp * kept - delta[bh * a.t + row]);
        p *= kept;
      }
      sp[threadIdx.x] = p;
      sds[threadIdx.x] = ds;
      __syncthreads();
      int64_t n = smaller(kRowThreads, a.t - i0);
      for (int64_t e = threadIdx.x; e < a.dv; e += kRowThreads) {
        float acc = sdv[e];
        for (int64_t r = 0; r < n; ++r)
          acc = fmaf(sp[r], toFloat(oh[(i0 + r) * a.dv + e]), acc);
        sdv[e] = acc;
      }
      for (int64_t e = threadIdx.x; e < a.d; e += kRowThreads) {
        float acc = sdk[e];
        for (int64_t r = 0; r < n; ++r)
          acc = fmaf(sds[r], toFloat(qh[(i0 + r) * a.d + e]), acc);
        sdk[e] = acc;
      }
      __syncthreads(); // sp and sds are read
    }
  }
  for (int64_t e = threadIdx.x; e < a.d; e += kRowThreads)
    dk[at * a.d + e] = fromFloat<T>(a.scale * sdk[e]);
  for (int64_t e = threadIdx.x; e < a.dv; e += kRowThreads)
    dv[at * a.dv + e] = fromFloat<T>(sdv[e]);
}

//===----------------------------------------------------------------------===//
// RoPE
//===----------------------------------------------------------------------===//

/// Frequencies per launch: a launch's table travels in its parameters.
constexpr int kRopeChunk = 256;

struct RopeFrequencies {
  float value[kRopeChunk];
};

/// Rotates the pairs (first + i, first + i + D/2), i < count, of every row
/// of x [B H T, D] by (row % T) * frequency i.
template <class T>
__global__ void ropeKernel(const T *x, T *y, int64_t rows, int64_t t, int64_t d,
                           int64_t first, int count, float sign,
                           RopeFrequencies table) {
  __shared__ float frequency[kRopeChunk];
  for (int i = int(threadIdx.x); i < count; i += int(blockDim.x))
    frequency[i] = table.value[i];
  __syncthreads();
  int64_t half = d / 2;
  SLAPO_GRID_LOOP(n, rows * count) {
    int64_t row = n / count;
    int i = int(n - row * count);
    float angle = float(row % t) * frequency[i];
    float sn, cs;
    sincosf(angle, &sn, &cs);
    sn *= sign;
    int64_t at = row * d + first + i;
    float u = toFloat(x[at]), w = toFloat(x[at + half]);
    y[at] = fromFloat<T>(u * cs - w * sn);
    y[at + half] = fromFloat<T>(w * cs + u * sn);
  }
}

//===----------------------------------------------------------------------===//
// Launches
//===----------------------------------------------------------------------===//

[[noreturn]] void refuse(const char *kernel, const std::string &why) {
  std::fprintf(stderr, "slapo-run: the cuda %s kernel cannot run: %s\n", kernel,
               why.c_str());
  std::fflush(stderr);
  std::abort();
}

/// A grid of `blocks` blocks (a one-dimensional grid holds 2^31 - 1).
unsigned gridOf(int64_t blocks, const char *kernel) {
  if (blocks > int64_t(INT_MAX))
    refuse(kernel,
           "its grid of " + std::to_string(blocks) + " blocks is too large");
  return unsigned(blocks);
}

/// The most dynamic shared memory a block may have on the current device.
int sharedMemoryLimit() {
  int device = 0, bytes = 0;
  SLAPO_CUDA_CHECK(cudaGetDevice(&device));
  SLAPO_CUDA_CHECK(cudaDeviceGetAttribute(
      &bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return bytes;
}

/// Launches `kernel` on `blocks` blocks of `threads` with `bytes` of
/// dynamic shared memory. Above the default 48 KiB it first raises the
/// kernel's limit to `allowed` (>= bytes), once per device (the attribute
/// is the current device's): `raised` is the kernel's own set of devices.
template <class... P, class... A>
void launch(void (*kernel)(P...), std::atomic<uint64_t> &raised, int allowed,
            int64_t blocks, int threads, int bytes, const char *name,
            cudaStream_t stream, A... args) {
  if (bytes > 48 * 1024) {
    int device = 0;
    SLAPO_CUDA_CHECK(cudaGetDevice(&device));
    uint64_t bit = device < 64 ? uint64_t(1) << device : 0;
    if (bit == 0 || (raised.load(std::memory_order_acquire) & bit) == 0) {
      SLAPO_CUDA_CHECK(cudaFuncSetAttribute(
          kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, allowed));
      raised.fetch_or(bit, std::memory_order_acq_rel);
    }
  }
  kernel<<<gridOf(blocks, name), threads, size_t(bytes), stream>>>(args...);
  SLAPO_CUDA_LAUNCHED();
}

/// Calls f(std::integral_constant<int, kDim>) with the tiled kernels'
/// smallest head size kDim >= dim and returns its answer (whether it
/// launched); false when dim is above 128.
template <class F> bool withTileDim(int64_t dim, F &&f) {
  if (dim <= 16)
    return f(std::integral_constant<int, 16>());
  if (dim <= 32)
    return f(std::integral_constant<int, 32>());
  if (dim <= 64)
    return f(std::integral_constant<int, 64>());
  if (dim <= kMaxTileDim)
    return f(std::integral_constant<int, 128>());
  return false;
}

/// The bytes of `floats` floats of a row kernel's shared memory, which the
/// device must have.
int rowBytes(const Attn &a, int64_t floats, int limit, const char *name) {
  int64_t bytes = floats * int64_t(sizeof(float));
  if (bytes > limit)
    refuse(name, "head sizes " + std::to_string(a.d) + " and " +
                     std::to_string(a.dv) + " need " + std::to_string(bytes) +
                     " bytes of shared memory; the device has " +
                     std::to_string(limit));
  return int(bytes);
}

/// The row kernels (head sizes above 128, or too little shared memory for
/// the tiles) compute dense attention only.
void refuseMaskedRows(const Attn &a, const char *name) {
  if (a.tiles)
    refuse(name, "block-sparse attention runs on the tiled kernels, which "
                 "take head sizes up to 128 and their shared memory (head "
                 "sizes " +
                     std::to_string(a.d) + " and " + std::to_string(a.dv) +
                     ")");
}

/// Pointers and context of one attention call's launches.
template <class T> struct Operands {
  const T *q, *k, *v, *dout;
  float *lse, *delta;
  DropoutMask mask;
  cudaStream_t stream;
};

// Each launcher takes the tiled kernel when the head sizes allow it and
// the device has its shared memory, else the row kernel.

/// The forward kernel; kStats: the backward pass's L and D.
template <class T, bool kStats>
void launchForward(const Attn &a, const Operands<T> &x, T *out) {
  const char *name = kStats ? "attention_grad" : "attention";
  int limit = sharedMemoryLimit();
  int64_t rowTiles = (a.t + kTile - 1) / kTile;
  if (withTileDim(std::max(a.d, a.dv), [&](auto dim) {
        constexpr int kDim = decltype(dim)::value;
        constexpr int kBytes = tileBytes(kDim, 2);
        if (kBytes > limit)
          return false;
        static std::atomic<uint64_t> raised{0};
        launch(flashForwardKernel<T, kDim, kStats>, raised, kBytes,
               a.batch * a.heads * rowTiles, kTileThreads, kBytes, name,
               x.stream, a, x.q, x.k, x.v, out, x.dout, x.lse, x.delta, x.mask);
        return true;
      }))
    return;
  refuseMaskedRows(a, name);
  int bytes = rowBytes(a, a.d + a.dv + kRowThreads + 32, limit, name);
  static std::atomic<uint64_t> raised{0};
  launch(rowForwardKernel<T, kStats>, raised, limit, a.batch * a.heads * a.t,
         kRowThreads, bytes, name, x.stream, a, x.q, x.k, x.v, out, x.dout,
         x.lse, x.delta, x.mask);
}

template <class T>
void launchGradQuery(const Attn &a, const Operands<T> &x, T *dq) {
  const char *name = "attention_grad";
  int limit = sharedMemoryLimit();
  int64_t rowTiles = (a.t + kTile - 1) / kTile;
  if (withTileDim(std::max(a.d, a.dv), [&](auto dim) {
        constexpr int kDim = decltype(dim)::value;
        constexpr int kBytes = tileBytes(kDim, 4);
        if (kBytes > limit)
          return false;
        static std::atomic<uint64_t> raised{0};
        launch(flashGradQueryKernel<T, kDim>, raised, kBytes,
               a.batch * a.heads * rowTiles, kTileThreads, kBytes, name,
               x.stream, a, x.q, x.k, x.v, x.dout, x.lse, x.delta, dq, x.mask);
        return true;
      }))
    return;
  refuseMaskedRows(a, name);
  int bytes = rowBytes(a, 2 * a.d + a.dv + kRowThreads, limit, name);
  static std::atomic<uint64_t> raised{0};
  launch(rowGradQueryKernel<T>, raised, limit, a.batch * a.heads * a.t,
         kRowThreads, bytes, name, x.stream, a, x.q, x.k, x.v, x.dout, x.lse,
         x.delta, dq, x.mask);
}

template <class T>
void launchGradKeyValue(const Attn &a, const Operands<T> &x, T *dk, T *dv) {
  const char *name = "attention_grad";
  int limit = sharedMemoryLimit();
  int64_t keyTiles = (a.s + kTile - 1) / kTile;
  if (withTileDim(std::max(a.d, a.dv), [&](auto dim) {
        constexpr int kDim = decltype(dim)::value;
        constexpr int kBytes = tileBytes(kDim, 4);
        if (kBytes > limit)
          return false;
        static std::atomic<uint64_t> raised{0};
        launch(flashGradKeyValueKernel<T, kDim>, raised, kBytes,
               a.batch * a.kvHeads * keyTiles, kTileThreads, kBytes, name,
               x.stream, a, x.q, x.k, x.v, x.dout, x.lse, x.delta, dk, dv,
               x.mask);
        return true;
      }))
    return;
  refuseMaskedRows(a, name);
  int bytes = rowBytes(a, 2 * a.d + 2 * a.dv + 2 * kRowThreads, limit, name);
  static std::atomic<uint64_t> raised{0};
  launch(rowGradKeyValueKernel<T>, raised, limit, a.batch * a.kvHeads * a.s,
         kRowThreads, bytes, name, x.stream, a, x.q, x.k, x.v, x.dout, x.lse,
         x.delta, dk, dv, x.mask);
}

} // namespace

/// A mask's tiles are the kernels' 64-row tiles.
static void checkTileBlock(const KernelContext &c, const Attn &a,
                           const char *name) {
  int64_t block = c.call->intAttr("block", kTile);
  if (a.tiles && block != kTile)
    refuse(name, "block-sparse attention on cuda takes tiles of " +
                     std::to_string(kTile) +
                     " rows (the kernels' tile), "
                     "not " +
                     std::to_string(block));
}

template <class T> void attention(KernelContext &c) {
  Attn a = attnOf(c, 3);
  checkTileBlock(c, a, "attention");
  if (c.outs[0].numel() == 0 || a.s == 0)
    return; // the loader refuses empty axes
  Operands<T> x{as<T>(c.ins[0]), as<T>(c.ins[1]), as<T>(c.ins[2]), nullptr,
                nullptr,         nullptr,         maskOf(c, a),    streamOf(c)};
  launchForward<T, false>(a, x, as<T>(c.outs[0]));
}

template <class T> void attentionGrad(KernelContext &c) {
  Attn a = attnOf(c, 4);
  checkTileBlock(c, a, "attention_grad");
  if (c.ins[0].numel() == 0 || c.ins[1].numel() == 0)
    return; // the loader refuses empty axes
  // L and D of every query row, [B H T] each, in the workspace (the plan
  // gives the call 2 B H T S floats, for the CPU's probabilities).
  int64_t rows = a.batch * a.heads * a.t;
  if (c.workspaceBytes < uint64_t(2 * rows) * sizeof(float))
    refuse("attention_grad", "its workspace of " +
                                 std::to_string(c.workspaceBytes) +
                                 " bytes is below 2 B H T floats");
  Operands<T> x{as<T>(c.ins[0]), as<T>(c.ins[1]), as<T>(c.ins[2]),
                as<T>(c.ins[3]), c.workspace,     c.workspace + rows,
                maskOf(c, a),    streamOf(c)};
  launchForward<T, true>(a, x, nullptr);
  launchGradKeyValue<T>(a, x, as<T>(c.outs[1]), as<T>(c.outs[2]));
  launchGradQuery<T>(a, x, as<T>(c.outs[0]));
}

template <class T> void rope(KernelContext &c) {
  const View &x = c.ins[0];
  int64_t rows = x.dim(0) * x.dim(1) * x.dim(2), t = x.dim(2), d = x.dim(3);
  int64_t half = d / 2;
  if (rows == 0 || half == 0)
    return;
  const KernelCall &call = *c.call;
  float sign = call.has("inverse") ? -1.0f : 1.0f;
  std::vector<float> invFreq = ropeInverseFrequencies(call, d);
  // A launch per kRopeChunk frequencies (one for head sizes up to 512).
  for (int64_t first = 0; first < half; first += kRopeChunk) {
    int count = int(std::min<int64_t>(kRopeChunk, half - first));
    RopeFrequencies table{};
    std::copy(invFreq.begin() + first, invFreq.begin() + first + count,
              table.value);
    ropeKernel<T><<<blocksFor(rows * count), kThreads, 0, streamOf(c)>>>(
        as<T>(x), as<T>(c.outs[0]), rows, t, d, first, count, sign, table);
    SLAPO_CUDA_LAUNCHED();
  }
}

SLAPO_CUDA_KERNEL_TYPES(attention);
SLAPO_CUDA_KERNEL_TYPES(attentionGrad);
SLAPO_CUDA_KERNEL_TYPES(rope);

} // namespace slapo::rt::cuda
