//===- Job.h - the processes of one slapo-run job --------------*- C++ -*-===//
//
// A job is P processes started by an MPI launcher (`mpirun -np P`, `srun`),
// or one process started by hand. It splits into tensor-parallel groups of
// the plan's tp ranks and data-parallel groups across them (world rank =
// dp rank * tp + tp rank). Every check that could fail on some ranks only
// goes through agree(), so a failure ends all ranks with one message
// instead of leaving the others waiting in a collective.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_JOB_H
#define SLAPO_RUNTIME_JOB_H

#include "slapo/Runtime/Communicator.h"

#include <cstdint>
#include <memory>
#include <string>

namespace slapo::rt {

class Job {
public:
  /// Starts MPI when a launcher started this process; otherwise a job of
  /// one. Null, with `error`, when MPI cannot start.
  static std::unique_ptr<Job> start(int *argc, char ***argv,
                                    std::string &error);
  ~Job();

  int rank() const { return worldGroup->rank(); }
  int size() const { return worldGroup->size(); }
  bool distributed() const { return mpi; }
  Communicator &world() { return *worldGroup; }

  /// Splits the job into tensor-parallel groups of `tp` ranks; the job's
  /// size must be a multiple of `tp`.
  bool formGroups(int tp, std::string &error);
  ProcessGroups groups() { return {tpGroup.get(), dpGroup.get()}; }

  /// Collective. True when `ok` holds on every rank; otherwise false on
  /// every rank, with `error` set to the first failing rank's message
  /// (prefixed with that rank when others passed).
  bool agree(bool ok, std::string &error);

  /// Collective. True when every rank passes the same `fingerprint`;
  /// otherwise `error` says which rank's `what` differs from rank 0's.
  bool same(uint64_t fingerprint, const std::string &what, std::string &error);

  /// Ends every rank now with exit status `code`.
  [[noreturn]] void abort(int code);

private:
  Job() = default;
  bool mpi = false;
  std::unique_ptr<Communicator> worldGroup, tpGroup, dpGroup;
};

/// FNV-1a over `bytes`, continuing from `hash`.
uint64_t fingerprint(const void *bytes, size_t size,
                     uint64_t hash = 1469598103934665603ull);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_JOB_H
