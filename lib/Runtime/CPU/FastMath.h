//===- FastMath.h - an exp the compiler can vectorise ----------*- C++ -*-===//
//
// std::exp is a library call, so loops over it stay scalar. This one is
// branch-free arithmetic (range reduction, a degree-6 polynomial, and the
// exponent written into the float's bits), accurate to about 2 ulp over
// [-87, 88], and GCC vectorises loops that call it. Private to lib/Runtime.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CPU_FASTMATH_H
#define SLAPO_LIB_RUNTIME_CPU_FASTMATH_H

#include <cstdint>
#include <cstring>

namespace slapo::rt::cpu {

inline float vexp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // x = n ln2 + r, |r| <= ln2 / 2, with ln2 split in two for precision.
  float n = __builtin_rintf(x * 1.44269504088896341f); // vroundps
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  // e^r on [-ln2/2, ln2/2] (Cephes expf coefficients).
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

} // namespace slapo::rt::cpu

#endif // SLAPO_LIB_RUNTIME_CPU_FASTMATH_H
