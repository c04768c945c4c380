//===- LrSchedule.h - the learning rate of each step -----------*- C++ -*-===//
//
// Hugging Face transformers' schedules with warmup (get_constant_schedule_
// with_warmup, get_linear_schedule_with_warmup, get_cosine_schedule_with_
// warmup with half a cycle), step for step: optimizer step k (counted from
// 0, as torch's LambdaLR counts) trains at peak * factor(k). With warmup the
// first step's rate is 0, as in transformers.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_LRSCHEDULE_H
#define SLAPO_RUNTIME_LRSCHEDULE_H

#include <cstdint>
#include <string>

namespace slapo::rt {

struct LrSchedule {
  enum class Kind { Constant, Linear, Cosine };
  Kind kind = Kind::Constant;
  double peak = 1e-3;
  int64_t warmupSteps = 0;
  int64_t totalSteps = 0; // where linear and cosine reach 0

  /// The rate of optimizer step `step` (0-based).
  double at(int64_t step) const;
};

/// "constant", "linear" or "cosine"; false for anything else.
bool parseLrScheduleKind(const std::string &text, LrSchedule::Kind &kind);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_LRSCHEDULE_H
