//===- Bf16Gemm.h - bf16 GEMMs with float32 accumulation -------*- C++ -*-===//
//
// C = op(A) op(B) (+ bias) on bf16 operands, accumulated in float32 and
// rounded once into C, through oneDNN's matmul (AMX or AVX512-BF16 where
// the CPU has them). Private to lib/Runtime/CPU.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CPU_BF16GEMM_H
#define SLAPO_LIB_RUNTIME_CPU_BF16GEMM_H

#include "Element.h"

namespace slapo::rt::cpu {

/// One GEMM shape, row-major: `batch` products of A [m, k] (stored [k, m]
/// when transA) by B [k, n] (stored [n, k] when transB) into C [m, n],
/// batches `m*k`, `k*n` and `m*n` elements apart.
struct GemmShape {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool transA = false, transB = false;
  /// A bias [n] added to every row (batch 1 only).
  bool bias = false;

  bool operator<(const GemmShape &other) const;
};

/// Runs the GEMM. The first call for a shape builds and caches oneDNN's
/// primitive; later ones reuse it. Shapes oneDNN cannot (or, see
/// Bf16Gemm.cpp, must not) run go through float32 with one rounding.
void gemmBf16(const GemmShape &shape, const bf16 *a, const bf16 *b,
              const bf16 *bias, bf16 *c);

} // namespace slapo::rt::cpu

#endif // SLAPO_LIB_RUNTIME_CPU_BF16GEMM_H
