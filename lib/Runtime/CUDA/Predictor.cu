//===- Predictor.cu - the kernels that train a sparsity predictor ---------===//
//
// CPU/Predictor.cpp on the device: graph.sigmoid_bce and its gradient, and
// graph.mask_agreement (also over an attention's causal tile pairs). The sums
// are small (rows x blocks of one layer) and taken by one block of threads in
// double, in a fixed tree (blockSum), so they are deterministic and need no
// scratch; each call is one launch.
//
//===----------------------------------------------------------------------===//

#include "Device.cuh"

namespace slapo::rt::cuda {

namespace {

constexpr int kSumThreads = 1024;

__device__ __forceinline__ double bce(float x, float y) {
  return fmaxf(x, 0.0f) - double(x) * y + log1p(exp(-fabs(double(x))));
}

/// CPU/Predictor.cpp's CausalPairs: with `tiles` > 0 the last two axes
/// are (query tile, key tile) and only key tile <= query tile counts.
struct CausalPairs {
  int64_t tiles; // 0: every element counts
  __host__ __device__ int64_t keyTile(int64_t i) const { return i % tiles; }
  __host__ __device__ int64_t queryTile(int64_t i) const {
    return i / tiles % tiles;
  }
  __host__ __device__ bool counts(int64_t i) const {
    return tiles == 0 || keyTile(i) <= queryTile(i);
  }
  int64_t counted(int64_t n) const {
    return tiles ? n / (tiles * tiles) * (tiles * (tiles + 1) / 2) : n;
  }
};

CausalPairs causalPairs(KernelContext &c, const View &v) {
  return CausalPairs{c.call->has("causal") ? v.dim(-1) : 0};
}

template <class T>
__global__ void
sigmoidBceKernel(const T *__restrict__ x, const T *__restrict__ y, int64_t n,
                 CausalPairs pairs, double factor, float *__restrict__ loss) {
  __shared__ double scratch[32];
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    if (pairs.counts(i))
      sum += bce(toFloat(x[i]), toFloat(y[i]));
  sum = blockSum(sum, scratch);
  if (threadIdx.x == 0)
    *loss = float(factor * sum);
}

template <class T>
__global__ void sigmoidBceGradKernel(const T *__restrict__ x,
                                     const T *__restrict__ y, int64_t n,
                                     CausalPairs pairs, float factor,
                                     T *__restrict__ g) {
  SLAPO_GRID_LOOP(i, n) {
    float sigmoid = 1.0f / (1.0f + expf(-toFloat(x[i])));
    g[i] = fromFloat<T>(pairs.counts(i) ? (sigmoid - toFloat(y[i])) * factor
                                        : 0.0f);
  }
}

/// mask_agreement with `causal`: pair by pair, the first key tile and the
/// diagonal counted as predicted.
template <class T>
__global__ void causalMaskAgreementKernel(const T *__restrict__ predicted,
                                          const T *__restrict__ live, int64_t n,
                                          CausalPairs pairs, double factor,
                                          float *__restrict__ out) {
  __shared__ double scratch[32];
  double covered = 0, alive = 0, computed = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    if (!pairs.counts(i))
      continue;
    int64_t key = pairs.keyTile(i);
    bool p =
        key == 0 || key == pairs.queryTile(i) || toFloat(predicted[i]) != 0.0f;
    bool l = toFloat(live[i]) != 0.0f;
    covered += l && p;
    alive += l;
    computed += p;
  }
  covered = blockSum(covered, scratch);
  alive = blockSum(alive, scratch);
  computed = blockSum(computed, scratch);
  if (threadIdx.x == 0) {
    out[0] = float(factor * covered);
    out[1] = float(factor * alive);
    out[2] = float(factor * computed);
    out[3] = float(factor * alive);
  }
}

/// One thread per (tile, block) pair; the four sums in one block.
template <class T>
__global__ void maskAgreementKernel(const T *__restrict__ predicted,
                                    const T *__restrict__ live, int64_t n,
                                    int64_t blocks, int64_t tiles, int64_t rows,
                                    double scale, float *__restrict__ out) {
  __shared__ double scratch[32];
  double covered = 0, alive = 0, predictedBlocks = 0, shadowed = 0;
  for (int64_t e = threadIdx.x; e < tiles * blocks; e += blockDim.x) {
    int64_t t = e / blocks, j = e % blocks;
    bool p = toFloat(predicted[e]) != 0.0f, any = false;
    int64_t r1 = min(n, (t + 1) * rows);
    for (int64_t r = t * rows; r < r1; ++r) {
      bool l = toFloat(live[r * blocks + j]) != 0.0f;
      alive += l;
      covered += l && p;
      any = any || l;
    }
    predictedBlocks += p;
    shadowed += any;
  }
  covered = blockSum(covered, scratch);
  alive = blockSum(alive, scratch);
  predictedBlocks = blockSum(predictedBlocks, scratch);
  shadowed = blockSum(shadowed, scratch);
  if (threadIdx.x == 0) {
    double pairs = double(n) * double(blocks),
           tileBlocks = double(tiles) * double(blocks);
    out[0] = pairs ? float(scale * covered / pairs) : 0.0f;
    out[1] = pairs ? float(scale * alive / pairs) : 0.0f;
    out[2] = tileBlocks ? float(scale * predictedBlocks / tileBlocks) : 0.0f;
    out[3] = tileBlocks ? float(scale * shadowed / tileBlocks) : 0.0f;
  }
}

} // namespace

/// scale / (the number of elements that count), or 0 when none does.
static double meanFactor(KernelContext &c, const CausalPairs &pairs,
                         int64_t n) {
  int64_t counted = pairs.counted(n);
  return counted ? c.call->floatAttr("scale", 1.0) / double(counted) : 0.0;
}

template <class T> void sigmoidBce(KernelContext &c) {
  int64_t n = c.ins[0].numel();
  CausalPairs pairs = causalPairs(c, c.ins[0]);
  sigmoidBceKernel<T><<<1, kSumThreads, 0, streamOf(c)>>>(
      as<T>(c.ins[0]), as<T>(c.ins[1]), n, pairs, meanFactor(c, pairs, n),
      c.outs[0].f32());
  SLAPO_CUDA_LAUNCHED();
}

template <class T> void sigmoidBceGrad(KernelContext &c) {
  int64_t n = c.ins[0].numel();
  if (n == 0)
    return;
  CausalPairs pairs = causalPairs(c, c.ins[0]);
  sigmoidBceGradKernel<T><<<blocksFor(n), kThreads, 0, streamOf(c)>>>(
      as<T>(c.ins[0]), as<T>(c.ins[1]), n, pairs,
      float(meanFactor(c, pairs, n)), as<T>(c.outs[0]));
  SLAPO_CUDA_LAUNCHED();
}

template <class T> void maskAgreement(KernelContext &c) {
  const View &predicted = c.ins[0], &live = c.ins[1];
  if (c.call->has("causal")) {
    int64_t n = live.numel();
    CausalPairs pairs = causalPairs(c, live);
    causalMaskAgreementKernel<T><<<1, kSumThreads, 0, streamOf(c)>>>(
        as<T>(predicted), as<T>(live), n, pairs, meanFactor(c, pairs, n),
        c.outs[0].f32());
    SLAPO_CUDA_LAUNCHED();
    return;
  }
  maskAgreementKernel<T><<<1, kSumThreads, 0, streamOf(c)>>>(
      as<T>(predicted), as<T>(live), live.dim(0), live.dim(1), predicted.dim(0),
      c.call->intAttr("rows", 1), c.call->floatAttr("scale", 1.0),
      c.outs[0].f32());
  SLAPO_CUDA_LAUNCHED();
}

SLAPO_CUDA_KERNEL_TYPES(sigmoidBce);
SLAPO_CUDA_KERNEL_TYPES(sigmoidBceGrad);
SLAPO_CUDA_KERNEL_TYPES(maskAgreement);

} // namespace slapo::rt::cuda
