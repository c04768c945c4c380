//===- DeviceGroups.cpp - NCCL groups for a device backend ----------------===//

#include "slapo/Run/DeviceGroups.h"

#if SLAPO_HAVE_NCCL
#include "slapo/Runtime/Nccl.h"
#endif

namespace slapo::run {

bool DeviceGroups::join(const rt::Backend &backend, rt::ProcessGroups host,
                        std::string &error) {
  if (backend.space() == rt::MemorySpace::Host)
    return true;
  // One rank in each group: no collective ever moves data (sync copies,
  // nothing is sharded or reduced), so no communicator is needed.
  if (host.tp->size() == 1 && host.dp->size() == 1)
    return true;
#if SLAPO_HAVE_NCCL
  // Every rank joins its tensor-parallel group first, then its
  // data-parallel one, on the device its backend holds.
  tp = rt::nccl::create(*host.tp, backend.deviceIndex(), error);
  if (!tp) {
    error = "the tensor-parallel NCCL group: " + error;
    return false;
  }
  dp = rt::nccl::create(*host.dp, backend.deviceIndex(), error);
  if (!dp) {
    error = "the data-parallel NCCL group: " + error;
    return false;
  }
  return true;
#else
  error = std::string("--device ") + backend.name() +
          ": this slapo-run was built without NCCL, so it runs one process";
  return false;
#endif
}

rt::ProcessGroups DeviceGroups::orHost(rt::ProcessGroups host) const {
  if (tp && dp)
    return {tp.get(), dp.get()};
  return host;
}

} // namespace slapo::run
