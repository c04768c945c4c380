//===- BlockSparse.cu - block masks and block-sparse linear layers --------===//
//
// CPU/BlockSparse.cpp's kernels on the device. The mask [row tiles, blocks]
// says which feature blocks of each tile of `rows` tokens are live.
//
// The three products share one masked GEMM: out[r, j] = sum over k of
// a[r, k] b(j, k), where the mask either selects output columns j (a dead
// (r, j) is written as 0 and not computed) or input features k (a dead
// (r, k) adds nothing). A thread block computes a 32 x 32 output tile with
// K in chunks of 32 through shared memory: a tile whose outputs are all dead
// writes its zeros and stops, and a chunk whose inputs are dead for every
// row of the tile is skipped. Each output is one thread's float sum over k
// in increasing order: deterministic, no atomics, rounded once.
//
//===----------------------------------------------------------------------===//

#include "Device.cuh"

namespace slapo::rt::cuda {

namespace {

constexpr int kTile = 32;      // output rows and columns
constexpr int kThreadRows = 8; // threadIdx.y
constexpr int kRowsPerThread = kTile / kThreadRows;

/// The mask and its geometry: element (row, feature) is live when
/// mask[row / rows][feature / block] is nonzero.
template <class T> struct Mask {
  const T *data;
  int64_t rows, block, blocks;
  __device__ bool live(int64_t row, int64_t feature) const {
    return toFloat(data[row / rows * blocks + feature / block]) != 0.0f;
  }
};

/// out [M, N] = a [M, K] b^T, b(j, k) at b[j * ldb + k] (`transB`, a weight
/// [N, K]) or at b[k * ldb + j] (a weight [K, N]), plus bias[j] when given;
/// `maskOutput` masks (r, j), else the mask is on (r, k).
template <class T> struct MaskedGemm {
  const T *a, *b, *bias;
  T *out;
  int64_t M, N, K, ldb;
  bool transB, maskOutput;
  Mask<T> mask;
};

template <class T>
__global__ void __launch_bounds__(kTile *kThreadRows)
    maskedGemmKernel(MaskedGemm<T> g) {
  __shared__ float aTile[kTile][kTile + 1]; // [row][k]
  __shared__ float bTile[kTile][kTile + 1]; // [k][column]
  int tx = threadIdx.x, ty = threadIdx.y;
  int64_t row0 = int64_t(blockIdx.x) * kTile,
          col0 = int64_t(blockIdx.y) * kTile;
  int64_t col = col0 + tx;
  bool outLive[kRowsPerThread];
  bool anyLive = false;
  for (int i = 0; i < kRowsPerThread; ++i) {
    int64_t row = row0 + ty + i * kThreadRows;
    bool inside = row < g.M && col < g.N;
    outLive[i] = inside && (!g.maskOutput || g.mask.live(row, col));
    anyLive = anyLive || outLive[i];
  }
  if (g.maskOutput && !__syncthreads_or(anyLive)) {
    for (int i = 0; i < kRowsPerThread; ++i) {
      int64_t row = row0 + ty + i * kThreadRows;
      if (row < g.M && col < g.N)
        g.out[row * g.N + col] = fromFloat<T>(0.0f);
    }
    return;
  }
  float acc[kRowsPerThread] = {};
  for (int64_t k0 = 0; k0 < g.K; k0 += kTile) {
    int64_t k = k0 + tx;
    bool inLive[kRowsPerThread];
    bool anyIn = false;
    for (int i = 0; i < kRowsPerThread; ++i) {
      int64_t row = row0 + ty + i * kThreadRows;
      inLive[i] = row < g.M && k < g.K && (g.maskOutput || g.mask.live(row, k));
      anyIn = anyIn || inLive[i];
    }
    // Also the barrier that ends the previous chunk's reads of as and bs.
    if (!__syncthreads_or(anyIn))
      continue;
    for (int i = 0; i < kRowsPerThread; ++i) {
      int r = ty + i * kThreadRows;
      aTile[r][tx] = inLive[i] ? toFloat(g.a[(row0 + r) * g.K + k]) : 0.0f;
      if (g.transB) {
        // Coalesced along k: b(col0 + r, k0 + tx) into bTile[tx][r].
        int64_t j = col0 + r;
        bTile[tx][r] = j < g.N && k < g.K ? toFloat(g.b[j * g.ldb + k]) : 0.0f;
      } else {
        // Coalesced along j: b(col0 + tx, k0 + r) into bTile[r][tx].
        int64_t kk = k0 + r;
        bTile[r][tx] =
            col < g.N && kk < g.K ? toFloat(g.b[kk * g.ldb + col]) : 0.0f;
      }
    }
    __syncthreads();
    for (int kk = 0; kk < kTile; ++kk) {
      float bv = bTile[kk][tx];
      for (int i = 0; i < kRowsPerThread; ++i)
        acc[i] += aTile[ty + i * kThreadRows][kk] * bv;
    }
  }
  for (int i = 0; i < kRowsPerThread; ++i) {
    int64_t row = row0 + ty + i * kThreadRows;
    if (row >= g.M || col >= g.N)
      continue;
    float value = 0.0f;
    if (outLive[i])
      value = acc[i] + (g.bias ? toFloat(g.bias[col]) : 0.0f);
    g.out[row * g.N + col] = fromFloat<T>(value);
  }
}

template <class T> void launch(const MaskedGemm<T> &g, cudaStream_t stream) {
  if (g.M == 0 || g.N == 0)
    return;
  dim3 blocks(unsigned((g.M + kTile - 1) / kTile),
              unsigned((g.N + kTile - 1) / kTile));
  maskedGemmKernel<T><<<blocks, dim3(kTile, kThreadRows), 0, stream>>>(g);
  SLAPO_CUDA_LAUNCHED();
}

/// One thread per mask element: 1 when some score of its tile and block
/// is above the threshold (equal is not above).
template <class T>
__global__ void blockMaskKernel(const T *__restrict__ scores,
                                T *__restrict__ mask, int64_t n, int64_t width,
                                int64_t rows, int64_t cols, int64_t blocks,
                                int64_t count, float threshold) {
  SLAPO_GRID_LOOP(e, count) {
    int64_t i = e / blocks, j = e % blocks;
    int64_t r1 = min(n, (i + 1) * rows);
    bool above = false;
    for (int64_t r = i * rows; r < r1 && !above; ++r)
      for (int64_t k = 0; k < cols && !above; ++k)
        above = toFloat(scores[r * width + j * cols + k]) > threshold;
    mask[e] = fromFloat<T>(above ? 1.0f : 0.0f);
  }
}

template <class T> Mask<T> maskOf(const KernelContext &c, const View &mask) {
  return Mask<T>{as<T>(mask), c.call->intAttr("rows", 1),
                 c.call->intAttr("block", 1), mask.dim(1)};
}

} // namespace

template <class T> void blockMask(KernelContext &c) {
  const View &scores = c.ins[0], &mask = c.outs[0];
  int64_t count = mask.numel();
  if (count == 0)
    return;
  blockMaskKernel<T><<<blocksFor(count), kThreads, 0, streamOf(c)>>>(
      as<T>(scores), as<T>(mask), scores.rows(), scores.dim(-1),
      c.call->intAttr("rows", 1), c.call->intAttr("cols", 1), mask.dim(-1),
      count, float(c.call->floatAttr("threshold", 0.0)));
  SLAPO_CUDA_LAUNCHED();
}

template <class T> void blockSparseLinear(KernelContext &c) {
  const View &x = c.ins[0], &w = c.ins[1], &mask = c.ins.back();
  bool hasBias = c.ins.size() == 4;
  MaskedGemm<T> g{as<T>(x),
                  as<T>(w),
                  hasBias ? as<T>(c.ins[2]) : nullptr,
                  as<T>(c.outs[0]),
                  x.rows(),
                  w.dim(0),
                  w.dim(1),
                  w.dim(1),
                  /*transB=*/true,
                  /*maskOutput=*/c.call->attrs.at("sparse").s == "out",
                  maskOf<T>(c, mask)};
  launch(g, streamOf(c));
}

template <class T> void blockSparseLinearGrad(KernelContext &c) {
  const View &dy = c.ins[0], &w = c.ins[1], &mask = c.ins[2];
  // dx [M, in] = dy [M, out] W [out, in]; the forward's sparse outputs are
  // the gradient's sparse inputs, and the other way round.
  MaskedGemm<T> g{as<T>(dy),
                  as<T>(w),
                  nullptr,
                  as<T>(c.outs[0]),
                  dy.rows(),
                  w.dim(1),
                  w.dim(0),
                  w.dim(1),
                  /*transB=*/false,
                  /*maskOutput=*/c.call->attrs.at("sparse").s == "in",
                  maskOf<T>(c, mask)};
  launch(g, streamOf(c));
}

SLAPO_CUDA_KERNEL_TYPES(blockMask);
SLAPO_CUDA_KERNEL_TYPES(blockSparseLinear);
SLAPO_CUDA_KERNEL_TYPES(blockSparseLinearGrad);

} // namespace slapo::rt::cuda
