//===- ParallelTiles.h - independent GEMM tiles on OpenMP threads -*- C++
//-*-===//
//
// Kernels made of many small products (attention's heads, block-sparse
// tiles) run them on the OpenMP threads with single-threaded OpenBLAS, and
// compute bf16 operands on float copies. Private to lib/Runtime/CPU.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CPU_PARALLELTILES_H
#define SLAPO_LIB_RUNTIME_CPU_PARALLELTILES_H

#include <cblas.h>
#include <cstdint>
#include <omp.h>
#include <vector>

namespace slapo::rt::cpu {

/// Runs `body(i, scratch)` over [0, n) in parallel with OpenBLAS kept
/// single-threaded; `scratch` is the thread's own `scratchFloats` floats
/// (the float copies of a bf16 head or tile; none for float).
template <typename Body>
void parallelTasks(int64_t n, int64_t scratchFloats, Body body) {
  // OpenBLAS's OpenMP build sets OpenMP's thread count along with its own,
  // so the team size is read before and given to the region explicitly.
  int threads = omp_get_max_threads();
  int blasThreads = openblas_get_num_threads();
  openblas_set_num_threads(1);
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> scratch(static_cast<size_t>(scratchFloats));
#pragma omp for schedule(dynamic)
    for (int64_t i = 0; i < n; ++i)
      body(i, scratch.data());
  }
  openblas_set_num_threads(blasThreads);
  omp_set_num_threads(threads); // which that call changed too
}

/// dst[0, n) = src[0, n) as float.
template <class T> void toFloat(const T *src, int64_t n, float *dst) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    dst[i] = src[i];
}

/// dst[0, n) = src[0, n) as T (rounded to nearest even for bf16).
template <class T> void fromFloat(const float *src, int64_t n, T *dst) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    dst[i] = src[i];
}

} // namespace slapo::rt::cpu

#endif // SLAPO_LIB_RUNTIME_CPU_PARALLELTILES_H
