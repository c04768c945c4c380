//===- TrainingState.h - resumable training: save and resume ---*- C++ -*-===//
//
// A state directory holds everything a run needs to continue bit for bit:
//
//   ROOT/step-00000120/model.safetensors      every parameter, whole, f32
//   ROOT/step-00000120/optimizer.safetensors  AdamW's exp_avg, exp_avg_sq
//   ROOT/step-00000120/trainer_state.json     step, seed, best evaluation,
//                                             plan and data fingerprints
//
// Each save writes a hidden temporary directory, flushes every file and the
// directory to disk, then renames it into place, so a process killed
// mid-save leaves the previous state whole (and an ignored temporary).
// Dropout masks and the data order are functions of (seed, step), so the
// step and seed are the whole of the generator and data cursor state.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_TRAININGSTATE_H
#define SLAPO_RUNTIME_TRAININGSTATE_H

#include "slapo/Runtime/Trainer.h"

#include <cstdint>
#include <string>

namespace slapo::rt {

struct TrainingProgress {
  int64_t step = 0; // optimizer steps done
  uint64_t seed = 0;
  double bestEval = 0.0; // the best evaluation loss so far (hasBestEval)
  bool hasBestEval = false;
  uint64_t plan = 0; // fingerprints: the state fits only the same plan
  uint64_t data = 0; // and data
};

/// Saves the trainer's state as ROOT/step-N (N = progress.step), then
/// removes all but the newest `keepLast` step directories (0: keep all).
/// Collective over the trainer's tensor-parallel group; the rank that
/// writes files for the job writes.
bool saveTrainingState(const Trainer &trainer, const std::string &root,
                       const TrainingProgress &progress, int64_t keepLast,
                       std::string &error);

/// Loads the state at `path`: a step directory, or a ROOT whose newest
/// complete step directory is taken. Sets the weights, the optimizer state
/// and the step count, and returns the progress. Refuses a state whose
/// plan fingerprint is not `planFingerprint`.
bool loadTrainingState(Trainer &trainer, const std::string &path,
                       uint64_t planFingerprint, TrainingProgress &progress,
                       std::string &error);

/// The step directory loadTrainingState would take for `path` ("" when
/// there is none, with `error`).
std::string resolveStateDirectory(const std::string &path, std::string &error);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_TRAININGSTATE_H
