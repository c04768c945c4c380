//===- AttentionSparsity.cu - the masks of a block-sparse attention -------===//
//
// CPU/AttentionSparsity.cpp on the device: graph.tile_mean, one thread an
// output element, and graph.attention_block_mask, one block of threads a
// (batch, head, query tile) whose threads take its queries. A query marks
// the key tiles it needs with plain stores of 1 (threads may store the
// same value to one element); the scores are in double, as on the CPU.
//
//===----------------------------------------------------------------------===//

#include "Device.cuh"

namespace slapo::rt::cuda {

namespace {

constexpr int kMaskThreads = 128;

template <class T>
__global__ void tileMeanKernel(const T *__restrict__ x, T *__restrict__ out,
                               int64_t seq, int64_t width, int64_t block,
                               int64_t tiles, int64_t count) {
  SLAPO_GRID_LOOP(e, count) {
    int64_t d = e % width, i = e / width % tiles, b = e / width / tiles;
    int64_t t0 = i * block, t1 = min(seq, t0 + block);
    float sum = 0.0f;
    for (int64_t t = t0; t < t1; ++t)
      sum += toFloat(x[(b * seq + t) * width + d]);
    out[e] = fromFloat<T>(sum * (1.0f / float(t1 - t0)));
  }
}

struct MaskShape {
  int64_t heads, kvHeads, seq, width, block, tiles;
  double scale, threshold;
};

template <class T>
__device__ double score(const T *query, const T *key, int64_t width,
                        double scale) {
  double dot = 0.0;
  for (int64_t d = 0; d < width; ++d)
    dot += double(toFloat(query[d])) * double(toFloat(key[d]));
  return dot * scale;
}

template <class T>
__global__ void attentionBlockMaskKernel(const T *__restrict__ q,
                                         const T *__restrict__ k,
                                         T *__restrict__ mask, MaskShape s) {
  int64_t i = blockIdx.x % s.tiles, bh = blockIdx.x / s.tiles;
  int64_t b = bh / s.heads, h = bh % s.heads;
  const T *keys =
      k + (b * s.kvHeads + h / (s.heads / s.kvHeads)) * s.seq * s.width;
  T *row = mask + (bh * s.tiles + i) * s.tiles;
  for (int64_t j = threadIdx.x; j < s.tiles; j += blockDim.x)
    row[j] = fromFloat<T>(0.0f);
  __syncthreads();
  int64_t t1 = min(s.seq, (i + 1) * s.block);
  for (int64_t t = i * s.block + threadIdx.x; t < t1; t += blockDim.x) {
    const T *query = q + (bh * s.seq + t) * s.width;
    double top = -INFINITY, total = 0.0;
    for (int64_t j = 0; j <= t; ++j)
      top = fmax(top, score(query, keys + j * s.width, s.width, s.scale));
    for (int64_t j = 0; j <= t; ++j)
      total += exp(score(query, keys + j * s.width, s.width, s.scale) - top);
    for (int64_t j = 0; j <= t; ++j)
      if (s.threshold <= 0.0 ||
          exp(score(query, keys + j * s.width, s.width, s.scale) - top) /
                  total >
              s.threshold)
        row[j / s.block] = fromFloat<T>(1.0f);
  }
  __syncthreads();
  for (int64_t j = threadIdx.x; j < s.tiles; j += blockDim.x)
    if (j == 0 || j == i)
      row[j] = fromFloat<T>(1.0f);
}

} // namespace

template <class T> void tileMean(KernelContext &c) {
  const View &x = c.ins[0];
  int64_t count = c.outs[0].numel();
  if (count == 0)
    return;
  tileMeanKernel<T><<<blocksFor(count), kThreads, 0, streamOf(c)>>>(
      as<T>(x), as<T>(c.outs[0]), x.dim(1), x.dim(2),
      c.call->intAttr("block", 1), c.outs[0].dim(1), count);
  SLAPO_CUDA_LAUNCHED();
}

template <class T> void attentionBlockMask(KernelContext &c) {
  const View &q = c.ins[0], &k = c.ins[1];
  int64_t tiles = c.outs[0].dim(2), rows = q.dim(0) * q.dim(1) * tiles;
  if (rows == 0)
    return;
  MaskShape s{q.dim(1),
              k.dim(1),
              q.dim(2),
              q.dim(3),
              c.call->intAttr("block", 1),
              tiles,
              c.call->floatAttr("scale", 1.0),
              c.call->floatAttr("threshold", 0.0)};
  attentionBlockMaskKernel<T><<<unsigned(rows), kMaskThreads, 0, streamOf(c)>>>(
      as<T>(q), as<T>(k), as<T>(c.outs[0]), s);
  SLAPO_CUDA_LAUNCHED();
}

SLAPO_CUDA_KERNEL_TYPES(tileMean);
SLAPO_CUDA_KERNEL_TYPES(attentionBlockMask);

} // namespace slapo::rt::cuda
