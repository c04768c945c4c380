//===- RunOptions.h - what a training run is asked to do -------*- C++ -*-===//
//
// Everything a training run takes from slapo-run's command line
// (tools/slapo-run/Options.cpp parses it; docs/training.md describes each).
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUN_RUNOPTIONS_H
#define SLAPO_RUN_RUNOPTIONS_H

#include "slapo/Runtime/Checkpoint.h"

#include <cstdint>
#include <string>

namespace slapo::run {

struct Options {
  std::string plan, data, init, save, metrics, saveAdapter, initAdapter;
  std::string evalData, saveBest, saveState, resume;
  std::string savePredictors; // sparsify predictor=train: the predictors' file
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
  double timeout = 300.0;   // seconds a collective waits for the others
  uint64_t seed = 0;
  bool shuffle = false; // on by default with --epochs
  bool pack = false;
  bool info = false;
  bool profile = false;
  bool mergeLora = false;
  bool skipNonFiniteSteps = false; // else a non-finite loss stops the run
};

} // namespace slapo::run

#endif // SLAPO_RUN_RUNOPTIONS_H
