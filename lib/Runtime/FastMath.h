//===- FastMath.h - an exp the compiler can vectorise -----------*- C++ -*-===//
//
// std::exp is a library call, so loops over it stay scalar. This one is
// branch-free arithmetic (range reduction, a degree-6 polynomial, and the
// exponent written into the float's bits), accurate to about 2 ulp over
// [-87, 88], and GCC vectorises loops that call it. The CUDA kernels call
// it too, so both backends compute one function: its clamp to [-87, 88]
// shows in sigmoid's far tails. Private to lib/Runtime.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_FASTMATH_H
#define SLAPO_LIB_RUNTIME_FASTMATH_H

#include "HostDevice.h"

#include <cstdint>
#include <cstring>

namespace slapo::rt {

SLAPO_HOST_DEVICE inline float vexp(float x) {
  // Clamped so that 2^n is a normal float; a nan is clamped too (its
  // conversion to an integer below would be undefined) and is returned.
  float input = x;
  x = x > -87.0f ? (x < 88.0f ? x : 88.0f) : -87.0f;
  // x = n ln2 + r, |r| <= ln2 / 2, with ln2 split in two for precision.
#ifdef __CUDA_ARCH__
  float n = rintf(x * 1.44269504088896341f);
#else
  float n = __builtin_rintf(x * 1.44269504088896341f); // vroundps
#endif
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
  return input == input ? p * scale : input;
}

SLAPO_HOST_DEVICE inline float vsigmoid(float x) {
  return 1.0f / (1.0f + vexp(-x));
}

} // namespace slapo::rt

#endif // SLAPO_LIB_RUNTIME_FASTMATH_H
