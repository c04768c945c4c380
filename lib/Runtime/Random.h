//===- Random.h - counter-based random numbers -----------------*- C++ -*-===//
//
// Dropout masks are a pure function of (seed, step, stream, element), so the
// backward pass and recomputation see exactly the forward's mask without
// storing it. Private to lib/Runtime.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_RANDOM_H
#define SLAPO_LIB_RUNTIME_RANDOM_H

#include <cstdint>

namespace slapo::rt {

inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// A uniform number in [0, 1) for one element of one stream of one step.
inline float uniformAt(uint64_t seed, uint64_t step, uint64_t stream,
                       uint64_t index) {
  uint64_t key =
      mix64(mix64(mix64(seed) ^ step) ^ (stream * 0x632be59bd9b4e019ull));
  return float(mix64(key ^ index) >> 40) * (1.0f / float(1ull << 24));
}

/// The dropout multiplier of one element: 0, or 1/(1-p) when kept.
inline float dropoutScale(uint64_t seed, uint64_t step, uint64_t stream,
                          uint64_t index, float p) {
  return uniformAt(seed, step, stream, index) < p ? 0.0f : 1.0f / (1.0f - p);
}

} // namespace slapo::rt

#endif // SLAPO_LIB_RUNTIME_RANDOM_H
