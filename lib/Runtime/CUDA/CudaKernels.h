//===- CudaKernels.h - CUDA kernel entry points -----------------*- C++ -*-===//
//
// One host function per kernel name of the plan, each launching its work on
// the call's stream (KernelContext::stream, a cudaStream_t) and returning at
// once; CudaBackend.cpp binds them by name and operand dtypes, as the CPU
// backend binds CPU/CPUKernels.h. Kernels over activations are templates on
// the storage type T, float or bf16 (__nv_bfloat16), instantiated where they
// are defined; they load T, compute in float32 and round each result once,
// as the CPU's do. Parameters, optimizer state and losses are float.
//
// Kernels that read the step's scalars (dropout: seed, step, micro-batch,
// training; the optimizers: learning rate, step) read them on the device
// through KernelContext::deviceScalars, never the host fields, because a
// captured graph replays the values it was launched with. Every function
// here is callable during graph capture: no allocation, no synchronisation,
// no host read of device memory. Host code only: it compiles with the host
// compiler. Private to lib/Runtime/CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CUDA_CUDAKERNELS_H
#define SLAPO_LIB_RUNTIME_CUDA_CUDAKERNELS_H

#include "slapo/Runtime/Kernels.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace slapo::rt::cuda {

using bf16 = __nv_bfloat16;

/// Ends the process with a message naming the failed CUDA call: a device
/// error is never recoverable mid-step (under mpirun, every rank ends).
[[noreturn]] void fail(cudaError_t error, const char *call, const char *file,
                       int line);

#define SLAPO_CUDA_CHECK(expr)                                                 \
  do {                                                                         \
    cudaError_t slapoError = (expr);                                           \
    if (slapoError != cudaSuccess)                                             \
      ::slapo::rt::cuda::fail(slapoError, #expr, __FILE__, __LINE__);          \
  } while (0)
/// After a kernel launch: a bad launch configuration fails here.
#define SLAPO_CUDA_LAUNCHED() SLAPO_CUDA_CHECK(cudaGetLastError())

inline cudaStream_t streamOf(const KernelContext &c) {
  return static_cast<cudaStream_t>(c.stream);
}

/// The view's elements as T (the dtype was checked at load).
template <class T> T *as(const View &view);
template <> inline float *as<float>(const View &view) { return view.f32(); }
template <> inline bf16 *as<bf16>(const View &view) {
  return reinterpret_cast<bf16 *>(view.bf16());
}

/// Instantiates kernel template `name` for both element types.
#define SLAPO_CUDA_KERNEL_TYPES(name)                                          \
  template void name<float>(KernelContext &);                                  \
  template void name<bf16>(KernelContext &)

// Every kernel of the table (KernelTable.def), each defined in the file of
// its family (Gemm.cpp on cuBLASLt; Embedding.cu, Norms.cu, Attention.cu,
// BlockSparse.cu, Elementwise.cu, Shape.cu, Loss.cu, Optimizers.cu;
// Collectives.cpp).
#define SLAPO_TYPED_KERNEL(name, fn)                                           \
  template <class T> void fn(KernelContext &c);
#define SLAPO_SHARED_KERNEL(name, fn) void fn(KernelContext &c);
#define SLAPO_F32_KERNEL(name, fn) void fn(KernelContext &c);
#include "../KernelTable.def"

// Vector.cu: the backend's own calls on f32 buffers, on `stream`.
/// y += alpha * x.
void accumulate(float *y, const float *x, int64_t count, float alpha,
                cudaStream_t stream);
/// y += w * x, w read on the device from scalars->gradientWeight (so a
/// replayed graph uses the step's own weight).
void accumulateWeighted(float *y, const float *x, int64_t count,
                        const StepScalars *scalars, cudaStream_t stream);
/// x *= factor.
void scale(float *x, int64_t count, float factor, cudaStream_t stream);
/// to[i] = value.
void fill(float *to, int64_t count, float value, cudaStream_t stream);
/// Device doubles sumOfSquares needs for its per-block partial sums.
constexpr int kSumPartials = 512;
/// The sum of x[i]^2 in double, written to `*sum` (device memory) on the
/// stream, through `partials` (kSumPartials device doubles); the caller
/// copies it back. Deterministic: a fixed split and fixed-order sums.
void sumOfSquares(const float *x, int64_t count, double *partials, double *sum,
                  cudaStream_t stream);
/// to[i] = draw first + i of `key` (Random.h: scale * normalAt, or
/// boundedUniformAt with bound `scale`), the CPU's numbers.
void drawParameter(float *to, int64_t count, uint64_t key, int64_t first,
                   bool uniform, double scale, cudaStream_t stream);

} // namespace slapo::rt::cuda

#endif // SLAPO_LIB_RUNTIME_CUDA_CUDAKERNELS_H
