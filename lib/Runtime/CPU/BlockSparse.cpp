//===- BlockSparse.cpp - block masks and block-sparse linear layers -------===//
//
// The kernels of a sparsified ReLU MLP (graph.block_mask,
// graph.block_sparse_linear and its input gradient). The tokens are split
// into the mask's row tiles, and a tile computes only its live feature
// blocks: a dead block costs nothing but (where the result has it) its
// zeros. The work runs as parallel tasks (ParallelTiles.h) with
// single-threaded sgemm, so a single tile (the whole sequence sharing one
// mask) still uses every thread:
//
//  - where the result has the sparse features (fc1's output, fc2's input
//    gradient), a task is a tile and a group of up to kGroupFeatures of its
//    live features; the group's weight rows or columns are gathered into
//    contiguous floats and multiplied with the whole tile in one sgemm;
//  - where the sparse features are summed over (fc2's output, fc1's input
//    gradient), a task is a tile and kColumnChunk of the result's columns,
//    summing over the tile's live blocks a group at a time (the live input
//    columns and weights gathered, sgemm accumulating).
//
// Each tile reads its live weights once. bf16 operands are converted to
// float as they are gathered and each result is rounded once.
//
//===----------------------------------------------------------------------===//

#include "CPUKernels.h"
#include "ParallelTiles.h"

#include <algorithm>
#include <cblas.h>
#include <type_traits>
#include <utility>
#include <vector>

namespace slapo::rt::cpu {

namespace {

/// Sparse features one product covers at most.
constexpr int64_t kGroupFeatures = 512;
/// Result columns of one task where the sparse features are summed over.
constexpr int64_t kColumnChunk = 512;

/// The sizes every block-sparse kernel reads: `rows` tokens taken `tile`
/// rows at a time, the mask [tiles, blocks] of `block` features each.
struct TileGrid {
  int64_t rows, tile, tiles, blocks, block, perGroup;
  /// The most rows a tile has (a `rows` attribute above the token count
  /// makes one tile of all of them): what scratch is sized by.
  int64_t tileRows;
  TileGrid(const View &x, const View &mask, const KernelCall &call)
      : rows(x.rows()), tile(call.intAttr("rows", 1)), tiles(mask.dim(0)),
        blocks(mask.dim(1)), block(call.intAttr("block", 1)),
        perGroup(std::max<int64_t>(1, kGroupFeatures / block)),
        tileRows(std::min(tile, rows)) {}
  int64_t first(int64_t i) const { return i * tile; }
  int64_t count(int64_t i) const { return std::min(tile, rows - i * tile); }
  int64_t groupFeatures() const { return perGroup * block; }
};

/// The live blocks of every tile, in order: tile i's are
/// blocks[start[i], start[i + 1]).
struct LiveBlocks {
  std::vector<int64_t> blocks, start;
  int64_t count(int64_t i) const { return start[i + 1] - start[i]; }
  const int64_t *of(int64_t i) const { return blocks.data() + start[i]; }
};

template <class T> LiveBlocks liveBlocks(const T *mask, const TileGrid &g) {
  LiveBlocks live;
  live.start.push_back(0);
  for (int64_t i = 0; i < g.tiles; ++i) {
    for (int64_t j = 0; j < g.blocks; ++j)
      if (float(mask[i * g.blocks + j]) != 0.0f)
        live.blocks.push_back(j);
    live.start.push_back(int64_t(live.blocks.size()));
  }
  return live;
}

/// A float matrix: element (r, c) at data[r * ld + c].
struct Floats {
  const float *data;
  int64_t ld;
};

/// src [m, n] (ld) as floats: itself for float, else converted into `dst`.
template <class T>
Floats asFloats(const T *src, int64_t m, int64_t n, int64_t ld, float *dst) {
  if constexpr (std::is_same_v<T, float>) {
    (void)m, (void)n, (void)dst;
    return {src, ld};
  } else {
    for (int64_t r = 0; r < m; ++r)
      toFloat(src + r * ld, n, dst + r * n);
    return {dst, n};
  }
}

/// `count` blocks of `block` features, by index.
struct Blocks {
  const int64_t *index;
  int64_t count, block;
  int64_t features() const { return count * block; }
};

/// dst [features, n] = rows [j * block, (j + 1) * block) of src (ld), for
/// each block j.
template <class T>
void gatherRows(const T *src, int64_t ld, Blocks blocks, int64_t n,
                float *dst) {
  for (int64_t b = 0; b < blocks.count; ++b)
    for (int64_t r = 0; r < blocks.block; ++r)
      toFloat(src + (blocks.index[b] * blocks.block + r) * ld, n,
              dst + (b * blocks.block + r) * n);
}

/// dst [m, features] = columns [j * block, (j + 1) * block) of src [m, ...]
/// (ld), for each block j.
template <class T>
void gatherColumns(const T *src, int64_t ld, int64_t m, Blocks blocks,
                   float *dst) {
  int64_t width = blocks.features();
  for (int64_t r = 0; r < m; ++r)
    for (int64_t b = 0; b < blocks.count; ++b)
      toFloat(src + r * ld + blocks.index[b] * blocks.block, blocks.block,
              dst + r * width + b * blocks.block);
}

/// The blocks' columns of dst [m, ...] (ld) = src [m, features] (+ the
/// bias of those features, when given).
template <class T>
void scatterColumns(const float *src, int64_t m, Blocks blocks, const T *bias,
                    T *dst, int64_t ld) {
  int64_t width = blocks.features(), B = blocks.block;
  for (int64_t r = 0; r < m; ++r)
    for (int64_t b = 0; b < blocks.count; ++b) {
      int64_t at = blocks.index[b] * B;
      const float *from = src + r * width + b * B;
      T *to = dst + r * ld + at;
      for (int64_t k = 0; k < B; ++k)
        to[k] = T(from[k] + (bias ? float(bias[at + k]) : 0.0f));
    }
}

/// Zeros the dead blocks' columns of every tile of dst [rows, ...] (ld).
template <class T>
void zeroDeadBlocks(const TileGrid &g, const T *mask, T *dst, int64_t ld) {
#pragma omp parallel for
  for (int64_t i = 0; i < g.tiles; ++i)
    for (int64_t j = 0; j < g.blocks; ++j)
      if (float(mask[i * g.blocks + j]) == 0.0f)
        for (int64_t r = g.first(i); r < g.first(i) + g.count(i); ++r)
          std::fill(dst + r * ld + j * g.block,
                    dst + r * ld + (j + 1) * g.block, T(0.0f));
}

/// c [m, n] (ldc) = a [m, k] b^T (b [n, k], `transB`) or a b (b [k, n]),
/// plus `beta` c.
void gemm(int64_t m, int64_t n, int64_t k, Floats a, Floats b, bool transB,
          float beta, float *c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              m, n, k, 1.0f, a.data, a.ld, b.data, b.ld, beta, c, ldc);
}

/// The (tile, first live block) of every group of every tile.
std::vector<std::pair<int64_t, int64_t>> groupTasks(const TileGrid &g,
                                                    const LiveBlocks &live) {
  std::vector<std::pair<int64_t, int64_t>> tasks;
  for (int64_t i = 0; i < g.tiles; ++i)
    for (int64_t first = 0; first < live.count(i); first += g.perGroup)
      tasks.push_back({i, first});
  return tasks;
}

/// Tile i's live blocks from its `first` on, a group's worth at most.
Blocks groupOf(const TileGrid &g, const LiveBlocks &live, int64_t i,
               int64_t first) {
  return {live.of(i) + first, std::min(g.perGroup, live.count(i) - first),
          g.block};
}

/// Where the result holds the sparse features: per group task, the tile
/// [m, k] as A times the group's gathered weights (`gather` fills them,
/// [features, k] when `transB` or [k, features]), scattered into the
/// result's blocks (+ bias).
template <class T, class Gather>
void sparseColumns(const TileGrid &g, const LiveBlocks &live, const T *a,
                   int64_t k, bool transB, Gather gather, const T *bias,
                   T *result, int64_t width) {
  auto tasks = groupTasks(g, live);
  int64_t features = g.groupFeatures();
  int64_t weightsAt = 0, productAt = features * k,
          inputAt = productAt + g.tileRows * features,
          scratch = inputAt + (std::is_same_v<T, float> ? 0 : g.tileRows * k);
  parallelTasks(int64_t(tasks.size()), scratch, [&](int64_t t, float *local) {
    auto [i, first] = tasks[t];
    int64_t r0 = g.first(i), m = g.count(i);
    Blocks blocks = groupOf(g, live, i, first);
    int64_t n = blocks.features();
    float *weights = local + weightsAt, *product = local + productAt;
    Floats at = asFloats(a + r0 * k, m, k, k, local + inputAt);
    gather(blocks, weights);
    gemm(m, n, k, at, Floats{weights, transB ? k : n}, transB, 0.0f, product,
         n);
    scatterColumns(product, m, blocks, bias, result + r0 * width, width);
  });
}

/// Where the sparse features are summed over: per (tile, chunk of `width`
/// result columns) task, bias (or 0) + the sum over the tile's live groups
/// of the gathered columns of a [rows, k] times the gathered weights
/// (`gather(blocks, c0, columns, to)` fills [columns, features] when
/// `transB` or [features, columns]).
template <class T, class Gather>
void summedBlocks(const TileGrid &g, const LiveBlocks &live, const T *a,
                  int64_t k, bool transB, Gather gather, const T *bias,
                  T *result, int64_t width) {
  int64_t chunks = (width + kColumnChunk - 1) / kColumnChunk;
  int64_t features = g.groupFeatures();
  int64_t accAt = 0, inputAt = g.tileRows * kColumnChunk,
          weightsAt = inputAt + g.tileRows * features,
          scratch = weightsAt + features * kColumnChunk;
  parallelTasks(g.tiles * chunks, scratch, [&](int64_t t, float *local) {
    int64_t i = t / chunks, c0 = t % chunks * kColumnChunk;
    int64_t r0 = g.first(i), m = g.count(i);
    int64_t columns = std::min(kColumnChunk, width - c0);
    float *acc = local + accAt, *input = local + inputAt,
          *weights = local + weightsAt;
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < columns; ++c)
        acc[r * columns + c] = bias ? float(bias[c0 + c]) : 0.0f;
    for (int64_t first = 0; first < live.count(i); first += g.perGroup) {
      Blocks blocks = groupOf(g, live, i, first);
      int64_t n = blocks.features();
      gatherColumns(a + r0 * k, k, m, blocks, input);
      gather(blocks, c0, columns, weights);
      gemm(m, columns, n, Floats{input, n},
           Floats{weights, transB ? n : columns}, transB, 1.0f, acc, columns);
    }
    for (int64_t r = 0; r < m; ++r)
      fromFloat(acc + r * columns, columns, result + (r0 + r) * width + c0);
  });
}

} // namespace

template <class T> void blockMask(KernelContext &c) {
  const View &scores = c.ins[0];
  const T *s = as<T>(scores);
  T *mask = as<T>(c.outs[0]);
  int64_t rows = scores.rows(), width = scores.dim(-1);
  int64_t tile = c.call->intAttr("rows", 1), cols = c.call->intAttr("cols", 1);
  float threshold = float(c.call->floatAttr("threshold", 0.0));
  // keep_shape: the same elements under the scores' leading axes.
  int64_t tiles = c.outs[0].rows(), blocks = c.outs[0].dim(-1);
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
  const T *bias = c.ins.size() == 4 ? as<T>(c.ins[2]) : nullptr;
  TileGrid g(x, maskView, *c.call);
  int64_t in = w.dim(1), out = w.dim(0);
  const T *xs = as<T>(x), *ws = as<T>(w), *mask = as<T>(maskView);
  T *ys = as<T>(c.outs[0]);
  LiveBlocks live = liveBlocks(mask, g);
  if (c.call->attrs.at("sparse").s == "out") {
    // Live output block j: x[tile] W[block j]^T + b[block j]; dead: 0.
    zeroDeadBlocks(g, mask, ys, out);
    sparseColumns(
        g, live, xs, in, /*transB=*/true,
        [&](Blocks blocks, float *to) { gatherRows(ws, in, blocks, in, to); },
        bias, ys, out);
  } else {
    // b + the sum over live input blocks j of x[tile, block j]
    // W[:, block j]^T.
    summedBlocks(
        g, live, xs, in, /*transB=*/true,
        [&](Blocks blocks, int64_t c0, int64_t columns, float *to) {
          gatherColumns(ws + c0 * in, in, columns, blocks, to);
        },
        bias, ys, out);
  }
}

template <class T> void blockSparseLinearGrad(KernelContext &c) {
  const View &dy = c.ins[0], &w = c.ins[1], &maskView = c.ins[2];
  TileGrid g(dy, maskView, *c.call);
  int64_t in = w.dim(1), out = w.dim(0);
  const T *dys = as<T>(dy), *ws = as<T>(w), *mask = as<T>(maskView);
  T *dxs = as<T>(c.outs[0]);
  LiveBlocks live = liveBlocks(mask, g);
  if (c.call->attrs.at("sparse").s == "out") {
    // The sum over live output blocks j of dy[tile, block j] W[block j, :].
    summedBlocks(
        g, live, dys, out, /*transB=*/false,
        [&](Blocks blocks, int64_t c0, int64_t columns, float *to) {
          gatherRows(ws + c0, in, blocks, columns, to);
        },
        static_cast<const T *>(nullptr), dxs, in);
  } else {
    // Live input block j: dy[tile] W[:, block j]; dead: 0.
    zeroDeadBlocks(g, mask, dxs, in);
    sparseColumns(
        g, live, dys, out, /*transB=*/false,
        [&](Blocks blocks, float *to) {
          gatherColumns(ws, in, out, blocks, to);
        },
        static_cast<const T *>(nullptr), dxs, in);
  }
}

SLAPO_CPU_KERNEL_TYPES(blockMask);
SLAPO_CPU_KERNEL_TYPES(blockSparseLinear);
SLAPO_CPU_KERNEL_TYPES(blockSparseLinearGrad);

} // namespace slapo::rt::cpu
