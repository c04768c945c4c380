//===- Embedding.cu - embeddings, their gradient, position ids ------------===//
//
// CPU/Dense.cpp's embedding kernels on the device. A vocab-parallel table
// holds rows [rank * rows, (rank + 1) * rows) of the vocabulary; ids outside
// them give zero rows (the sync after the embedding sums the ranks' rows)
// and no gradient.
//
// The gradient is deterministic without atomics and sums as the CPU does:
// each table element starts at 0 and adds its tokens' gradients in token
// order, in float32, and is stored once (bf16 rounds once). A block owns 32
// table rows by 256 features, its sums in shared memory: it walks the ids
// in order, a tile at a time, compacts the tokens whose row is its own
// (keeping their order) and adds their gradient rows, one feature per
// thread. Every thread owns its features, so no two threads add into one
// sum, and each sum sees its tokens in order. Every output element is
// written once, so nothing is zeroed first.
//
//===----------------------------------------------------------------------===//

#include "Device.cuh"

namespace slapo::rt::cuda {

namespace {

/// The first vocabulary row this rank's table holds.
int64_t firstRow(const KernelContext &c, int64_t rows) {
  return c.call->has("vocab_parallel") && c.tp ? c.tp->rank() * rows : 0;
}

/// Threads per row of an embedding lookup: enough for `dim` features, in
/// whole warps.
int threadsForRow(int64_t dim) {
  return int(std::min<int64_t>(kThreads, (dim + 31) / 32 * 32));
}

template <class T>
__global__ void embeddingKernel(const int64_t *__restrict__ ids,
                                const T *__restrict__ table,
                                T *__restrict__ out, int64_t n, int64_t rows,
                                int64_t dim, int64_t first) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    int64_t row = ids[i] - first;
    T *to = out + i * dim;
    if (row >= 0 && row < rows) {
      const T *from = table + row * dim;
      for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
        to[d] = from[d];
    } else {
      for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
        to[d] = fromFloat<T>(0.0f);
    }
  }
}

/// The gradient's blocks: kGradRows table rows by kGradFeatures features,
/// one feature per thread.
constexpr int kGradFeatures = 256;
constexpr int kGradRows = 32; // 32 KB of float sums
constexpr int kGradWarps = kGradFeatures / 32;

template <class T>
__global__ void __launch_bounds__(kGradFeatures)
    embeddingGradKernel(const int64_t *__restrict__ ids,
                        const T *__restrict__ grad, T *__restrict__ out,
                        int64_t n, int64_t rows, int64_t dim, int64_t first) {
  __shared__ float sums[kGradRows][kGradFeatures];
  __shared__ int64_t tokens[kGradFeatures]; // this tile's tokens in my rows
  __shared__ int tokenRows[kGradFeatures];  // ... and their row in `sums`
  __shared__ int warpCounts[kGradWarps];
  int t = threadIdx.x, lane = t % 32, warp = t / 32;
  int64_t r0 = int64_t(blockIdx.x) * kGradRows;
  for (int64_t d0 = int64_t(blockIdx.y) * kGradFeatures; d0 < dim;
       d0 += int64_t(gridDim.y) * kGradFeatures) {
    int64_t d = d0 + t;
    bool feature = d < dim;
    // Each thread clears and adds into its own column of `sums` only.
    for (int r = 0; r < kGradRows; ++r)
      sums[r][t] = 0.0f;
    for (int64_t base = 0; base < n; base += kGradFeatures) {
      int64_t i = base + t;
      int mine = -1;
      if (i < n) {
        int64_t local = ids[i] - first;
        if (local >= 0 && local < rows && local >= r0 && local < r0 + kGradRows)
          mine = int(local - r0);
      }
      // The barrier also ends every thread's reads of the previous tile's
      // tokens before they are overwritten below.
      int count = __syncthreads_count(mine >= 0);
      if (count == 0)
        continue;
      // Compact the matching tokens in token order: warps in order, lanes
      // in order within a warp.
      unsigned ballot = __ballot_sync(0xffffffffu, mine >= 0);
      if (lane == 0)
        warpCounts[warp] = __popc(ballot);
      __syncthreads();
      if (mine >= 0) {
        int at = __popc(ballot & ((1u << lane) - 1u));
        for (int w = 0; w < warp; ++w)
          at += warpCounts[w];
        tokens[at] = i;
        tokenRows[at] = mine;
      }
      __syncthreads();
      if (feature)
        for (int k = 0; k < count; ++k)
          sums[tokenRows[k]][t] += toFloat(grad[tokens[k] * dim + d]);
    }
    if (feature)
      for (int r = 0; r < kGradRows && r0 + r < rows; ++r)
        out[(r0 + r) * dim + d] = fromFloat<T>(sums[r][t]);
    // The next feature chunk's tiles overwrite `tokens` only after the
    // barrier of their first tile, so no barrier is needed here.
  }
}

__global__ void positionIdsKernel(int64_t *__restrict__ out, int64_t count,
                                  int64_t seq, int64_t offset) {
  SLAPO_GRID_LOOP(i, count) { out[i] = offset + i % seq; }
}

} // namespace

template <class T> void embedding(KernelContext &c) {
  const View &ids = c.ins[0], &table = c.ins[1];
  int64_t n = ids.numel(), rows = table.dim(0), dim = table.dim(1);
  if (n == 0 || dim == 0)
    return;
  int64_t first = firstRow(c, rows);
  unsigned blocks = unsigned(std::min<int64_t>(n, 65536));
  embeddingKernel<T><<<blocks, threadsForRow(dim), 0, streamOf(c)>>>(
      ids.i64(), as<T>(table), as<T>(c.outs[0]), n, rows, dim, first);
  SLAPO_CUDA_LAUNCHED();
}

template <class T> void embeddingGrad(KernelContext &c) {
  const View &ids = c.ins[0], &table = c.outs[0];
  int64_t n = ids.numel(), rows = table.dim(0), dim = table.dim(1);
  if (rows == 0 || dim == 0)
    return;
  int64_t first = firstRow(c, rows);
  dim3 blocks(unsigned((rows + kGradRows - 1) / kGradRows),
              unsigned(std::min<int64_t>(
                  (dim + kGradFeatures - 1) / kGradFeatures, 65535)));
  embeddingGradKernel<T><<<blocks, kGradFeatures, 0, streamOf(c)>>>(
      ids.i64(), as<T>(c.ins[1]), as<T>(table), n, rows, dim, first);
  SLAPO_CUDA_LAUNCHED();
}

void positionIds(KernelContext &c) {
  const View &out = c.outs[0];
  int64_t count = out.numel(), seq = out.dim(1);
  if (count == 0)
    return;
  positionIdsKernel<<<blocksFor(count), kThreads, 0, streamOf(c)>>>(
      out.i64(), count, seq, c.call->intAttr("offset", 0));
  SLAPO_CUDA_LAUNCHED();
}

SLAPO_CUDA_KERNEL_TYPES(embedding);
SLAPO_CUDA_KERNEL_TYPES(embeddingGrad);

} // namespace slapo::rt::cuda
