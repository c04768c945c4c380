//===- DType.h - element types of the runtime -------------------*- C++ -*-===//
#ifndef SLAPO_RUNTIME_DTYPE_H
#define SLAPO_RUNTIME_DTYPE_H

#include <cstdint>

namespace slapo::rt {

/// The element types a .splan names. CPU kernels exist for F32, BF16 and I64.
enum class DType { F32, BF16, F16, I64, I32, I8, U8 };

inline int64_t dtypeBytes(DType dtype) {
  switch (dtype) {
  case DType::I64:
    return 8;
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::BF16:
  case DType::F16:
    return 2;
  case DType::I8:
  case DType::U8:
    return 1;
  }
  return 0;
}

inline const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::BF16:
    return "bf16";
  case DType::F16:
    return "f16";
  case DType::I64:
    return "i64";
  case DType::I32:
    return "i32";
  case DType::I8:
    return "i8";
  case DType::U8:
    return "u8";
  }
  return "?";
}

inline bool isFloat(DType dtype) {
  return dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::F16;
}

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_DTYPE_H
