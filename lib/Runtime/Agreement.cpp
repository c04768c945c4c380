//===- Agreement.cpp - checks that fail on some ranks, made collective ----===//

#include "slapo/Runtime/Communicator.h"

namespace slapo::rt {

bool agreeAcross(Communicator &group, bool ok, std::string &error) {
  int64_t size = group.size(), rank = group.rank();
  if (size == 1)
    return ok;
  int64_t firstFailing = ok ? size : rank, failing = ok ? 0 : 1;
  group.allReduce(&firstFailing, 1, ReduceOp::Min);
  group.allReduce(&failing, 1, ReduceOp::Sum);
  if (firstFailing == size)
    return true;
  int64_t length = rank == firstFailing ? int64_t(error.size()) : 0;
  group.broadcast(&length, sizeof length, int(firstFailing));
  std::string message(size_t(length), '\0');
  if (rank == firstFailing)
    message = error;
  group.broadcast(message.data(), length, int(firstFailing));
  error = failing == size ? message
                          : "rank " + std::to_string(firstFailing) + " of " +
                                std::to_string(size) + ": " + message;
  return false;
}

} // namespace slapo::rt
