//===- Options.h - slapo-run's command line --------------------*- C++ -*-===//
//
// Every option of slapo-run, parsed by CLI11: `--opt value` and
// `--opt=value`, --help with a line for each option. A value out of range
// (a negative step count, a non-finite learning rate, an unknown schedule)
// and options that contradict each other are refused here, before a plan
// is read.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_TOOLS_SLAPO_RUN_OPTIONS_H
#define SLAPO_TOOLS_SLAPO_RUN_OPTIONS_H

#include "slapo/Runtime/Checkpoint.h"

#include <cstdint>
#include <string>

namespace slapo::run {

struct Options {
  std::string plan, data, init, save, metrics, saveAdapter, initAdapter;
  std::string evalData, saveBest, saveState, resume;
  int64_t saveEvery = 0;      // 0: at the end only
  int64_t saveTotalLimit = 0; // 0: keep every saved state
  int64_t evalEvery = 0;      // 0: at the end only
  int64_t evalBatches = 0;    // 0: the whole evaluation set
  std::string device = "cpu";
  rt::SaveOptions saveOptions;
  int64_t steps = 10;
  int64_t epochs = 0; // 0: --steps counts the run
  int64_t batch = 0;  // global rows per step; 0: the plan's batch times dp
  double lr = 1e-3;
  std::string lrSchedule = "constant";
  int64_t warmupSteps = 0;
  double warmupRatio = 0.0; // of the run's steps, instead of warmupSteps
  double maxGradNorm = 0.0; // 0: no clipping
  double bucketMiB = 25.0;  // data-parallel gradient all-reduce bucket
  uint64_t seed = 0;
  bool shuffle = false; // on by default with --epochs
  bool pack = false;
  bool info = false;
  bool profile = false;
  bool mergeLora = false;
};

enum class ParseOutcome { Run, Help, Error };

/// Parses argv into `options`. Help: `message` is the help text. Error:
/// `message` says what is wrong with which option.
ParseOutcome parseOptions(int argc, char **argv, Options &options,
                          std::string &message);

} // namespace slapo::run

#endif // SLAPO_TOOLS_SLAPO_RUN_OPTIONS_H
