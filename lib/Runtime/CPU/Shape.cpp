//===- Shape.cpp - transpose, split and concat ----------------------------===//

#include "CPUKernels.h"

#include <cstring>
#include <vector>

namespace slapo::rt::cpu {

namespace {

/// Copies `rows` blocks: block r of `blockIn` floats from `in` (stride
/// `strideIn`) to `out` (stride `strideOut`).
void copyBlocks(const float *in, int64_t strideIn, float *out,
                int64_t strideOut, int64_t rows, int64_t block) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(out + r * strideOut, in + r * strideIn, block * sizeof(float));
}

int64_t normalisedAxis(const KernelCall &call, int64_t rank) {
  int64_t axis = call.intAttr("axis", 0);
  return axis < 0 ? axis + rank : axis;
}

} // namespace

void transpose(KernelContext &c) {
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
  const float *x = in.f32();
  float *y = c.outs[0].f32();
  int64_t inner = outShape[rank - 1], innerStride = strides[rank - 1];
  int64_t outer = c.outs[0].numel() / inner;
#pragma omp parallel for
  for (int64_t o = 0; o < outer; ++o) {
    int64_t rest = o, base = 0;
    for (size_t d = rank - 1; d-- > 0;) {
      base += (rest % outShape[d]) * strides[d];
      rest /= outShape[d];
    }
    float *row = y + o * inner;
    for (int64_t i = 0; i < inner; ++i)
      row[i] = x[base + i * innerStride];
  }
}

namespace {

/// A tensor seen as `rows` rows of `axisSize * inner` floats around `axis`.
struct AxisLayout {
  int64_t inner = 1, rows = 1, rowFloats = 0;
  AxisLayout(const View &whole, int64_t axis) {
    for (int64_t d = axis + 1; d < whole.rank(); ++d)
      inner *= whole.dim(d);
    rowFloats = whole.dim(axis) * inner;
    rows = whole.numel() / rowFloats;
  }
};

} // namespace

void split(KernelContext &c) {
  const View &in = c.ins[0];
  int64_t axis = normalisedAxis(*c.call, in.rank());
  AxisLayout layout(in, axis);
  int64_t start = 0;
  for (View &out : c.outs) {
    int64_t block = out.dim(axis) * layout.inner;
    copyBlocks(in.f32() + start, layout.rowFloats, out.f32(), block,
               layout.rows, block);
    start += block;
  }
}

void concat(KernelContext &c) {
  const View &out = c.outs[0];
  int64_t axis = normalisedAxis(*c.call, out.rank());
  AxisLayout layout(out, axis);
  int64_t start = 0;
  for (const View &in : c.ins) {
    int64_t block = in.dim(axis) * layout.inner;
    copyBlocks(in.f32(), block, out.f32() + start, layout.rowFloats,
               layout.rows, block);
    start += block;
  }
}

} // namespace slapo::rt::cpu
