//===- Gemm.h - row-major GEMMs through cuBLASLt ----------------*- C++ -*-===//
//
// The CUDA backend's GEMMs: bf16 operands with float32 accumulation, or f32
// with TF32 off (exact to float32 rounding, for the tests against the CPU).
// Private to lib/Runtime/CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CUDA_GEMM_H
#define SLAPO_LIB_RUNTIME_CUDA_GEMM_H

#include "slapo/Runtime/DType.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace slapo::rt::cuda {

/// C[m, n] = op(A) op(B) (+ bias[n]) for `batch` matrices, all row-major:
/// op(A) is [m, k] (A stored [k, m] when transA), op(B) is [k, n] (B stored
/// [n, k] when transB); batch i reads A + i * m * k, B + i * k * n and
/// writes C + i * m * n. Every operand and the bias have `dtype`.
struct GemmShape {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool transA = false, transB = false;
  DType dtype = DType::F32;
};

void gemm(const GemmShape &shape, const void *a, const void *b,
          const void *bias, void *c, cudaStream_t stream);

/// The process's cuBLASLt handle and workspace, made by the backend.
void initGemm(cublasLtHandle_t handle, void *workspace, uint64_t bytes);

} // namespace slapo::rt::cuda

#endif // SLAPO_LIB_RUNTIME_CUDA_GEMM_H
