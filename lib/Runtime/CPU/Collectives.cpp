//===- Collectives.cpp - tensor-parallel collectives ----------------------===//
//
// The `sync` kernel of a tensor-parallel plan. This runtime executes a
// group of one rank, where every collective (all_reduce, all_gather, split,
// reduce_scatter, identity) returns its input; the Trainer refuses plans
// compiled for more ranks, so a kernel here never sees a real group.
//
//===----------------------------------------------------------------------===//

#include "CPUKernels.h"

#include <cstring>

namespace slapo::rt::cpu {

void sync(KernelContext &c) {
  const View &in = c.ins[0], &out = c.outs[0];
  std::memcpy(out.data, in.data, size_t(in.numel()) * sizeof(float));
}

} // namespace slapo::rt::cpu
