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

#include <cstring>
#include <vector>

namespace slapo::rt::cpu {

namespace {

/// A tensor seen as [outer, blocks * block, inner] around `axis`.
struct AxisBlocks {
  int64_t outer = 1, block = 1, inner = 1;
  AxisBlocks(const View &local, int64_t axis) {
    if (axis < 0)
      axis += local.rank();
    for (int64_t d = 0; d < axis; ++d)
      outer *= local.dim(d);
    block = local.dim(axis);
    for (int64_t d = axis + 1; d < local.rank(); ++d)
      inner *= local.dim(d);
  }
  int64_t chunk() const { return block * inner; }
};

/// Copies rank `r`'s block between the full tensor (blocks of `ranks`) and
/// a rank-major buffer ([ranks][outer][block][inner]).
void copyBlocks(const AxisBlocks &b, int ranks, const float *from, float *to,
                bool fullToRankMajor) {
  for (int r = 0; r < ranks; ++r)
    for (int64_t o = 0; o < b.outer; ++o) {
      int64_t full = (o * ranks + r) * b.chunk();
      int64_t major = (r * b.outer + o) * b.chunk();
      if (fullToRankMajor)
        std::memcpy(to + major, from + full, b.chunk() * sizeof(float));
      else
        std::memcpy(to + full, from + major, b.chunk() * sizeof(float));
    }
}

} // namespace

void sync(KernelContext &c) {
  const View &in = c.ins[0], &out = c.outs[0];
  const std::string &kind = c.call->attrs.at("forward").s;
  Communicator &group = *c.tp;
  int ranks = group.size();
  int64_t axis = c.call->intAttr("axis", -1);
  if (kind == "identity" || (ranks == 1 && kind != "split")) {
    std::memcpy(out.data, in.data, size_t(in.numel()) * sizeof(float));
    return;
  }
  if (kind == "all_reduce") {
    std::memcpy(out.data, in.data, size_t(in.numel()) * sizeof(float));
    group.allReduce(out.f32(), out.numel(), ReduceOp::Sum);
    return;
  }
  if (kind == "split") {
    AxisBlocks b(out, axis);
    for (int64_t o = 0; o < b.outer; ++o)
      std::memcpy(out.f32() + o * b.chunk(),
                  in.f32() + (o * ranks + group.rank()) * b.chunk(),
                  b.chunk() * sizeof(float));
    return;
  }
  std::vector<float> rankMajor(
      size_t(kind == "all_gather" ? out.numel() : in.numel()));
  if (kind == "all_gather") {
    AxisBlocks b(in, axis);
    group.allGather(in.f32(), rankMajor.data(), in.numel());
    copyBlocks(b, ranks, rankMajor.data(), out.f32(), false);
    return;
  }
  // reduce_scatter
  AxisBlocks b(out, axis);
  copyBlocks(b, ranks, in.f32(), rankMajor.data(), true);
  group.reduceScatter(rankMajor.data(), out.f32(), out.numel());
}

} // namespace slapo::rt::cpu
