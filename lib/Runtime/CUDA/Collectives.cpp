//===- Collectives.cpp - tensor-parallel collectives ----------------------===//
//
// CPU/Collectives.cpp's `sync` on device buffers: the call's `forward`
// collective on the tensor-parallel group, ordered on the stream with the
// copies around it (host code only: copies and collectives, no kernels).
//
//   identity        out = in
//   all_reduce      out = sum over ranks of in
//   split           out = this rank's block of in along `axis`
//   all_gather      out = every rank's in, concatenated along `axis`
//   reduce_scatter  out = this rank's block of (sum over ranks of in)
//
// A tensor is `outer` rows of one rank's block along `axis` (all the axes
// inside it included). Where outer is 1 the ranks' blocks are contiguous
// and all_gather and reduce_scatter run on the tensors themselves. Else
// they move rank-major blocks, as on the CPU: the call's workspace holds
// them where it is large enough (the output's bytes for all_gather, the
// input's for reduce_scatter; no load-time check reserves any yet), and
// otherwise the output's rows not yet written do, a chunk of rows at a
// time, with a collective per chunk (about log2(outer) for all_gather,
// more for reduce_scatter; every rank makes the same ones).
//
// bf16 travels as bf16: the communicator (NCCL) reduces it itself, where
// the CPU's MPI path widens it to float32, sums and rounds once.
//
//===----------------------------------------------------------------------===//

#include "CudaKernels.h"

#include <string>

namespace slapo::rt::cuda {

namespace {

void copy(void *to, const void *from, int64_t bytes, cudaStream_t stream) {
  if (to != from && bytes > 0)
    SLAPO_CUDA_CHECK(cudaMemcpyAsync(to, from, size_t(bytes),
                                     cudaMemcpyDeviceToDevice, stream));
}

/// `height` rows of `width` elements from `from` (rows `fromPitch` apart)
/// to `to` (rows `toPitch` apart), elements of `bytes` bytes.
void copyRows(void *to, int64_t toPitch, const void *from, int64_t fromPitch,
              int64_t width, int64_t height, size_t bytes,
              cudaStream_t stream) {
  if (width <= 0 || height <= 0)
    return;
  if (height == 1 || (toPitch == width && fromPitch == width)) {
    copy(to, from, width * height * int64_t(bytes), stream);
    return;
  }
  SLAPO_CUDA_CHECK(cudaMemcpy2DAsync(
      to, size_t(toPitch) * bytes, from, size_t(fromPitch) * bytes,
      size_t(width) * bytes, size_t(height), cudaMemcpyDeviceToDevice, stream));
}

/// A local tensor as `outer` rows of one rank's `block` elements along
/// `axis` (ShardLayout's runs with one part).
struct Blocks {
  int64_t outer = 1, block = 1;
  Blocks(const View &local, int64_t axis) {
    if (axis < 0)
      axis += local.rank();
    for (int64_t d = 0; d < local.rank(); ++d)
      (d < axis ? outer : block) *= local.dim(d);
  }
};

template <class T>
void allGather(KernelContext &c, const View &in, const View &out,
               int64_t axis) {
  Communicator &group = *c.tp;
  DType dtype = in.dtype();
  int64_t ranks = group.size();
  cudaStream_t stream = streamOf(c);
  Blocks blocks(in, axis);
  int64_t outer = blocks.outer, block = blocks.block, row = ranks * block;
  const T *x = as<T>(in);
  T *y = as<T>(out);
  if (outer == 1) {
    group.allGather(x, y, in.numel(), dtype, c.stream);
    return;
  }
  uint64_t need = uint64_t(out.numel()) * sizeof(T);
  if (c.workspace && c.workspaceBytes >= need) {
    T *rankMajor = reinterpret_cast<T *>(c.workspace);
    group.allGather(x, rankMajor, in.numel(), dtype, c.stream);
    for (int64_t r = 0; r < ranks; ++r)
      copyRows(y + r * block, row, rankMajor + r * in.numel(), block, block,
               outer, sizeof(T), stream);
    return;
  }
  // Rows [o0, o0 + k) gather into rows [o0 + k, o0 + 2k) of the output,
  // which later chunks write, and move into place; a single row's gather is
  // already in place.
  for (int64_t o0 = 0; o0 < outer;) {
    int64_t left = outer - o0;
    if (left == 1) {
      group.allGather(x + o0 * block, y + o0 * row, block, dtype, c.stream);
      break;
    }
    int64_t k = left / 2;
    T *rankMajor = y + (o0 + k) * row;
    group.allGather(x + o0 * block, rankMajor, k * block, dtype, c.stream);
    for (int64_t r = 0; r < ranks; ++r)
      copyRows(y + o0 * row + r * block, row, rankMajor + r * k * block, block,
               block, k, sizeof(T), stream);
    o0 += k;
  }
}

template <class T>
void reduceScatter(KernelContext &c, const View &in, const View &out,
                   int64_t axis) {
  Communicator &group = *c.tp;
  DType dtype = in.dtype();
  int64_t ranks = group.size();
  cudaStream_t stream = streamOf(c);
  Blocks blocks(out, axis);
  int64_t outer = blocks.outer, block = blocks.block, row = ranks * block;
  const T *x = as<T>(in);
  T *y = as<T>(out);
  if (outer == 1) {
    group.reduceScatter(x, y, out.numel(), dtype, c.stream);
    return;
  }
  uint64_t need = uint64_t(in.numel()) * sizeof(T);
  if (c.workspace && c.workspaceBytes >= need) {
    T *rankMajor = reinterpret_cast<T *>(c.workspace);
    for (int64_t r = 0; r < ranks; ++r)
      copyRows(rankMajor + r * out.numel(), block, x + r * block, row, block,
               outer, sizeof(T), stream);
    group.reduceScatter(rankMajor, y, out.numel(), dtype, c.stream);
    return;
  }
  // Rows [o0, o0 + k) go rank-major into the output's rows [o0 + k,
  // o0 + (ranks + 1) k), which later chunks write; a single row of the
  // input is rank-major already.
  for (int64_t o0 = 0; o0 < outer;) {
    int64_t left = outer - o0;
    int64_t k = left / (ranks + 1);
    if (k == 0) {
      group.reduceScatter(x + o0 * row, y + o0 * block, block, dtype, c.stream);
      ++o0;
      continue;
    }
    T *rankMajor = y + (o0 + k) * block;
    for (int64_t r = 0; r < ranks; ++r)
      copyRows(rankMajor + r * k * block, block, x + o0 * row + r * block, row,
               block, k, sizeof(T), stream);
    group.reduceScatter(rankMajor, y + o0 * block, k * block, dtype, c.stream);
    o0 += k;
  }
}

} // namespace

template <class T> void sync(KernelContext &c) {
  const View &in = c.ins[0], &out = c.outs[0];
  const std::string &kind = c.call->attrs.at("forward").s;
  cudaStream_t stream = streamOf(c);
  if (kind == "identity" || !c.tp || c.tp->size() == 1) {
    copy(out.data, in.data, in.numel() * int64_t(sizeof(T)), stream);
    return;
  }
  Communicator &group = *c.tp;
  int64_t axis = c.call->intAttr("axis", -1);
  if (kind == "all_reduce") {
    copy(out.data, in.data, in.numel() * int64_t(sizeof(T)), stream);
    group.allReduce(out.data, out.numel(), in.dtype(), ReduceOp::Sum, c.stream);
    return;
  }
  if (kind == "split") {
    Blocks blocks(out, axis);
    int64_t ranks = group.size();
    copyRows(as<T>(out), blocks.block, as<T>(in) + group.rank() * blocks.block,
             ranks * blocks.block, blocks.block, blocks.outer, sizeof(T),
             stream);
    return;
  }
  if (kind == "all_gather")
    allGather<T>(c, in, out, axis);
  else
    reduceScatter<T>(c, in, out, axis);
}

SLAPO_CUDA_KERNEL_TYPES(sync);

} // namespace slapo::rt::cuda
