//===- Collectives.cpp - tensor-parallel collectives ----------------------===//
//
// The `sync` kernel of a tensor-parallel plan runs its `forward` collective
// on the tensor-parallel group (the backward program holds the adjoint sync,
// whose `forward` is the original's `backward`):
//
//   identity        out = in
//   all_reduce      out = sum over ranks of in
//   split           out = this rank's block of in along `axis`
//   all_gather      out = every rank's in, concatenated along `axis`
//   reduce_scatter  out = this rank's block of (sum over ranks of in)
//
//===----------------------------------------------------------------------===//

#include "CPUKernels.h"
#include "slapo/Runtime/Shards.h"

#include <cstring>
#include <vector>

namespace slapo::rt::cpu {

namespace {

/// The local tensor as one rank's contiguous block of `axis`: a split is
/// ShardLayout's extract, a gather its insert (lib/Runtime/Shards.cpp).
ShardLayout blocksOf(const View &local, int64_t axis, int ranks) {
  if (axis < 0)
    axis += local.rank();
  return {local.info->shape, axis, /*parts=*/1, ranks};
}

} // namespace

void sync(KernelContext &c) {
  const View &in = c.ins[0], &out = c.outs[0];
  const std::string &kind = c.call->attrs.at("forward").s;
  Communicator &group = *c.tp;
  int ranks = group.size();
  int64_t axis = c.call->intAttr("axis", -1);
  if (kind == "identity" || ranks == 1) {
    std::memcpy(out.data, in.data, size_t(in.numel()) * sizeof(float));
    return;
  }
  if (kind == "all_reduce") {
    std::memcpy(out.data, in.data, size_t(in.numel()) * sizeof(float));
    group.allReduce(out.f32(), out.numel(), ReduceOp::Sum);
    return;
  }
  if (kind == "split") {
    blocksOf(out, axis, ranks).extract(in.f32(), out.f32(), group.rank());
    return;
  }
  // all_gather and reduce_scatter move rank-major blocks.
  std::vector<float> rankMajor(
      size_t(kind == "all_gather" ? out.numel() : in.numel()));
  if (kind == "all_gather") {
    ShardLayout blocks = blocksOf(in, axis, ranks);
    group.allGather(in.f32(), rankMajor.data(), in.numel());
    for (int r = 0; r < ranks; ++r)
      blocks.insert(rankMajor.data() + r * in.numel(), out.f32(), r);
    return;
  }
  // reduce_scatter
  ShardLayout blocks = blocksOf(out, axis, ranks);
  for (int r = 0; r < ranks; ++r)
    blocks.extract(in.f32(), rankMajor.data() + r * out.numel(), r);
  group.reduceScatter(rankMajor.data(), out.f32(), out.numel());
}

} // namespace slapo::rt::cpu
