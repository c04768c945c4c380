//===- SplanVersion.h - the .splan schema version --------------*- C++ -*-===//
#ifndef SLAPO_PLAN_SPLANVERSION_H
#define SLAPO_PLAN_SPLANVERSION_H

#include <cstdint>

namespace slapo {
/// Bumped whenever the meaning of a .splan changes; the loader refuses
/// other versions.
inline constexpr uint32_t kSplanVersion = 6;
} // namespace slapo

#endif // SLAPO_PLAN_SPLANVERSION_H
