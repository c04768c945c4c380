//===- LaneSum.h - long float sums in SIMD lanes ----------------*- C++ -*-===//
//
// The sum of term(j) over [0, n): float partial sums of 256 terms, in SIMD
// lanes, added in double. Rows of thousands of terms keep about float's
// precision per block and double's across blocks, and the loop vectorises.
// Private to lib/Runtime/CPU.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CPU_LANESUM_H
#define SLAPO_LIB_RUNTIME_CPU_LANESUM_H

#include <algorithm>
#include <cstdint>

namespace slapo::rt::cpu {

template <typename Term> double laneSum(int64_t n, Term term) {
  double total = 0.0;
  for (int64_t j0 = 0; j0 < n; j0 += 256) {
    float part = 0.0f;
    int64_t j1 = std::min(n, j0 + 256);
#pragma omp simd reduction(+ : part)
    for (int64_t j = j0; j < j1; ++j)
      part += term(j);
    total += part;
  }
  return total;
}

} // namespace slapo::rt::cpu

#endif // SLAPO_LIB_RUNTIME_CPU_LANESUM_H
