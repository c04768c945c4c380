//===- Job.cpp - the processes of one slapo-run job -----------------------===//

#include "slapo/Runtime/Job.h"
#include "slapo/Runtime/Mpi.h"

#include <cstdlib>
#include <vector>

namespace slapo::rt {

uint64_t fingerprint(const void *bytes, size_t size, uint64_t hash) {
  const auto *p = static_cast<const unsigned char *>(bytes);
  for (size_t i = 0; i < size; ++i)
    hash = (hash ^ p[i]) * 1099511628211ull;
  return hash;
}

std::unique_ptr<Job> Job::start(int *argc, char ***argv, std::string &error) {
  auto job = std::unique_ptr<Job>(new Job());
  if (mpi::launchedByLauncher()) {
    if (!mpi::initialize(argc, argv, error))
      return nullptr;
    job->mpi = true;
    job->worldGroup = mpi::world();
  } else {
    job->worldGroup = std::make_unique<SelfCommunicator>();
  }
  return job;
}

Job::~Job() {
  tpGroup.reset();
  dpGroup.reset();
  worldGroup.reset();
  if (mpi)
    mpi::finalize();
}

bool Job::formGroups(int tp, std::string &error) {
  if (tp < 1 || size() % tp != 0) {
    error = "the plan is compiled for tp " + std::to_string(tp) + ", and " +
            std::to_string(size()) +
            (size() == 1 ? " process does" : " processes do") +
            " not split into tensor-parallel groups of " + std::to_string(tp) +
            ": launch a multiple of " + std::to_string(tp) + " (mpirun -np " +
            std::to_string(tp) + " slapo-run ...)";
    return false;
  }
  if (!mpi) {
    tpGroup = std::make_unique<SelfCommunicator>();
    dpGroup = std::make_unique<SelfCommunicator>();
    return true;
  }
  int tpRank = rank() % tp, dpRank = rank() / tp;
  tpGroup = mpi::split(*worldGroup, /*color=*/dpRank, /*key=*/tpRank);
  dpGroup = mpi::split(*worldGroup, /*color=*/tpRank, /*key=*/dpRank);
  return true;
}

bool Job::agree(bool ok, std::string &error) {
  return agreeAcross(*worldGroup, ok, error);
}

bool Job::same(uint64_t fingerprint, const std::string &what,
               std::string &error) {
  if (size() == 1)
    return true;
  std::vector<int64_t> all(size_t(size()), 0);
  all[size_t(rank())] = int64_t(fingerprint);
  // A sum of one nonzero entry per rank gathers the fingerprints.
  worldGroup->allReduce(all.data(), size(), ReduceOp::Sum);
  for (int r = 1; r < size(); ++r)
    if (all[size_t(r)] != all[0]) {
      error = "rank " + std::to_string(r) + " was started with another " +
              what + " than rank 0: every rank of a job must run the same";
      return false;
    }
  return true;
}

void Job::abort(int code) {
  if (mpi)
    mpi::abortAll(code);
  std::exit(code);
}

} // namespace slapo::rt
