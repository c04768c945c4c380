//===- KernelShapes.h - shape arithmetic the backends share -----*- C++ -*-===//
//
// The host-side shape helpers of the kernels that every backend computes
// alike: broadcasting strides, trailing suffixes, a call's axis, and a
// tensor seen as rows around an axis. Header-only, so that the CPU kernels
// and the CUDA backend's host code (compiled by nvcc) both inline them.
// Private to lib/Runtime.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_KERNELSHAPES_H
#define SLAPO_LIB_RUNTIME_KERNELSHAPES_H

#include "slapo/Runtime/Kernels.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace slapo::rt {

/// Element strides of `shape` as seen from an output of `outShape`, with 0
/// where the operand is broadcast (missing leading axis or size 1).
inline std::vector<int64_t>
broadcastStrides(const std::vector<int64_t> &shape,
                 const std::vector<int64_t> &outShape) {
  size_t rank = outShape.size(), lead = rank - shape.size();
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (size_t i = rank; i-- > lead;) {
    int64_t dim = shape[i - lead];
    strides[i] = dim == 1 ? 0 : stride;
    stride *= dim;
  }
  return strides;
}

/// True when `shape` is a trailing suffix of `outShape` (a bias, say).
inline bool isSuffix(const std::vector<int64_t> &shape,
                     const std::vector<int64_t> &outShape) {
  if (shape.size() > outShape.size())
    return false;
  return std::equal(shape.begin(), shape.end(), outShape.end() - shape.size());
}

/// The call's `axis` (default 0), counted from the front of a tensor of
/// rank `rank`.
inline int64_t normalisedAxis(const KernelCall &call, int64_t rank) {
  int64_t axis = call.intAttr("axis", 0);
  return axis < 0 ? axis + rank : axis;
}

/// A tensor seen as `rows` rows of `axisSize * inner` elements around
/// `axis`.
struct AxisLayout {
  int64_t inner = 1, rows = 1, rowElements = 0;
  AxisLayout(const View &whole, int64_t axis) {
    for (int64_t d = axis + 1; d < whole.rank(); ++d)
      inner *= whole.dim(d);
    rowElements = whole.dim(axis) * inner;
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d)
      outer *= whole.dim(d);
    rows = outer; // (numel / rowElements, without dividing by zero)
  }
};

} // namespace slapo::rt

#endif // SLAPO_LIB_RUNTIME_KERNELSHAPES_H
