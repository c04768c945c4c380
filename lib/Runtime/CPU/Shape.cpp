//===- Shape.cpp - transpose, split and concat ----------------------------===//
//
// Kernels are templates on the element type (see Element.h); they only move
// elements.
//
//===----------------------------------------------------------------------===//

#include "../KernelShapes.h"
#include "CPUKernels.h"

#include <cstring>
#include <vector>

namespace slapo::rt::cpu {

namespace {

/// Copies `rows` blocks: block r of `block` elements from `in` (stride
/// `strideIn`) to `out` (stride `strideOut`).
template <class T>
void copyBlocks(const T *in, int64_t strideIn, T *out, int64_t strideOut,
                int64_t rows, int64_t block) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(out + r * strideOut, in + r * strideIn, block * sizeof(T));
}

} // namespace

template <class T> void transpose(KernelContext &c) {
  const View &in = c.ins[0];
  const std::vector<int64_t> &perm = c.call->attrs.at("permutation").ints;
  const auto &inShape = in.info->shape;
  const auto &outShape = c.outs[0].info->shape;
  size_t rank = inShape.size();
  std::vector<int64_t> inStrides(rank, 1);
  for (size_t d = rank - 1; d-- > 0;)
    inStrides[d] = inStrides[d + 1] * inShape[d + 1];
  // Output axis d walks input axis perm[d].
  std::vector<int64_t> strides(rank);
  for (size_t d = 0; d < rank; ++d)
    strides[d] = inStrides[perm[d]];
  const T *x = as<T>(in);
  T *y = as<T>(c.outs[0]);
  int64_t inner = outShape[rank - 1], innerStride = strides[rank - 1];
  int64_t outer = c.outs[0].numel() / inner;
#pragma omp parallel for
  for (int64_t o = 0; o < outer; ++o) {
    int64_t rest = o, base = 0;
    for (size_t d = rank - 1; d-- > 0;) {
      base += (rest % outShape[d]) * strides[d];
      rest /= outShape[d];
    }
    T *row = y + o * inner;
    if (innerStride == 1) { // the last axis stays last: whole rows move
      std::memcpy(row, x + base, size_t(inner) * sizeof(T));
      continue;
    }
    for (int64_t i = 0; i < inner; ++i)
      row[i] = x[base + i * innerStride];
  }
}

template <class T> void split(KernelContext &c) {
  const View &in = c.ins[0];
  int64_t axis = normalisedAxis(*c.call, in.rank());
  AxisLayout layout(in, axis);
  int64_t start = 0;
  for (View &out : c.outs) {
    int64_t block = out.dim(axis) * layout.inner;
    copyBlocks(as<T>(in) + start, layout.rowElements, as<T>(out), block,
               layout.rows, block);
    start += block;
  }
}

template <class T> void concat(KernelContext &c) {
  const View &out = c.outs[0];
  int64_t axis = normalisedAxis(*c.call, out.rank());
  AxisLayout layout(out, axis);
  int64_t start = 0;
  for (const View &in : c.ins) {
    int64_t block = in.dim(axis) * layout.inner;
    copyBlocks(as<T>(in), block, as<T>(out) + start, layout.rowElements,
               layout.rows, block);
    start += block;
  }
}

SLAPO_CPU_KERNEL_TYPES(transpose);
SLAPO_CPU_KERNEL_TYPES(split);
SLAPO_CPU_KERNEL_TYPES(concat);

} // namespace slapo::rt::cpu
