//===- Element.h - the element types CPU kernels are written over -*- C++
//-*-===//
//
// Kernels over activations are templates on their storage type T: float or
// bf16. A bf16 element converts to float on read and rounds to nearest even
// on write, so one kernel body computes in float32 for both and the float
// instantiation is exactly the float32 kernel. Accumulators stay float (or
// double); only loads and stores see T. Private to lib/Runtime/CPU.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CPU_ELEMENT_H
#define SLAPO_LIB_RUNTIME_CPU_ELEMENT_H

#include "slapo/Runtime/HalfFloat.h"
#include "slapo/Runtime/Kernels.h"

namespace slapo::rt::cpu {

/// A bfloat16 in memory: 16 bits, read as float, written from float.
struct bf16 {
  uint16_t bits;

  bf16() = default;
  bf16(float value) : bits(round(value)) {}
  /// Stores write the bits in place (no temporary bf16), which GCC's
  /// vectoriser needs.
  bf16 &operator=(float value) {
    bits = round(value);
    return *this;
  }
  operator float() const { return bf16ToFloat(bits); }
  bf16 &operator+=(float value) { return *this = float(*this) + value; }
  bf16 &operator*=(float value) { return *this = float(*this) * value; }

  /// floatToBf16 (round to nearest even, NaN stays a quiet NaN), written
  /// without a branch so that loops storing bf16 vectorise.
  static uint16_t round(float value) {
    uint32_t word = floatBits(value);
    uint32_t rounded = (word + 0x7fffu + ((word >> 16) & 1u)) >> 16;
    uint32_t quiet = (word >> 16) | 0x40u;
    return uint16_t((word & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
  }
};
static_assert(sizeof(bf16) == 2, "bf16 is two bytes");

/// The view's elements as T (the dtype was checked at load).
template <class T> T *as(const View &view);
template <> inline float *as<float>(const View &view) { return view.f32(); }
template <> inline bf16 *as<bf16>(const View &view) {
  return reinterpret_cast<bf16 *>(view.bf16());
}

/// The DType of T.
template <class T> constexpr DType dtypeOf();
template <> constexpr DType dtypeOf<float>() { return DType::F32; }
template <> constexpr DType dtypeOf<bf16>() { return DType::BF16; }

} // namespace slapo::rt::cpu

/// Instantiates kernel template `name` for both element types.
#define SLAPO_CPU_KERNEL_TYPES(name)                                           \
  template void name<float>(KernelContext &);                                  \
  template void name<bf16>(KernelContext &)

#endif // SLAPO_LIB_RUNTIME_CPU_ELEMENT_H
