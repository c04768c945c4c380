//===- HalfFloat.h - bfloat16 and IEEE half conversions --------*- C++ -*-===//
//
// Bit-exact conversions between float32 and the two 16-bit float formats
// checkpoints ship in. float32 -> 16 bits rounds to nearest, ties to even
// (as PyTorch's .to(torch.bfloat16) / .half() do); NaN stays NaN.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_HALFFLOAT_H
#define SLAPO_RUNTIME_HALFFLOAT_H

#include <cmath>
#include <cstdint>
#include <cstring>

namespace slapo::rt {

inline uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

inline float bitsFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline float bf16ToFloat(uint16_t bits) {
  return bitsFloat(uint32_t(bits) << 16);
}

inline uint16_t floatToBf16(float value) {
  uint32_t bits = floatBits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN: keep it quiet and a NaN
    return uint16_t((bits >> 16) | 0x40u);
  uint32_t roundingBias = 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t((bits + roundingBias) >> 16);
}

inline float f16ToFloat(uint16_t half) {
  uint32_t sign = uint32_t(half & 0x8000u) << 16;
  uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0x1f) // inf or NaN
    return bitsFloat(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0)
    return bitsFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in float32.
  float magnitude = float(mantissa) * (1.0f / 16777216.0f);
  return sign ? -magnitude : magnitude;
}

inline uint16_t floatToF16(float value) {
  uint32_t bits = floatBits(value);
  uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) // NaN
    return uint16_t(sign | 0x7e00u);
  if (magnitude >= 0x477ff000u) // rounds to 65520 or more: infinity
    return uint16_t(sign | 0x7c00u);
  if (magnitude < 0x38800000u) { // below 2^-14: subnormal or zero
    // Scale to units of 2^-24 and round to nearest even in float32.
    float scaled = bitsFloat(magnitude) * 16777216.0f;
    return uint16_t(sign | uint16_t(std::nearbyint(scaled))); // ties to even
  }
  uint32_t exponent = (magnitude >> 23) - 112;
  uint32_t mantissa = magnitude & 0x7fffffu;
  uint32_t half = (exponent << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
    ++half; // may carry into the exponent, which is right
  return uint16_t(sign | half);
}

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_HALFFLOAT_H
