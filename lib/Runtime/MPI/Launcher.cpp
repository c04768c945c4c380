//===- Launcher.cpp - whether mpirun or srun started this process --------===//

#include "slapo/Runtime/Mpi.h"

#include <cstdlib>

namespace slapo::rt::mpi {

bool launchedByLauncher() {
  for (const char *variable :
       {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(variable))
      return true;
  return false;
}

} // namespace slapo::rt::mpi
