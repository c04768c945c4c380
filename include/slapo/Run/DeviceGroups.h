//===- DeviceGroups.h - a device backend's process groups ------*- C++ -*-===//
//
// Collectives on a GPU backend take device memory, so its tensor- and
// data-parallel groups are NCCL communicators, one per group, each joined
// over the job's MPI group of the same ranks (which keeps bootstrap and
// error agreement). A host backend keeps the MPI groups, and so does a job
// of one process, whose collectives move nothing.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUN_DEVICEGROUPS_H
#define SLAPO_RUN_DEVICEGROUPS_H

#include "slapo/Runtime/Backend.h"
#include "slapo/Runtime/Communicator.h"

#include <memory>
#include <string>

namespace slapo::run {

class DeviceGroups {
public:
  /// On a device backend, joins NCCL communicators over the ranks of
  /// `host`'s groups on the backend's device; on a host backend, nothing.
  /// Collective over both groups. False, with `error`, where NCCL fails or
  /// this slapo-run was built without it.
  bool join(const rt::Backend &backend, rt::ProcessGroups host,
            std::string &error);
  /// The device groups where joined, else `host`.
  rt::ProcessGroups orHost(rt::ProcessGroups host) const;

private:
  std::unique_ptr<rt::Communicator> tp, dp;
};

} // namespace slapo::run

#endif // SLAPO_RUN_DEVICEGROUPS_H
