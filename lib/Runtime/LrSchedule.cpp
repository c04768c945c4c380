//===- LrSchedule.cpp - the learning rate of each step --------------------===//

#include "slapo/Runtime/LrSchedule.h"

#include <algorithm>
#include <cmath>

namespace slapo::rt {

double LrSchedule::at(int64_t step) const {
  // The same double arithmetic as transformers' lr_lambda functions.
  if (step < warmupSteps)
    return peak * (double(step) / double(std::max<int64_t>(1, warmupSteps)));
  double decaying = double(std::max<int64_t>(1, totalSteps - warmupSteps));
  switch (kind) {
  case Kind::Constant:
    return peak;
  case Kind::Linear:
    return peak * std::max(0.0, double(totalSteps - step) / decaying);
  case Kind::Cosine: {
    double progress = double(step - warmupSteps) / decaying;
    const double pi = 3.14159265358979323846; // math.pi
    return peak *
           std::max(0.0, 0.5 * (1.0 + std::cos(pi * 0.5 * 2.0 * progress)));
  }
  }
  return peak;
}

bool parseLrScheduleKind(const std::string &text, LrSchedule::Kind &kind) {
  if (text == "constant")
    kind = LrSchedule::Kind::Constant;
  else if (text == "linear")
    kind = LrSchedule::Kind::Linear;
  else if (text == "cosine")
    kind = LrSchedule::Kind::Cosine;
  else
    return false;
  return true;
}

} // namespace slapo::rt
