//===- Shape.cu - transpose, split and concat -----------------------------===//
//
// CPU/Shape.cpp on the device. The kernels only move elements (bf16 bits
// are copied, never converted). Each output element is one thread's: it
// finds its source from its index, in 32-bit arithmetic where the tensors
// have fewer than 2^31 elements.
//
//===----------------------------------------------------------------------===//

#include "../KernelShapes.h"
#include "Device.cuh"

#include <vector>

namespace slapo::rt::cuda {

namespace {

/// Axes a transpose walks after merging (plenty: merging only lowers it).
constexpr int kMaxAxes = 16;

/// A transpose as the output's axes: their sizes and the input stride each
/// walks, innermost last.
struct Walk {
  int axes = 0;
  int64_t size[kMaxAxes] = {};
  int64_t stride[kMaxAxes] = {};
};

/// Whether every offset into tensors of `numel` elements fits in int32.
bool small(int64_t numel) { return numel < (int64_t(1) << 31); }

template <class T, class Index>
__global__ void transposeKernel(const T *__restrict__ x, T *__restrict__ y,
                                Index count, Walk walk) {
  for (Index e = Index(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += Index(blockDim.x) * gridDim.x) {
    Index rest = e, from = 0;
    for (int d = walk.axes - 1; d >= 0; --d) {
      Index size = Index(walk.size[d]);
      from += (rest % size) * Index(walk.stride[d]);
      rest /= size;
    }
    y[e] = x[from];
  }
}

/// Copies `rows` blocks of `block` elements: block r from in + r * strideIn
/// to out + r * strideOut.
template <class T, class Index>
__global__ void copyBlocksKernel(const T *__restrict__ in, Index strideIn,
                                 T *__restrict__ out, Index strideOut,
                                 Index count, Index block) {
  for (Index e = Index(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += Index(blockDim.x) * gridDim.x) {
    Index r = e / block, k = e - r * block;
    out[r * strideOut + k] = in[r * strideIn + k];
  }
}

template <class T>
void copyBlocks(const T *in, int64_t strideIn, T *out, int64_t strideOut,
                int64_t rows, int64_t block, int64_t largest,
                cudaStream_t stream) {
  int64_t count = rows * block;
  if (count == 0)
    return;
  if (small(largest))
    copyBlocksKernel<T, uint32_t><<<blocksFor(count), kThreads, 0, stream>>>(
        in, uint32_t(strideIn), out, uint32_t(strideOut), uint32_t(count),
        uint32_t(block));
  else
    copyBlocksKernel<T, int64_t><<<blocksFor(count), kThreads, 0, stream>>>(
        in, strideIn, out, strideOut, count, block);
  SLAPO_CUDA_LAUNCHED();
}

} // namespace

template <class T> void transpose(KernelContext &c) {
  const View &in = c.ins[0], &out = c.outs[0];
  const std::vector<int64_t> &perm = c.call->attrs.at("permutation").ints;
  const std::vector<int64_t> &inShape = in.info->shape;
  size_t rank = inShape.size();
  int64_t count = out.numel();
  if (count == 0)
    return;
  std::vector<int64_t> inStrides(rank, 1);
  for (size_t d = rank - 1; d-- > 0;)
    inStrides[d] = inStrides[d + 1] * inShape[d + 1];
  // Output axis d walks input axis perm[d]. Axes of size 1 are dropped, and
  // an axis merges into the one inside it where it walks the input exactly
  // past it (axes adjacent, in order, in both tensors).
  std::vector<int64_t> sizes, strides;
  for (size_t d = 0; d < rank; ++d) {
    int64_t size = inShape[perm[d]], stride = inStrides[perm[d]];
    if (size == 1)
      continue;
    if (!sizes.empty() && strides.back() == stride * size) {
      sizes.back() *= size;
      strides.back() = stride;
      continue;
    }
    sizes.push_back(size);
    strides.push_back(stride);
  }
  if (sizes.size() > size_t(kMaxAxes))
    fail(cudaErrorNotSupported, "transpose over more than 16 unmergeable axes",
         __FILE__, __LINE__);
  Walk walk;
  walk.axes = int(sizes.size());
  for (int d = 0; d < walk.axes; ++d) {
    walk.size[d] = sizes[d];
    walk.stride[d] = strides[d];
  }
  const T *x = as<T>(in);
  T *y = as<T>(out);
  cudaStream_t stream = streamOf(c);
  if (small(count))
    transposeKernel<T, uint32_t><<<blocksFor(count), kThreads, 0, stream>>>(
        x, y, uint32_t(count), walk);
  else
    transposeKernel<T, int64_t>
        <<<blocksFor(count), kThreads, 0, stream>>>(x, y, count, walk);
  SLAPO_CUDA_LAUNCHED();
}

template <class T> void split(KernelContext &c) {
  const View &in = c.ins[0];
  int64_t axis = normalisedAxis(*c.call, in.rank());
  AxisLayout layout(in, axis);
  int64_t start = 0;
  for (View &out : c.outs) {
    int64_t block = out.dim(axis) * layout.inner;
    copyBlocks(as<T>(in) + start, layout.rowElements, as<T>(out), block,
               layout.rows, block, in.numel(), streamOf(c));
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
               layout.rows, block, out.numel(), streamOf(c));
    start += block;
  }
}

SLAPO_CUDA_KERNEL_TYPES(transpose);
SLAPO_CUDA_KERNEL_TYPES(split);
SLAPO_CUDA_KERNEL_TYPES(concat);

} // namespace slapo::rt::cuda
