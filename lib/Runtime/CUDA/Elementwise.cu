//===- Elementwise.cu - activations, dropout, broadcasting arithmetic -----===//
//
// The CUDA form of CPU/Elementwise.cpp: the same formulas (exp is
// FastMath.h's vexp, which both backends call), computed in float32 and rounded
// once on store. Pointwise kernels are grid-stride loops, four elements a
// thread per step where every pointer is aligned for it. add and mul broadcast
// as NumPy does; sum_to sums in double in an order fixed by the shapes alone,
// so its results are deterministic. `cast` converts between f32 and bf16 (round
// to nearest even).
//
//===----------------------------------------------------------------------===//

#include "../FastMath.h"
#include "../KernelShapes.h"
#include "DropoutMask.cuh"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace slapo::rt::cuda {

namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

//===----------------------------------------------------------------------===//
// The functions (CPU/Elementwise.cpp; exp is FastMath.h's vexp)
//===----------------------------------------------------------------------===//

// GPT-2's gelu_new: 0.5 x (1 + tanh(u)) = x sigmoid(2u).
__device__ __forceinline__ float geluTanh(float x) {
  float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  return x * vsigmoid(2.0f * u);
}

__device__ __forceinline__ float geluTanhGrad(float x) {
  float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  float s = vsigmoid(2.0f * u);
  float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
  return s + x * s * (1.0f - s) * 2.0f * du;
}

__device__ __forceinline__ float geluErf(float x) {
  return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
}

__device__ __forceinline__ float geluErfGrad(float x) {
  return 0.5f * (1.0f + erff(x * kInvSqrt2)) +
         x * kInvSqrt2Pi * expf(-0.5f * x * x);
}

struct Relu {
  __device__ float operator()(float x) const { return x > 0.0f ? x : 0.0f; }
};
struct Silu {
  __device__ float operator()(float x) const { return x * vsigmoid(x); }
};
struct GeluErf {
  __device__ float operator()(float x) const { return geluErf(x); }
};
struct GeluTanh {
  __device__ float operator()(float x) const { return geluTanh(x); }
};
struct Scale {
  float factor;
  __device__ float operator()(float x) const { return x * factor; }
};
struct Identity {
  __device__ float operator()(float x) const { return x; }
};

// Derivatives, for activation_grad and bias_gelu_grad.
struct ReluGrad {
  __device__ float operator()(float v) const { return v > 0.0f ? 1.0f : 0.0f; }
};
struct SiluGrad {
  __device__ float operator()(float v) const {
    float s = vsigmoid(v);
    return s * (1.0f + v * (1.0f - s));
  }
};
struct GeluErfGrad {
  __device__ float operator()(float v) const { return geluErfGrad(v); }
};
struct GeluTanhGrad {
  __device__ float operator()(float v) const { return geluTanhGrad(v); }
};

/// A function of the value alone, as the map kernel calls it (with the
/// element's index, which only dropout needs).
template <class F> struct Pointwise {
  F f;
  __device__ float operator()(int64_t, float x) const { return f(x); }
};

/// x times its dropout multiplier.
struct Drop {
  DropoutMask mask;
  __device__ float operator()(int64_t i, float x) const { return x * mask(i); }
};

// Binary functions: (first input, second input).
struct Add {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Mul {
  __device__ float operator()(float a, float b) const { return a * b; }
};
/// dx = dy * f'(x), from (x, dy).
template <class Derivative> struct Gradient {
  Derivative derivative;
  __device__ float operator()(float x, float dy) const {
    return dy * derivative(x);
  }
};

//===----------------------------------------------------------------------===//
// Packs of four elements: one 16-byte (f32) or 8-byte (bf16) access
//===----------------------------------------------------------------------===//

constexpr int kLanes = 4;

__device__ __forceinline__ void loadLanes(const float *p, float (&v)[kLanes]) {
  float4 q = *reinterpret_cast<const float4 *>(p);
  v[0] = q.x;
  v[1] = q.y;
  v[2] = q.z;
  v[3] = q.w;
}

// A bf16 is the high half of the float it stands for; element 0 is the low
// half of the first word.
__device__ __forceinline__ void loadLanes(const bf16 *p, float (&v)[kLanes]) {
  uint2 q = *reinterpret_cast<const uint2 *>(p);
  v[0] = __uint_as_float(q.x << 16);
  v[1] = __uint_as_float(q.x & 0xffff0000u);
  v[2] = __uint_as_float(q.y << 16);
  v[3] = __uint_as_float(q.y & 0xffff0000u);
}

__device__ __forceinline__ void storeLanes(float *p, const float (&v)[kLanes]) {
  *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
}

__device__ __forceinline__ unsigned bf16Bits(float x) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(x));
}

__device__ __forceinline__ void storeLanes(bf16 *p, const float (&v)[kLanes]) {
  *reinterpret_cast<uint2 *>(p) =
      make_uint2(bf16Bits(v[0]) | bf16Bits(v[1]) << 16,
                 bf16Bits(v[2]) | bf16Bits(v[3]) << 16);
}

/// Whether packs of T can be read or written at `p`.
template <class T> bool packable(const void *p) {
  return reinterpret_cast<uintptr_t>(p) % (kLanes * sizeof(T)) == 0;
}

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

/// y[i] = f(i, x[i]). With `packed`, whole packs first, then the at most
/// three elements after the last.
template <class TIn, class TOut, class F>
__global__ void mapKernel(TOut *y, const TIn *x, int64_t n, bool packed, F f) {
  int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t stride = int64_t(blockDim.x) * gridDim.x;
  int64_t done = 0;
  if (packed) {
    int64_t packs = n / kLanes;
    for (int64_t p = first; p < packs; p += stride) {
      float v[kLanes];
      loadLanes(x + p * kLanes, v);
#pragma unroll
      for (int e = 0; e < kLanes; ++e)
        v[e] = f(p * kLanes + e, v[e]);
      storeLanes(y + p * kLanes, v);
    }
    done = packs * kLanes;
  }
  for (int64_t i = done + first; i < n; i += stride)
    y[i] = fromFloat<TOut>(f(i, toFloat(x[i])));
}

/// z[i] = f(a[i], b[i]), all of one shape.
template <class T, class F>
__global__ void zipKernel(T *z, const T *a, const T *b, int64_t n, bool packed,
                          F f) {
  int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t stride = int64_t(blockDim.x) * gridDim.x;
  int64_t done = 0;
  if (packed) {
    int64_t packs = n / kLanes;
    for (int64_t p = first; p < packs; p += stride) {
      float u[kLanes], v[kLanes];
      loadLanes(a + p * kLanes, u);
      loadLanes(b + p * kLanes, v);
#pragma unroll
      for (int e = 0; e < kLanes; ++e)
        u[e] = f(u[e], v[e]);
      storeLanes(z + p * kLanes, u);
    }
    done = packs * kLanes;
  }
  for (int64_t i = done + first; i < n; i += stride)
    z[i] = fromFloat<T>(f(toFloat(a[i]), toFloat(b[i])));
}

/// out[i] = f(x[i] + bias[i % d]), times grad[i] when there is a grad. The
/// bias index follows the loop by adding the grid's stride modulo d (one
/// 64-bit division a thread, not one an element).
template <class T, class F>
__global__ void biasKernel(T *out, const T *x, const T *bias, const T *grad,
                           int64_t n, int64_t d, F f) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t stride = int64_t(blockDim.x) * gridDim.x;
  int64_t j = i % d, step = stride % d;
  for (; i < n; i += stride) {
    float value = f(toFloat(x[i]) + toFloat(bias[j]));
    out[i] = fromFloat<T>(grad ? toFloat(grad[i]) * value : value);
    j += step;
    if (j >= d)
      j -= d;
  }
}

/// z[i] = f(a[i % na], b[i % nb]): both operands are trailing suffixes of
/// the result's shape (a bias, or the result's own shape).
template <class T, class F>
__global__ void suffixKernel(T *z, const T *a, int64_t na, const T *b,
                             int64_t nb, int64_t n, F f) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t stride = int64_t(blockDim.x) * gridDim.x;
  int64_t ia = i % na, ib = i % nb;
  int64_t stepA = stride % na, stepB = stride % nb;
  for (; i < n; i += stride) {
    z[i] = fromFloat<T>(f(toFloat(a[ia]), toFloat(b[ib])));
    ia += stepA;
    if (ia >= na)
      ia -= na;
    ib += stepB;
    if (ib >= nb)
      ib -= nb;
  }
}

/// The axes of a broadcast or a reduction after merging neighbours that
/// step alike; more would need an improbable alternation of shapes.
constexpr int kMaxAxes = 12;

/// A broadcast result's axes, innermost first, with each operand's element
/// stride along them (0 where it is broadcast). Passed by value.
struct BroadcastAxes {
  int rank = 0;
  int64_t size[kMaxAxes] = {};
  int64_t strideA[kMaxAxes] = {}, strideB[kMaxAxes] = {};
};

template <class T, class F>
__global__ void broadcastKernel(T *z, const T *a, const T *b, int64_t n,
                                BroadcastAxes axes, F f) {
  SLAPO_GRID_LOOP(i, n) {
    int64_t rest = i, ia = 0, ib = 0;
#pragma unroll
    for (int k = 0; k < kMaxAxes; ++k) {
      if (k == axes.rank)
        break;
      int64_t coord = rest % axes.size[k];
      rest /= axes.size[k];
      ia += coord * axes.strideA[k];
      ib += coord * axes.strideB[k];
    }
    z[i] = fromFloat<T>(f(toFloat(a[ia]), toFloat(b[ib])));
  }
}

/// y[o] = the sum of row o of x [rows, length]: one block a row.
template <class T>
__global__ void __launch_bounds__(1024)
    rowSumKernel(T *y, const T *x, int64_t rows, int64_t length) {
  __shared__ double scratch[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T *from = x + row * length;
    double sum = 0.0;
    for (int64_t j = threadIdx.x; j < length; j += blockDim.x)
      sum += toFloat(from[j]);
    sum = blockSum(sum, scratch);
    if (threadIdx.x == 0)
      y[row] = fromFloat<T>(float(sum));
  }
}

/// y[o, k] = the sum over r of x[o, r, k], x [outer, reduced, inner]. A
/// block takes 32 neighbouring k (threadIdx.x, so loads coalesce) of one o;
/// its blockDim.y rows of threads take every blockDim.y-th r, and row 0
/// adds their partial sums in order.
template <class T>
__global__ void __launch_bounds__(1024)
    columnSumKernel(T *y, const T *x, int64_t outer, int64_t reduced,
                    int64_t inner) {
  __shared__ double partial[32][32];
  int64_t tilesPerRow = (inner + 31) / 32;
  for (int64_t tile = blockIdx.x; tile < outer * tilesPerRow;
       tile += gridDim.x) {
    int64_t o = tile / tilesPerRow;
    int64_t k = (tile % tilesPerRow) * 32 + threadIdx.x;
    double sum = 0.0;
    if (k < inner) {
      const T *from = x + o * reduced * inner + k;
      for (int64_t r = threadIdx.y; r < reduced; r += blockDim.y)
        sum += toFloat(from[r * inner]);
    }
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && k < inner) {
      double total = 0.0;
      for (unsigned q = 0; q < blockDim.y; ++q)
        total += partial[q][threadIdx.x];
      y[o * inner + k] = fromFloat<T>(float(total));
    }
    __syncthreads();
  }
}

/// sum_to's input axes in groups, innermost first: the kept groups (the
/// result's axes) and the reduced ones, each with its element stride in
/// the input. Passed by value.
struct SumAxes {
  int keptRank = 0, reducedRank = 0;
  int64_t keptSize[kMaxAxes] = {}, keptStride[kMaxAxes] = {};
  int64_t reducedSize[kMaxAxes] = {}, reducedStride[kMaxAxes] = {};
  int64_t reduced = 1; // the product of reducedSize
};

/// The input offset of element `index` of axes (size, stride), innermost
/// first.
__device__ __forceinline__ int64_t offsetOf(int64_t index, int rank,
                                            const int64_t (&size)[kMaxAxes],
                                            const int64_t (&stride)[kMaxAxes]) {
  int64_t offset = 0;
#pragma unroll
  for (int k = 0; k < kMaxAxes; ++k) {
    if (k == rank)
      break;
    offset += index % size[k] * stride[k];
    index /= size[k];
  }
  return offset;
}

/// Any other reduction: one block a result element.
template <class T>
__global__ void __launch_bounds__(1024)
    sumKernel(T *y, const T *x, int64_t m, SumAxes axes) {
  __shared__ double scratch[32];
  for (int64_t j = blockIdx.x; j < m; j += gridDim.x) {
    int64_t base = offsetOf(j, axes.keptRank, axes.keptSize, axes.keptStride);
    double sum = 0.0;
    for (int64_t r = threadIdx.x; r < axes.reduced; r += blockDim.x)
      sum += toFloat(x[base + offsetOf(r, axes.reducedRank, axes.reducedSize,
                                       axes.reducedStride)]);
    sum = blockSum(sum, scratch);
    if (threadIdx.x == 0)
      y[j] = fromFloat<T>(float(sum));
  }
}

//===----------------------------------------------------------------------===//
// Launches
//===----------------------------------------------------------------------===//

[[noreturn]] void tooManyAxes(const char *kernel) {
  std::fprintf(stderr,
               "slapo-run: internal error: the cuda %s handles at most %d "
               "groups of axes\n",
               kernel, kMaxAxes);
  std::abort();
}

template <class TIn, class TOut, class F>
void launchMap(TOut *y, const TIn *x, int64_t n, F f, cudaStream_t stream) {
  if (n <= 0)
    return;
  bool packed = packable<TIn>(x) && packable<TOut>(y);
  mapKernel<<<blocksFor(packed ? n / kLanes : n), kThreads, 0, stream>>>(
      y, x, n, packed, f);
  SLAPO_CUDA_LAUNCHED();
}

template <class T, class F>
void launchZip(T *z, const T *a, const T *b, int64_t n, F f,
               cudaStream_t stream) {
  if (n <= 0)
    return;
  bool packed = packable<T>(z) && packable<T>(a) && packable<T>(b);
  zipKernel<<<blocksFor(packed ? n / kLanes : n), kThreads, 0, stream>>>(
      z, a, b, n, packed, f);
  SLAPO_CUDA_LAUNCHED();
}

template <class T, class F> void unary(KernelContext &c, F f) {
  launchMap(as<T>(c.outs[0]), as<T>(c.ins[0]), c.ins[0].numel(),
            Pointwise<F>{f}, streamOf(c));
}

/// dx = dy * f'(x) from (x, dy).
template <class T, class Derivative>
void gradient(KernelContext &c, Derivative derivative) {
  const T *x = as<T>(c.ins[0]), *dy = as<T>(c.ins[1]);
  launchZip(as<T>(c.outs[0]), x, dy, c.ins[0].numel(),
            Gradient<Derivative>{derivative}, streamOf(c));
}

/// bias_gelu (no grad) and bias_gelu_grad: x [..., d], bias [d].
template <class T, class F>
void launchBias(KernelContext &c, const T *grad, F f) {
  const View &x = c.ins[0];
  int64_t n = x.numel(), d = x.dim(-1);
  if (n <= 0)
    return;
  const T *from = as<T>(x), *bias = as<T>(c.ins[1]);
  biasKernel<<<blocksFor(n), kThreads, 0, streamOf(c)>>>(as<T>(c.outs[0]), from,
                                                         bias, grad, n, d, f);
  SLAPO_CUDA_LAUNCHED();
}

/// The result's axes of size > 1, innermost first, neighbours merged where
/// both operands step through them as through one axis.
BroadcastAxes broadcastAxes(const std::vector<int64_t> &a,
                            const std::vector<int64_t> &b,
                            const std::vector<int64_t> &shape) {
  std::vector<int64_t> sa = broadcastStrides(a, shape);
  std::vector<int64_t> sb = broadcastStrides(b, shape);
  BroadcastAxes axes;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 1)
      continue;
    int k = axes.rank - 1;
    if (k >= 0 && sa[d] == axes.strideA[k] * axes.size[k] &&
        sb[d] == axes.strideB[k] * axes.size[k]) {
      axes.size[k] *= shape[d];
      continue;
    }
    if (axes.rank == kMaxAxes)
      tooManyAxes("add and mul");
    axes.size[axes.rank] = shape[d];
    axes.strideA[axes.rank] = sa[d];
    axes.strideB[axes.rank] = sb[d];
    ++axes.rank;
  }
  return axes;
}

/// add and mul: NumPy broadcasting over trailing axes.
template <class T, class F> void binary(KernelContext &c, F f) {
  const View &a = c.ins[0], &b = c.ins[1], &out = c.outs[0];
  const T *x = as<T>(a), *y = as<T>(b);
  T *z = as<T>(out);
  int64_t n = out.numel(), na = a.numel(), nb = b.numel();
  const auto &shape = out.info->shape;
  cudaStream_t stream = streamOf(c);
  if (n <= 0)
    return;
  if (na == n && nb == n) {
    launchZip(z, x, y, n, f, stream);
    return;
  }
  if (isSuffix(a.info->shape, shape) && isSuffix(b.info->shape, shape)) {
    suffixKernel<<<blocksFor(n), kThreads, 0, stream>>>(z, x, na, y, nb, n, f);
    SLAPO_CUDA_LAUNCHED();
    return;
  }
  BroadcastAxes axes = broadcastAxes(a.info->shape, b.info->shape, shape);
  broadcastKernel<<<blocksFor(n), kThreads, 0, stream>>>(z, x, y, n, axes, f);
  SLAPO_CUDA_LAUNCHED();
}

/// Threads for each of `blocks` blocks reducing `length` terms: a multiple
/// of 32, no more than the terms need; 1024 when there are too few blocks
/// to fill the GPU.
int reductionThreads(int64_t length, int64_t blocks) {
  int64_t most = blocks >= 1024 ? kThreads : 1024;
  return int(std::min<int64_t>(most, (length + 31) / 32 * 32));
}

} // namespace

template <class T> void relu(KernelContext &c) { unary<T>(c, Relu{}); }

template <class T> void silu(KernelContext &c) { unary<T>(c, Silu{}); }

template <class T> void gelu(KernelContext &c) {
  if (c.call->has("tanh"))
    unary<T>(c, GeluTanh{});
  else
    unary<T>(c, GeluErf{});
}

template <class T> void activationGrad(KernelContext &c) {
  const std::string &kind = c.call->attrs.at("activation").s;
  if (kind == "relu")
    gradient<T>(c, ReluGrad{});
  else if (kind == "silu")
    gradient<T>(c, SiluGrad{});
  else if (kind == "gelu_tanh")
    gradient<T>(c, GeluTanhGrad{});
  else
    gradient<T>(c, GeluErfGrad{});
}

template <class T> void biasGelu(KernelContext &c) {
  const T *none = nullptr;
  if (c.call->has("tanh"))
    launchBias<T>(c, none, GeluTanh{});
  else
    launchBias<T>(c, none, GeluErf{});
}

template <class T> void biasGeluGrad(KernelContext &c) {
  const T *dy = as<T>(c.ins[2]);
  if (c.call->has("tanh"))
    launchBias<T>(c, dy, GeluTanhGrad{});
  else
    launchBias<T>(c, dy, GeluErfGrad{});
}

template <class T> void scale(KernelContext &c) {
  float factor = float(c.call->floatAttr("factor", 1.0));
  unary<T>(c, Scale{factor});
}

template <class T> void dropout(KernelContext &c) {
  // Training and p == 0 are left to the mask (1 for every element): the
  // training flag is a step scalar, read on the device.
  float p = float(c.call->floatAttr("probability", 0.0));
  Drop drop{dropoutMask(c, p, c.ins[0].info->shape)};
  launchMap(as<T>(c.outs[0]), as<T>(c.ins[0]), c.ins[0].numel(), drop,
            streamOf(c));
}

template <class T> void add(KernelContext &c) { binary<T>(c, Add{}); }

template <class T> void mul(KernelContext &c) { binary<T>(c, Mul{}); }

template <class T> void sumTo(KernelContext &c) {
  // Sums in double and rounds once to float (then, for bf16, to bf16), as
  // the CPU's reductions store their float totals.
  const View &in = c.ins[0], &out = c.outs[0];
  const T *x = as<T>(in);
  T *y = as<T>(out);
  int64_t n = in.numel(), m = out.numel();
  cudaStream_t stream = streamOf(c);
  if (m <= 0)
    return;
  if (n <= 0) { // sums of nothing (the loader refuses empty axes)
    SLAPO_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(m) * sizeof(T), stream));
    return;
  }
  // The input's axes of size > 1 in groups, innermost first: kept (the
  // result has the axis; the check makes it the same size) or reduced
  // (the result lacks it or has size 1), neighbours of a kind merged.
  const std::vector<int64_t> &from = in.info->shape, &to = out.info->shape;
  size_t lead = from.size() - to.size();
  struct Group {
    int64_t size, stride;
    bool kept;
  };
  std::vector<Group> groups;
  int64_t stride = 1;
  for (size_t d = from.size(); d-- > 0;) {
    int64_t dim = from[d];
    if (dim != 1) {
      bool kept = d >= lead && to[d - lead] != 1;
      if (!groups.empty() && groups.back().kept == kept)
        groups.back().size *= dim;
      else
        groups.push_back({dim, stride, kept});
    }
    stride *= dim;
  }
  // x as [outer, reduced, inner] with the result [outer, inner]: one group
  // of each kind at most, in that order.
  size_t g = 0;
  int64_t inner = 1, reduced = 1, outer = 1;
  if (g < groups.size() && groups[g].kept)
    inner = groups[g++].size;
  if (g < groups.size() && !groups[g].kept)
    reduced = groups[g++].size;
  if (g < groups.size() && groups[g].kept)
    outer = groups[g++].size;
  if (g == groups.size() && inner == 1) {
    rowSumKernel<<<blocksFor(outer, 1), reductionThreads(reduced, outer), 0,
                   stream>>>(y, x, outer, reduced);
    SLAPO_CUDA_LAUNCHED();
    return;
  }
  if (g == groups.size()) {
    int64_t tiles = outer * ((inner + 31) / 32);
    dim3 threads(32, unsigned(std::min<int64_t>(32, reduced)));
    columnSumKernel<<<blocksFor(tiles, 1), threads, 0, stream>>>(
        y, x, outer, reduced, inner);
    SLAPO_CUDA_LAUNCHED();
    return;
  }
  // Two reduced groups or more: the general form.
  SumAxes axes;
  for (const Group &group : groups) {
    if (group.kept) {
      if (axes.keptRank == kMaxAxes)
        tooManyAxes("sum_to");
      axes.keptSize[axes.keptRank] = group.size;
      axes.keptStride[axes.keptRank++] = group.stride;
    } else {
      if (axes.reducedRank == kMaxAxes)
        tooManyAxes("sum_to");
      axes.reducedSize[axes.reducedRank] = group.size;
      axes.reducedStride[axes.reducedRank++] = group.stride;
      axes.reduced *= group.size;
    }
  }
  sumKernel<<<blocksFor(m, 1), reductionThreads(axes.reduced, m), 0, stream>>>(
      y, x, m, axes);
  SLAPO_CUDA_LAUNCHED();
}

void zeros(KernelContext &c) {
  SLAPO_CUDA_CHECK(
      cudaMemsetAsync(c.outs[0].data, 0, c.outs[0].info->bytes, streamOf(c)));
}

void cast(KernelContext &c) {
  const View &in = c.ins[0], &out = c.outs[0];
  DType from = in.dtype(), to = out.dtype();
  int64_t n = in.numel();
  cudaStream_t stream = streamOf(c);
  if (from == to) {
    if (out.data != in.data)
      SLAPO_CUDA_CHECK(cudaMemcpyAsync(out.data, in.data, out.info->bytes,
                                       cudaMemcpyDeviceToDevice, stream));
    return;
  }
  if (from == DType::BF16 && to == DType::F32) { // exact
    launchMap(as<float>(out), as<bf16>(in), n, Pointwise<Identity>{}, stream);
    return;
  }
  if (from == DType::F32 && to == DType::BF16) { // to nearest even
    launchMap(as<bf16>(out), as<float>(in), n, Pointwise<Identity>{}, stream);
    return;
  }
  // The load-time check admits only f32 <-> bf16.
  std::fprintf(stderr, "slapo-run: internal error: cast from %s to %s\n",
               dtypeName(from), dtypeName(to));
  std::abort();
}

SLAPO_CUDA_KERNEL_TYPES(relu);
SLAPO_CUDA_KERNEL_TYPES(silu);
SLAPO_CUDA_KERNEL_TYPES(gelu);
SLAPO_CUDA_KERNEL_TYPES(activationGrad);
SLAPO_CUDA_KERNEL_TYPES(biasGelu);
SLAPO_CUDA_KERNEL_TYPES(biasGeluGrad);
SLAPO_CUDA_KERNEL_TYPES(scale);
SLAPO_CUDA_KERNEL_TYPES(dropout);
SLAPO_CUDA_KERNEL_TYPES(add);
SLAPO_CUDA_KERNEL_TYPES(mul);
SLAPO_CUDA_KERNEL_TYPES(sumTo);

} // namespace slapo::rt::cuda
