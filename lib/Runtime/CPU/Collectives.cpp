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
// bf16 tensors are reduced in float32 and rounded once.
//
//===----------------------------------------------------------------------===//

#include "CPUKernels.h"
#include "slapo/Runtime/Shards.h"

#include <cstring>
#include <type_traits>
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

/// The collective on float elements: `x` is the input's, `y` the result's.
void syncFloats(KernelContext &c, const View &in, const View &out,
                const float *x, float *y) {
  const std::string &kind = c.call->attrs.at("forward").s;
  Communicator &group = *c.tp;
  int ranks = group.size();
  int64_t axis = c.call->intAttr("axis", -1);
  if (kind == "all_reduce") {
    std::memcpy(y, x, size_t(in.numel()) * sizeof(float));
    group.allReduce(y, out.numel(), ReduceOp::Sum);
    return;
  }
  if (kind == "split") {
    blocksOf(out, axis, ranks).extract(x, y, group.rank());
    return;
  }
  // all_gather and reduce_scatter move rank-major blocks.
  std::vector<float> rankMajor(
      size_t(kind == "all_gather" ? out.numel() : in.numel()));
  if (kind == "all_gather") {
    ShardLayout blocks = blocksOf(in, axis, ranks);
    group.allGather(x, rankMajor.data(), in.numel());
    for (int r = 0; r < ranks; ++r)
      blocks.insert(rankMajor.data() + r * in.numel(), y, r);
    return;
  }
  // reduce_scatter
  ShardLayout blocks = blocksOf(out, axis, ranks);
  for (int r = 0; r < ranks; ++r)
    blocks.extract(x, rankMajor.data() + r * out.numel(), r);
  group.reduceScatter(rankMajor.data(), y, out.numel());
}

} // namespace

template <class T> void sync(KernelContext &c) {
  const View &in = c.ins[0], &out = c.outs[0];
  if (c.call->attrs.at("forward").s == "identity" || c.tp->size() == 1) {
    std::memcpy(out.data, in.data, size_t(in.numel()) * sizeof(T));
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    syncFloats(c, in, out, in.f32(), out.f32());
  } else {
    // MPI has no 16-bit floats: bf16 travels, and is summed, as float32.
    const T *x = as<T>(in);
    std::vector<float> wide(size_t(in.numel())), result(size_t(out.numel()));
    for (size_t i = 0; i < wide.size(); ++i)
      wide[i] = x[i];
    syncFloats(c, in, out, wide.data(), result.data());
    T *y = as<T>(out);
    for (size_t i = 0; i < result.size(); ++i)
      y[i] = result[i];
  }
}

SLAPO_CPU_KERNEL_TYPES(sync);

} // namespace slapo::rt::cpu
