//===- Predictor.cu - the kernels that train a sparsity predictor ---------===//
//
// CPU/Predictor.cpp on the device: graph.sigmoid_bce and its gradient, and
// graph.mask_agreement. The sums are small (rows x blocks of one layer) and
// taken by one block of threads in double, in a fixed tree (blockSum), so
// they are deterministic and need no scratch; each call is one launch.
//
//===----------------------------------------------------------------------===//

#include "Device.cuh"

namespace slapo::rt::cuda {

namespace {

constexpr int kSumThreads = 1024;

__device__ __forceinline__ double bce(float x, float y) {
  return fmaxf(x, 0.0f) - double(x) * y + log1p(exp(-fabs(double(x))));
}

template <class T>
__global__ void sigmoidBceKernel(const T *__restrict__ x,
                                 const T *__restrict__ y, int64_t n,
                                 double scale, float *__restrict__ loss) {
  __shared__ double scratch[32];
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    sum += bce(toFloat(x[i]), toFloat(y[i]));
  sum = blockSum(sum, scratch);
  if (threadIdx.x == 0)
    *loss = n ? float(scale * sum / double(n)) : 0.0f;
}

template <class T>
__global__ void sigmoidBceGradKernel(const T *__restrict__ x,
                                     const T *__restrict__ y, int64_t n,
                                     float factor, T *__restrict__ g) {
  SLAPO_GRID_LOOP(i, n) {
    float sigmoid = 1.0f / (1.0f + expf(-toFloat(x[i])));
    g[i] = fromFloat<T>((sigmoid - toFloat(y[i])) * factor);
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

template <class T> void sigmoidBce(KernelContext &c) {
  sigmoidBceKernel<T><<<1, kSumThreads, 0, streamOf(c)>>>(
      as<T>(c.ins[0]), as<T>(c.ins[1]), c.ins[0].numel(),
      c.call->floatAttr("scale", 1.0), c.outs[0].f32());
  SLAPO_CUDA_LAUNCHED();
}

template <class T> void sigmoidBceGrad(KernelContext &c) {
  int64_t n = c.ins[0].numel();
  if (n == 0)
    return;
  float factor = float(c.call->floatAttr("scale", 1.0) / double(n));
  sigmoidBceGradKernel<T><<<blocksFor(n), kThreads, 0, streamOf(c)>>>(
      as<T>(c.ins[0]), as<T>(c.ins[1]), n, factor, as<T>(c.outs[0]));
  SLAPO_CUDA_LAUNCHED();
}

template <class T> void maskAgreement(KernelContext &c) {
  const View &predicted = c.ins[0], &live = c.ins[1];
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
