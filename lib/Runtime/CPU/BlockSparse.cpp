//===- BlockSparse.cpp - block masks and block-sparse linear layers -------===//
//
// The kernels of a sparsified ReLU MLP (graph.block_mask,
// graph.block_sparse_linear and its input gradient): row tiles of `rows`
// tokens run in parallel, each with single-threaded sgemm over the live
// feature blocks of its mask row only, so a dead block costs nothing but
// (where the result has it) its zeros. bf16 tiles are computed on float
// copies and rounded once.
//
//===----------------------------------------------------------------------===//

#include "CPUKernels.h"
#include "ParallelTiles.h"

#include <algorithm>
#include <cblas.h>
#include <cstring>
#include <type_traits>

namespace slapo::rt::cpu {

namespace {

/// The sizes every block-sparse kernel reads: `rows` tokens of `width`
/// features taken `tile` rows at a time, the mask [tiles, blocks].
struct TileGrid {
  int64_t rows, tile, tiles, blocks, block;
  TileGrid(const View &x, const View &mask, const KernelCall &call)
      : rows(x.rows()), tile(call.intAttr("rows", 1)), tiles(mask.dim(0)),
        blocks(mask.dim(1)), block(call.intAttr("block", 1)) {}
  int64_t first(int64_t i) const { return i * tile; }
  int64_t count(int64_t i) const { return std::min(tile, rows - i * tile); }
};

/// A matrix of T: element (r, c) at data[r * ld + c].
template <class T> struct Matrix {
  T *data;
  int64_t ld;
  T *at(int64_t r, int64_t c) const { return data + r * ld + c; }
};

/// [m, n] of `src` as a dense float block at `dst`.
template <class T>
const float *floats(Matrix<const T> src, int64_t m, int64_t n, float *dst) {
  if constexpr (std::is_same_v<T, float>) {
    (void)m, (void)n, (void)dst;
    return src.data;
  } else {
    for (int64_t r = 0; r < m; ++r)
      toFloat(src.at(r, 0), n, dst + r * n);
    return dst;
  }
}

/// c[m, n] (+)= a[m, k] b^T (b [n, k], `transB`) or a b (b [k, n]), in
/// float, with each operand given as float (ld) for T = float or converted
/// into `scratch` for bf16. `c` is float (ldc).
template <class T>
void tileGemm(int64_t m, int64_t n, int64_t k, Matrix<const T> a,
              Matrix<const T> b, bool transB, float beta, float *c, int64_t ldc,
              float *scratch) {
  bool copied = !std::is_same_v<T, float>;
  const float *af = floats(a, m, k, scratch);
  const float *bf = transB ? floats(b, n, k, scratch + m * k)
                           : floats(b, k, n, scratch + m * k);
  int64_t lda = copied ? k : a.ld, ldb = copied ? (transB ? k : n) : b.ld;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              m, n, k, 1.0f, af, lda, bf, ldb, beta, c, ldc);
}

/// Writes the float block `src` [m, n] (ld n) to `dst`.
template <class T>
void store(const float *src, int64_t m, int64_t n, Matrix<T> dst) {
  for (int64_t r = 0; r < m; ++r)
    fromFloat(src + r * n, n, dst.at(r, 0));
}

template <class T> void zero(Matrix<T> dst, int64_t m, int64_t n) {
  for (int64_t r = 0; r < m; ++r)
    std::fill(dst.at(r, 0), dst.at(r, 0) + n, T(0.0f));
}

bool live(const float *maskRow, int64_t j) { return maskRow[j] != 0.0f; }

/// The mask row of tile i as floats (`scratch` for bf16).
template <class T>
const float *maskRow(const T *mask, int64_t i, int64_t blocks, float *scratch) {
  return floats(Matrix<const T>{mask + i * blocks, blocks}, 1, blocks, scratch);
}

/// A tile task's float scratch: its result [tile, width], the copies of a
/// product's operands (at most [tile, features] and [block, features],
/// features = max(in, out)) and its mask row.
struct TileScratch {
  int64_t floats, resultAt, copiesAt, maskAt;
  TileScratch(const TileGrid &g, int64_t width, int64_t in, int64_t out) {
    int64_t features = std::max(in, out);
    resultAt = 0;
    copiesAt = g.tile * width;
    maskAt = copiesAt + (g.tile + g.block) * features;
    floats = maskAt + g.blocks;
  }
};

} // namespace

template <class T> void blockMask(KernelContext &c) {
  const View &scores = c.ins[0];
  const T *s = as<T>(scores);
  T *mask = as<T>(c.outs[0]);
  int64_t rows = scores.rows(), width = scores.dim(-1);
  int64_t tile = c.call->intAttr("rows", 1), cols = c.call->intAttr("cols", 1);
  float threshold = float(c.call->floatAttr("threshold", 0.0));
  int64_t tiles = c.outs[0].dim(0), blocks = c.outs[0].dim(1);
#pragma omp parallel for
  for (int64_t i = 0; i < tiles; ++i) {
    int64_t r1 = std::min(rows, (i + 1) * tile);
    for (int64_t j = 0; j < blocks; ++j) {
      bool above = false;
      for (int64_t r = i * tile; r < r1 && !above; ++r) {
        const T *row = s + r * width + j * cols;
        for (int64_t k = 0; k < cols; ++k)
          above = above || float(row[k]) > threshold;
      }
      mask[i * blocks + j] = T(above ? 1.0f : 0.0f);
    }
  }
}

template <class T> void blockSparseLinear(KernelContext &c) {
  const View &x = c.ins[0], &w = c.ins[1], &maskView = c.ins.back();
  bool hasBias = c.ins.size() == 4;
  bool sparseOut = c.call->attrs.at("sparse").s == "out";
  TileGrid g(x, maskView, *c.call);
  int64_t in = w.dim(1), out = w.dim(0), B = g.block;
  const T *xs = as<T>(x), *ws = as<T>(w), *ms = as<T>(maskView);
  const T *bias = hasBias ? as<T>(c.ins[2]) : nullptr;
  T *ys = as<T>(c.outs[0]);
  TileScratch layout(g, out, in, out);
  parallelTasks(g.tiles, layout.floats, [&](int64_t i, float *local) {
    int64_t r0 = g.first(i), m = g.count(i);
    float *acc = local + layout.resultAt; // [m, out], the tile's result
    float *copies = local + layout.copiesAt;
    const float *mrow = maskRow(ms, i, g.blocks, local + layout.maskAt);
    Matrix<const T> xt{xs + r0 * in, in};
    if (sparseOut) {
      // Live output block j: x[tile] W[block j]^T + b[block j]; dead: 0.
      std::fill(acc, acc + m * out, 0.0f);
      for (int64_t j = 0; j < g.blocks; ++j) {
        if (!live(mrow, j))
          continue;
        tileGemm<T>(m, B, in, xt, Matrix<const T>{ws + j * B * in, in}, true,
                    0.0f, acc + j * B, out, copies);
        if (bias)
          for (int64_t r = 0; r < m; ++r)
            for (int64_t k = 0; k < B; ++k)
              acc[r * out + j * B + k] += float(bias[j * B + k]);
      }
    } else {
      // b + the sum over live input blocks j of x[tile, block j] W[:, block
      // j]^T.
      for (int64_t r = 0; r < m; ++r)
        for (int64_t k = 0; k < out; ++k)
          acc[r * out + k] = bias ? float(bias[k]) : 0.0f;
      for (int64_t j = 0; j < g.blocks; ++j)
        if (live(mrow, j))
          tileGemm<T>(m, out, B, Matrix<const T>{xs + r0 * in + j * B, in},
                      Matrix<const T>{ws + j * B, in}, true, 1.0f, acc, out,
                      copies);
    }
    store(acc, m, out, Matrix<T>{ys + r0 * out, out});
  });
}

template <class T> void blockSparseLinearGrad(KernelContext &c) {
  const View &dy = c.ins[0], &w = c.ins[1], &maskView = c.ins[2];
  bool sparseOut = c.call->attrs.at("sparse").s == "out";
  TileGrid g(dy, maskView, *c.call);
  int64_t in = w.dim(1), out = w.dim(0), B = g.block;
  const T *dys = as<T>(dy), *ws = as<T>(w), *ms = as<T>(maskView);
  T *dxs = as<T>(c.outs[0]);
  TileScratch layout(g, in, in, out);
  parallelTasks(g.tiles, layout.floats, [&](int64_t i, float *local) {
    int64_t r0 = g.first(i), m = g.count(i);
    float *acc = local + layout.resultAt; // [m, in], the tile's gradient
    float *copies = local + layout.copiesAt;
    const float *mrow = maskRow(ms, i, g.blocks, local + layout.maskAt);
    std::fill(acc, acc + m * in, 0.0f);
    if (sparseOut) {
      // The sum over live output blocks j of dy[tile, block j] W[block j, :].
      for (int64_t j = 0; j < g.blocks; ++j)
        if (live(mrow, j))
          tileGemm<T>(m, in, B, Matrix<const T>{dys + r0 * out + j * B, out},
                      Matrix<const T>{ws + j * B * in, in}, false, 1.0f, acc,
                      in, copies);
    } else {
      // Live input block j: dy[tile] W[:, block j]; dead: 0.
      for (int64_t j = 0; j < g.blocks; ++j)
        if (live(mrow, j))
          tileGemm<T>(m, B, out, Matrix<const T>{dys + r0 * out, out},
                      Matrix<const T>{ws + j * B, in}, false, 0.0f, acc + j * B,
                      in, copies);
    }
    store(acc, m, in, Matrix<T>{dxs + r0 * in, in});
  });
}

SLAPO_CPU_KERNEL_TYPES(blockMask);
SLAPO_CPU_KERNEL_TYPES(blockSparseLinear);
SLAPO_CPU_KERNEL_TYPES(blockSparseLinearGrad);

} // namespace slapo::rt::cpu
