//===- HalfFloatTest.cpp - bfloat16 and IEEE half conversions -------------===//

#include "slapo/Runtime/HalfFloat.h"

#include "gtest/gtest.h"

#include <cmath>
#include <limits>

using namespace slapo::rt;

namespace {

TEST(HalfFloat, Bf16RoundsToNearestEven) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(floatToBf16(-2.0f), 0xc000);
  // Exactly between 0x3f80 and 0x3f81: to the even one; just above: up.
  EXPECT_EQ(floatToBf16(bitsFloat(0x3f808000u)), 0x3f80);
  EXPECT_EQ(floatToBf16(bitsFloat(0x3f818000u)), 0x3f82);
  EXPECT_EQ(floatToBf16(bitsFloat(0x3f808001u)), 0x3f81);
  // The largest finite float rounds to infinity, as PyTorch's does.
  EXPECT_EQ(floatToBf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_TRUE(std::isnan(
      bf16ToFloat(floatToBf16(std::numeric_limits<float>::quiet_NaN()))));
  // A NaN whose payload sits in the low bits only must stay a NaN.
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(bitsFloat(0x7f800001u)))));
}

TEST(HalfFloat, F16RoundsToNearestEvenWithSubnormals) {
  EXPECT_EQ(floatToF16(1.0f), 0x3c00);
  EXPECT_EQ(floatToF16(-0.0f), 0x8000);
  EXPECT_EQ(floatToF16(65504.0f), 0x7bff);
  EXPECT_EQ(floatToF16(65519.0f), 0x7bff);
  EXPECT_EQ(floatToF16(65520.0f), 0x7c00); // rounds up to infinity
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -25)), 0x0000); // tie to even: 0
  EXPECT_EQ(floatToF16(std::ldexp(3.0f, -25)), 0x0002); // tie to even: 2
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -14)), 0x0400); // smallest normal
  // 1 + 2^-11 is halfway between 1 and the next half: to even (1).
  EXPECT_EQ(floatToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(floatToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f16ToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16ToFloat(0xfc00), -std::numeric_limits<float>::infinity());
}

// Every 16-bit pattern survives the trip through float32 (NaNs as NaNs).
TEST(HalfFloat, EveryPatternRoundTrips) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    uint16_t h = uint16_t(bits);
    float viaF16 = f16ToFloat(h), viaBf16 = bf16ToFloat(h);
    if (std::isnan(viaF16))
      EXPECT_TRUE(std::isnan(f16ToFloat(floatToF16(viaF16)))) << bits;
    else
      EXPECT_EQ(floatToF16(viaF16), h) << bits;
    if (std::isnan(viaBf16))
      EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(viaBf16)))) << bits;
    else
      EXPECT_EQ(floatToBf16(viaBf16), h) << bits;
  }
}

// Against double arithmetic: the nearest half to x, ties to even, for
// many floats between the half's subnormals and its largest value.
TEST(HalfFloat, F16IsTheNearestHalf) {
  uint32_t state = 12345;
  for (int trial = 0; trial < 200000; ++trial) {
    state = state * 1664525u + 1013904223u;
    float x =
        std::ldexp(float(state >> 8) / float(1u << 24), int(state % 40) - 26);
    uint16_t h = floatToF16(x);
    double got = f16ToFloat(h);
    double below = f16ToFloat(uint16_t(h - (h ? 1 : 0)));
    double above = f16ToFloat(uint16_t(h + 1));
    if (std::isinf(got))
      continue;
    EXPECT_LE(std::abs(got - x), std::abs(below - x)) << x;
    EXPECT_LE(std::abs(got - x), std::abs(above - x)) << x;
  }
}

} // namespace
