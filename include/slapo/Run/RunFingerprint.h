//===- RunFingerprint.h - what every rank of a job must share --*- C++ -*-===//
//
// Fingerprints of what decides a run's trajectory: the ranks of a job
// compare them before they train, and a saved state records the data's.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUN_RUNFINGERPRINT_H
#define SLAPO_RUN_RUNFINGERPRINT_H

#include "slapo/Run/RunOptions.h"

#include <cstdint>
#include <string>

namespace slapo::run {

/// Bytes of `path`, hashed ("" hashes to the empty fingerprint).
uint64_t fileFingerprint(const std::string &path);

/// The plan, the data and every option that decides the trajectory or the
/// collectives that run.
uint64_t runFingerprint(const Options &options);

/// The weights every rank starts from: every byte of the files the
/// checkpoint and the adapter resolve to (an index's shards, not the
/// directory's other files). 0 with `error` when one cannot be read.
uint64_t weightsFingerprint(const Options &options, std::string &error);

} // namespace slapo::run

#endif // SLAPO_RUN_RUNFINGERPRINT_H
