//===- DropoutMask.cuh - the CPU's dropout masks on the device --*- CUDA
//-*-===//
//
// A dropout mask is a pure function of (seed, step, stream, element number),
// the number an element has in the tensor one process holding the whole
// global batch and model would have (CPU/DropoutNumbering.h, whose rules
// this repeats). The tensor-parallel part is fixed for a call and computed
// on the host; the step's part (seed, step, micro-batch, training) is read
// on the device from the step scalars, so a replayed graph draws the
// step's own mask. Private to lib/Runtime/CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CUDA_DROPOUTMASK_CUH
#define SLAPO_LIB_RUNTIME_CUDA_DROPOUTMASK_CUH

#include "../Random.h"
#include "Device.cuh"

#include <vector>

namespace slapo::rt::cuda {

/// Passed by value to a kernel.
struct DropoutMask {
  const StepScalars *scalars = nullptr;
  uint64_t stream = 0; // the call's rng_stream
  float p = 0.0f;
  int64_t numel = 0; // of the whole tensor one process would hold
  bool sharded = false;
  int64_t block = 1, wholeBlock = 1;
  uint64_t offset = 0;

  /// The multiplier of this rank's element `i` (row-major): 0, or
  /// 1 / (1 - p) when kept; 1 when training is off or p is 0.
  __device__ float operator()(int64_t i) const {
    if (!scalars->training || p <= 0.0f)
      return 1.0f;
    uint64_t base = uint64_t(scalars->microBatch) * uint64_t(numel);
    uint64_t number = sharded
                          ? base + uint64_t(i / block) * uint64_t(wholeBlock) +
                                offset + uint64_t(i % block)
                          : base + uint64_t(i);
    return dropoutScale(scalars->seed, uint64_t(scalars->step), stream, number,
                        p);
  }
};

/// The mask of the dropout of `c` with probability `p` on a tensor of this
/// rank's `shape` (its rng_stream and dropout_shard_axis attributes).
inline DropoutMask dropoutMask(const KernelContext &c, float p,
                               const std::vector<int64_t> &shape) {
  DropoutMask mask;
  mask.scalars = c.deviceScalars;
  mask.stream = uint64_t(c.call->intAttr("rng_stream", 0));
  mask.p = p;
  int64_t numel = 1;
  for (int64_t d : shape)
    numel *= d;
  int64_t axis = c.call->intAttr("dropout_shard_axis", -1);
  int ranks = c.tp ? c.tp->size() : 1;
  mask.sharded = axis >= 0 && axis < int64_t(shape.size()) && ranks > 1;
  if (mask.sharded) {
    int64_t inner = 1;
    for (size_t d = size_t(axis) + 1; d < shape.size(); ++d)
      inner *= shape[d];
    mask.block = shape[size_t(axis)] * inner;
    mask.wholeBlock = mask.block * ranks;
    mask.offset = uint64_t(c.tp->rank()) * uint64_t(mask.block);
    numel *= ranks;
  }
  mask.numel = numel;
  return mask;
}

} // namespace slapo::rt::cuda

#endif // SLAPO_LIB_RUNTIME_CUDA_DROPOUTMASK_CUH
