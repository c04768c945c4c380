//===- DropoutNumbering.h - which random number an element draws -*- C++
//-*-===//
//
// A dropout mask is a pure function of (seed, step, stream, element number).
// The number is the element's place in the tensor one process holding the
// whole global batch and the whole model would have: a micro-batch starts at
// microBatch * numel, and a tensor split over the tensor-parallel group on
// axis `dropout_shard_axis` (its rank holds block `rank` of that axis)
// counts every rank's block. So masks match one process however the step
// is spread over ranks. Private to lib/Runtime.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CPU_DROPOUTNUMBERING_H
#define SLAPO_LIB_RUNTIME_CPU_DROPOUTNUMBERING_H

#include "slapo/Runtime/Kernels.h"

#include <vector>

namespace slapo::rt::cpu {

class DropoutNumbering {
public:
  /// For the dropout of `c` on a tensor of this rank's `shape`.
  DropoutNumbering(const KernelContext &c, const std::vector<int64_t> &shape) {
    int64_t numel = 1;
    for (int64_t d : shape)
      numel *= d;
    int64_t axis = c.call->intAttr("dropout_shard_axis", -1);
    int ranks = c.tp ? c.tp->size() : 1;
    sharded = axis >= 0 && axis < int64_t(shape.size()) && ranks > 1;
    if (sharded) {
      int64_t inner = 1;
      for (size_t d = size_t(axis) + 1; d < shape.size(); ++d)
        inner *= shape[d];
      block = shape[size_t(axis)] * inner;
      wholeBlock = block * ranks;
      offset = uint64_t(c.tp->rank()) * uint64_t(block);
      numel *= ranks;
    }
    base = uint64_t(c.microBatch) * uint64_t(numel);
  }

  /// The number of this rank's element `i` (row-major in its block).
  uint64_t operator()(int64_t i) const {
    if (!sharded)
      return base + uint64_t(i);
    return base + uint64_t(i / block) * uint64_t(wholeBlock) + offset +
           uint64_t(i % block);
  }

private:
  bool sharded = false;
  uint64_t base = 0, offset = 0;
  int64_t block = 1, wholeBlock = 1;
};

} // namespace slapo::rt::cpu

#endif // SLAPO_LIB_RUNTIME_CPU_DROPOUTNUMBERING_H
