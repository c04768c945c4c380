//===- Random.h - counter-based random numbers -----------------*- C++ -*-===//
//
// Dropout masks are a pure function of (seed, step, stream, element), so the
// backward pass and recomputation see exactly the forward's mask without
// storing it. Weights are a pure function of (seed, parameter name, element
// index): every rank draws its own block, and any backend or tp degree draws
// the same numbers. Nothing here comes from the C++ standard library's
// generators or distributions, whose output differs between library
// versions. The functions of numbers alone compile for the device too (the
// CUDA backend draws weights and dropout masks with them). Private to
// lib/Runtime.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_RANDOM_H
#define SLAPO_LIB_RUNTIME_RANDOM_H

#include "HostDevice.h"

#include <cmath>
#include <cstdint>
#include <string>

namespace slapo::rt {

SLAPO_HOST_DEVICE inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// A uniform number in [0, 1) for one element of one stream of one step.
SLAPO_HOST_DEVICE inline float uniformAt(uint64_t seed, uint64_t step,
                                         uint64_t stream, uint64_t index) {
  uint64_t key =
      mix64(mix64(mix64(seed) ^ step) ^ (stream * 0x632be59bd9b4e019ull));
  return float(mix64(key ^ index) >> 40) * (1.0f / float(1ull << 24));
}

/// The dropout multiplier of one element: 0, or 1/(1-p) when kept.
SLAPO_HOST_DEVICE inline float dropoutScale(uint64_t seed, uint64_t step,
                                            uint64_t stream, uint64_t index,
                                            float p) {
  return uniformAt(seed, step, stream, index) < p ? 0.0f : 1.0f / (1.0f - p);
}

/// FNV-1a of `text`: a name's hash that is the same on every platform.
inline uint64_t nameHash(const std::string &text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char ch : text)
    hash = (hash ^ ch) * 0x100000001b3ull;
  return hash;
}

/// The generator key of one parameter.
inline uint64_t parameterKey(uint64_t seed, const std::string &name) {
  return mix64(mix64(seed) ^ nameHash(name));
}

/// 53 random bits of counter `counter` of `key`, as a double in [0, 1).
SLAPO_HOST_DEVICE inline double unitAt(uint64_t key, uint64_t counter) {
  return double(mix64(key ^ mix64(counter)) >> 11) * (1.0 / 9007199254740992.0);
}

/// A standard normal number for element `index` (Box-Muller on counters
/// 2 index and 2 index + 1, in double precision).
SLAPO_HOST_DEVICE inline double normalAt(uint64_t key, uint64_t index) {
  double u1 = 1.0 - unitAt(key, 2 * index); // (0, 1]: the log is finite
  double u2 = unitAt(key, 2 * index + 1);
  return ::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586 * u2);
}

/// A number uniform in [-bound, bound) for element `index`.
SLAPO_HOST_DEVICE inline double boundedUniformAt(uint64_t key, uint64_t index,
                                                 double bound) {
  return bound * (2.0 * unitAt(key, 2 * index) - 1.0);
}

} // namespace slapo::rt

#endif // SLAPO_LIB_RUNTIME_RANDOM_H
