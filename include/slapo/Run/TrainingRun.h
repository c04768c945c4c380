//===- TrainingRun.h - one training run, as slapo-run does it --*- C++ -*-===//
//
// A whole run from its options: read the plan and the data, agree across
// the job's ranks, load or resume, train with evaluation, metrics and
// saved states, stop cleanly on SIGINT/SIGTERM, and save. slapo-run is its
// command line (tools/slapo-run) around this call.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUN_TRAININGRUN_H
#define SLAPO_RUN_TRAININGRUN_H

#include "slapo/Run/RunOptions.h"
#include "slapo/Runtime/Job.h"

namespace slapo::run {

/// Runs `options` on every rank of `job`; the leader prints. Returns the
/// exit status: 0, 1 after an error (printed as "slapo-run: error: ..."),
/// or 128 + the signal that stopped the run.
int train(rt::Job &job, Options options);

} // namespace slapo::run

#endif // SLAPO_RUN_TRAININGRUN_H
