//===- Device.cuh - what every CUDA kernel file uses ------------*- CUDA
//-*-===//
//
// Element loads and stores (f32, or bf16 computed in float32 as on the CPU:
// each result rounds once, to nearest even), launch geometry, block
// reductions and error checks. Private to lib/Runtime/CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CUDA_DEVICE_CUH
#define SLAPO_LIB_RUNTIME_CUDA_DEVICE_CUH

#include "CudaKernels.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace slapo::rt::cuda {

/// Reads an element as float.
__device__ __forceinline__ float toFloat(float x) { return x; }
__device__ __forceinline__ float toFloat(bf16 x) { return __bfloat162float(x); }

/// Writes a float as an element (bf16: round to nearest even).
template <class T> __device__ __forceinline__ T fromFloat(float x);
template <> __device__ __forceinline__ float fromFloat<float>(float x) {
  return x;
}
template <> __device__ __forceinline__ bf16 fromFloat<bf16>(float x) {
  return __float2bfloat16_rn(x);
}

/// Threads per block of the elementwise kernels.
constexpr int kThreads = 256;

/// Blocks for a grid-stride loop over `count` elements: enough to fill the
/// GPU, never more than the elements need.
inline unsigned blocksFor(int64_t count, int threads = kThreads) {
  int64_t blocks = (count + threads - 1) / threads;
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(blocks, 65536)));
}

/// for (i = this thread's first; i < count; i += the grid's threads)
#define SLAPO_GRID_LOOP(i, count)                                              \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;             \
       i < (count); i += int64_t(blockDim.x) * gridDim.x)

/// The sum of `value` over a warp, in every lane (U: float, double or long
/// long), in a fixed tree.
template <class U> __device__ __forceinline__ U warpSum(U value) {
  for (int offset = 16; offset > 0; offset /= 2)
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}
__device__ __forceinline__ float warpMax(float value) {
  for (int offset = 16; offset > 0; offset /= 2)
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

/// The sum of `value` over the block, in every thread, in a fixed tree
/// whatever the values, so sums are deterministic (U: float, double or long
/// long). `scratch` holds 32 U of shared memory; blockDim.x is a multiple of
/// 32. A barrier ends it, so the scratch can be used again at once.
template <class U> __device__ __forceinline__ U blockSum(U value, U *scratch) {
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int warps = blockDim.x / 32;
  value = warpSum(value);
  if (lane == 0)
    scratch[warp] = value;
  __syncthreads();
  value = lane < warps ? scratch[lane] : U(0);
  value = warpSum(value);
  __syncthreads();
  return value;
}
__device__ __forceinline__ float blockMax(float value, float *scratch) {
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int warps = blockDim.x / 32;
  value = warpMax(value);
  if (lane == 0)
    scratch[warp] = value;
  __syncthreads();
  value = lane < warps ? scratch[lane] : -INFINITY;
  value = warpMax(value);
  __syncthreads();
  return value;
}

} // namespace slapo::rt::cuda

#endif // SLAPO_LIB_RUNTIME_CUDA_DEVICE_CUH
