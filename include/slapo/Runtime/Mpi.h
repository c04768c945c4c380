//===- Mpi.h - the MPI backend: bootstrap and CPU collectives --*- C++ -*-===//
//
// slapo-run's processes meet through MPI: `mpirun -np P slapo-run ...` (or
// `srun`). No mpi.h here; lib/Runtime/MPI holds the only MPI calls.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_MPI_H
#define SLAPO_RUNTIME_MPI_H

#include "slapo/Runtime/Communicator.h"

#include <memory>
#include <string>

namespace slapo::rt::mpi {

/// True when an MPI launcher (mpirun, mpiexec, srun) started this process.
/// A process started by hand runs alone, without MPI.
bool launchedByLauncher();

/// MPI_Init. False, with `error`, when MPI cannot start.
bool initialize(int *argc, char ***argv, std::string &error);
/// MPI_Finalize, once every rank is done.
void finalize();

/// All ranks of the job.
std::unique_ptr<Communicator> world();

/// MPI_Comm_split of an MPI communicator: ranks passing the same `color`
/// form a group, ordered by `key`.
std::unique_ptr<Communicator> split(Communicator &parent, int color, int key);

/// How long one collective of an MPI communicator (and the barriers before
/// MPI_Comm_split and MPI_Finalize) waits for the other ranks, in seconds
/// (> 0; 300 by default). Past it the waiting rank prints which collective
/// did not complete and ends every rank of the job (MPI_Abort): a stopped,
/// hung or dead rank never leaves the others waiting forever.
void setCollectiveTimeout(double seconds);

/// The most elements (bytes for broadcast) one MPI call of an MPI
/// communicator carries; larger collectives are split into several calls.
/// MPI's limit (its counts are `int`) by default; tests lower it.
void setMaxCountPerCall(Communicator &communicator, int64_t count);

/// Ends every rank of the job now (MPI_Abort) with exit status `code`.
[[noreturn]] void abortAll(int code);

} // namespace slapo::rt::mpi

#endif // SLAPO_RUNTIME_MPI_H
