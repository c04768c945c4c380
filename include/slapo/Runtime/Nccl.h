//===- Nccl.h - the NCCL backend: collectives on GPU buffers ---*- C++ -*-===//
//
// Built when the CUDA toolkit with NCCL is present (SLAPO_HAVE_NCCL). The
// job still starts through MPI: rank 0 of the group makes NCCL's unique id
// and broadcasts it over the MPI group, then every rank joins the NCCL
// communicator on its own device. Buffers given to its collectives are
// device memory; each call returns when its result is in place, but for
// a call on a stream that is being captured into a CUDA graph, which is
// ordered on that stream instead.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_NCCL_H
#define SLAPO_RUNTIME_NCCL_H

#include "slapo/Runtime/Communicator.h"

#include <memory>
#include <string>

namespace slapo::rt::nccl {

/// CUDA devices this process can use (0 without a GPU or a driver).
int deviceCount();

/// A communicator over the ranks of `bootstrap` (a CPU group) on CUDA
/// device `device`. Null, with `error`, when CUDA or NCCL fails; NCCL
/// refuses two ranks on one device. Every rank returns, with the first
/// failing rank's message, when any rank fails: before the unique id's
/// broadcast at once, inside NCCL's init after `initTimeoutSeconds` (the
/// ranks still waiting cannot tell a failed peer from a slow one).
std::unique_ptr<Communicator> create(Communicator &bootstrap, int device,
                                     std::string &error,
                                     double initTimeoutSeconds = 300);

} // namespace slapo::rt::nccl

#endif // SLAPO_RUNTIME_NCCL_H
