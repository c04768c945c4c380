//===- Vector.cu - the backend's own calls on f32 buffers -----------------===//
//
// What the executor asks of the backend outside kernel calls: gradient
// accumulation and scaling, fills, the sum of squares behind gradient
// clipping, and drawing initial weights. Each launches on the given stream
// and returns at once. The sum of squares is one block's fixed reduction in
// double, so it is deterministic and needs no memory but its result; the
// weights are Random.h's numbers, computed in double as on the CPU.
//
//===----------------------------------------------------------------------===//

#include "../Random.h"
#include "Device.cuh"

#include <cstdint>

namespace slapo::rt::cuda {

namespace {

__global__ void accumulateKernel(float *y, const float *x, int64_t count,
                                 float alpha) {
  SLAPO_GRID_LOOP(i, count) { y[i] += alpha * x[i]; }
}

__global__ void accumulateWeightedKernel(float *y, const float *x,
                                         int64_t count,
                                         const StepScalars *scalars) {
  float alpha = scalars->gradientWeight;
  SLAPO_GRID_LOOP(i, count) { y[i] += alpha * x[i]; }
}

__global__ void scaleKernel(float *x, int64_t count, float factor) {
  SLAPO_GRID_LOOP(i, count) { x[i] *= factor; }
}

__global__ void fillKernel(float *to, int64_t count, float value) {
  SLAPO_GRID_LOOP(i, count) { to[i] = value; }
}

/// Threads of the sum of squares' one block.
constexpr int kSumThreads = 1024;
/// float4 loads each thread has in flight per step of its loop: one block
/// must keep many bytes moving to approach the bandwidth one SM can draw.
constexpr int kUnroll = 4;

__device__ __forceinline__ double squares(float4 q) {
  return double(q.x) * double(q.x) + double(q.y) * double(q.y) +
         double(q.z) * double(q.z) + double(q.w) * double(q.w);
}

/// Each block's threads sum the squares of their fixed share in double
/// (float4 packs when `x` is 16-byte aligned, then the at most three
/// elements after them) and the block adds them in a fixed tree, into
/// partials[block]. A square of a float is exact in double, and the shares
/// depend only on the count and the grid, so the sum is deterministic.
__global__ void __launch_bounds__(kSumThreads)
    sumOfSquaresKernel(const float *x, int64_t count, bool packed,
                       double *partials) {
  __shared__ double scratch[32];
  int64_t step = int64_t(blockDim.x) * gridDim.x;
  int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  double total = 0.0;
  int64_t done = 0;
  if (packed) {
    const float4 *packs = reinterpret_cast<const float4 *>(x);
    int64_t numPacks = count / 4;
    int64_t p = first;
    for (; p + (kUnroll - 1) * step < numPacks; p += kUnroll * step) {
      float4 q[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        q[u] = packs[p + u * step];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        total += squares(q[u]);
    }
    for (; p < numPacks; p += step)
      total += squares(packs[p]);
    done = numPacks * 4;
  }
  for (int64_t i = done + first; i < count; i += step)
    total += double(x[i]) * double(x[i]);

  total = blockSum(total, scratch);
  if (threadIdx.x == 0)
    partials[blockIdx.x] = total;
}

/// One block adds the `blocks` partials in a fixed order into *sum.
__global__ void __launch_bounds__(kSumThreads)
    sumPartialsKernel(const double *partials, int blocks, double *sum) {
  __shared__ double scratch[32];
  double total = 0.0;
  for (int b = threadIdx.x; b < blocks; b += blockDim.x)
    total += partials[b];
  total = blockSum(total, scratch);
  if (threadIdx.x == 0)
    *sum = total;
}

/// CpuBackend::drawParameter's expression, element for element.
__global__ void drawParameterKernel(float *to, int64_t count, uint64_t key,
                                    int64_t first, bool uniform, double scale) {
  SLAPO_GRID_LOOP(i, count) {
    to[i] = float(uniform ? boundedUniformAt(key, first + i, scale)
                          : scale * normalAt(key, first + i));
  }
}

} // namespace

void accumulate(float *y, const float *x, int64_t count, float alpha,
                cudaStream_t stream) {
  if (count <= 0)
    return;
  accumulateKernel<<<blocksFor(count), kThreads, 0, stream>>>(y, x, count,
                                                              alpha);
  SLAPO_CUDA_LAUNCHED();
}

void accumulateWeighted(float *y, const float *x, int64_t count,
                        const StepScalars *scalars, cudaStream_t stream) {
  if (count <= 0)
    return;
  accumulateWeightedKernel<<<blocksFor(count), kThreads, 0, stream>>>(
      y, x, count, scalars);
  SLAPO_CUDA_LAUNCHED();
}

void scale(float *x, int64_t count, float factor, cudaStream_t stream) {
  if (count <= 0)
    return;
  scaleKernel<<<blocksFor(count), kThreads, 0, stream>>>(x, count, factor);
  SLAPO_CUDA_LAUNCHED();
}

void fill(float *to, int64_t count, float value, cudaStream_t stream) {
  if (count <= 0)
    return;
  fillKernel<<<blocksFor(count), kThreads, 0, stream>>>(to, count, value);
  SLAPO_CUDA_LAUNCHED();
}

void sumOfSquares(const float *x, int64_t count, double *partials, double *sum,
                  cudaStream_t stream) {
  // Launched even for no elements: it writes the 0. Enough blocks to
  // stream a large gradient at the memory's rate, one for a small one.
  if (count < 0)
    count = 0;
  int64_t perBlock = int64_t(kSumThreads) * 4 * kUnroll;
  int blocks = int(
      std::min<int64_t>(kSumPartials, std::max<int64_t>(1, count / perBlock)));
  bool packed = reinterpret_cast<uintptr_t>(x) % sizeof(float4) == 0;
  sumOfSquaresKernel<<<blocks, kSumThreads, 0, stream>>>(x, count, packed,
                                                         partials);
  SLAPO_CUDA_LAUNCHED();
  sumPartialsKernel<<<1, kSumThreads, 0, stream>>>(partials, blocks, sum);
  SLAPO_CUDA_LAUNCHED();
}

void drawParameter(float *to, int64_t count, uint64_t key, int64_t first,
                   bool uniform, double scale, cudaStream_t stream) {
  if (count <= 0)
    return;
  drawParameterKernel<<<blocksFor(count), kThreads, 0, stream>>>(
      to, count, key, first, uniform, scale);
  SLAPO_CUDA_LAUNCHED();
}

} // namespace slapo::rt::cuda
