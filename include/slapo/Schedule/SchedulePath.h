//===- SchedulePath.h - the bounds a schedule puts on its paths -*- C++ -*-===//
//
// graph::PathPattern expands a set or range into its members and matches
// `**` by backtracking. A schedule's paths go through parseSchedulePath
// first, which keeps both cheap:
//
//   - a set or range of more than kMaxSetMembers members is refused (no
//     model has that many layers; `{0..999999999}` would take gigabytes);
//   - consecutive `**` segments mean the same as one and are collapsed, so
//     `**.**.**.attn` matches as fast as `**.attn`. The matcher then tries
//     at most 2^depth splits of a path of `depth` components, whatever the
//     length of the pattern.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_SCHEDULE_SCHEDULEPATH_H
#define SLAPO_SCHEDULE_SCHEDULEPATH_H

#include "graph/PathPattern.h"

#include <cstdint>
#include <optional>
#include <string>

namespace slapo::sched {

/// The most members one `{...}` of a schedule path may have.
constexpr uint64_t kMaxSetMembers = 65536;

/// Parses the schedule path `text` within the bounds above; on failure
/// returns nullopt, with `error` saying what is wrong and `column` (0-based,
/// within `text`) where.
std::optional<graph::PathPattern>
parseSchedulePath(llvm::StringRef text, std::string &error, size_t &column);

} // namespace slapo::sched

#endif // SLAPO_SCHEDULE_SCHEDULEPATH_H
