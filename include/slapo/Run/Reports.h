//===- Reports.h - what a training run prints ------------------*- C++ -*-===//
//
// slapo-run's words to its user: the --info object, warnings about what
// --init left out, the progress of training (a bar on a terminal, ten
// lines otherwise) and the --profile table. The leader prints; the other
// ranks stay quiet.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUN_REPORTS_H
#define SLAPO_RUN_REPORTS_H

#include "slapo/Run/RunOptions.h"
#include "slapo/Runtime/Plan.h"
#include "slapo/Runtime/Trainer.h"

#include <cstdint>
#include <map>
#include <string>

namespace slapo::run {

/// --info's JSON object: the plan's shapes, sizes and memory, which is
/// what each rank's device (`device`, Backend::describe) holds.
std::string infoJson(const rt::Plan &plan, const std::string &device);

/// Warns about what --init left out: no tensor is ignored silently.
void reportLoad(const Options &options, const rt::Trainer::LoadReport &loaded);

/// The progress of training on stderr.
class ProgressLine {
public:
  /// Nothing is shown unless `shown` (the leader).
  ProgressLine(bool shown, int64_t totalSteps);
  void step(int64_t done, double loss, double lr, double tokensPerSecond);
  /// Ends the bar's line before other output (an evaluation, the end).
  void breakLine();

private:
  bool shown, terminal;
  int64_t total;
};

/// --profile's table: each kernel's time per step and its share, slowest
/// first, on stdout.
void printProfile(const std::map<std::string, double> &seconds, int64_t steps);

} // namespace slapo::run

#endif // SLAPO_RUN_REPORTS_H
