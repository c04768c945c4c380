//===- NonFinite.h - Names of non-finite numbers in messages ----*- C++ -*-===//
//
// The word an error message uses for a non-finite value, as Python prints
// it: "nan", "inf" or "-inf" (a weight that loads as nan, a loss that
// becomes inf during training).
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_NONFINITE_H
#define SLAPO_RUNTIME_NONFINITE_H

#include <cmath>
#include <string>

namespace slapo::rt {

/// "nan", "inf" or "-inf"; only meaningful for a non-finite `value`.
inline std::string nonFiniteName(double value) {
  return std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
}

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_NONFINITE_H
