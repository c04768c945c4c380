//===- WithoutMpi.cpp - slapo-run built where MPI is absent ---------------===//
//
// A runtime-only build on a machine without OpenMPI (scripts/gpu-check.sh
// on a GPU machine) still makes slapo-run: its jobs are one process. A
// launcher's environment gets a clear refusal, never a job whose ranks
// each think they are alone.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Mpi.h"

#include <cstdio>
#include <cstdlib>

namespace slapo::rt::mpi {

bool initialize(int *, char ***, std::string &error) {
  error = "this slapo-run was built without MPI: it runs one process, not "
          "under a launcher (rebuild where OpenMPI is installed)";
  return false;
}

void finalize() {}

std::unique_ptr<Communicator> world() {
  return std::make_unique<SelfCommunicator>();
}

std::unique_ptr<Communicator> split(Communicator &, int, int) {
  return std::make_unique<SelfCommunicator>();
}

void setCollectiveTimeout(double) {}

void setMaxCountPerCall(Communicator &, int64_t) {}

void abortAll(int code) {
  std::fflush(nullptr);
  std::_Exit(code);
}

} // namespace slapo::rt::mpi
