//===- Loss.cu - mean cross-entropy and its gradient ----------------------===//
//
// CPU/Loss.cpp on the device: the mean over the rows whose target is not
// `ignore_index` of log(sum(exp(row))) - row[target], and its gradient
// (softmax(row) - onehot(target)) / count, zero on ignored rows. The loss
// is f32 whatever the logits; bf16 logits are read as float and each
// gradient element is rounded once, from the unrounded probability.
//
// The count of targets and the mean are computed on the device, never read
// back: each call is one fixed sequence of launches and collectives, so it
// can be captured into a graph. Sums are deterministic (no atomics): a row
// is reduced by one block in a fixed tree, and the rows' losses are summed
// by block and then over the blocks, in double, in a fixed order.
//
// With `vocab_parallel` (on more than one rank) each rank holds the columns
// [rank * V, (rank + 1) * V) of the logits, the last rank's past the
// vocabulary being padding, and, as on the CPU, the row maxima, then the
// sums of exponentials (and for the loss the target logits, zero on the
// ranks that do not hold the target) are all-reduced over the
// tensor-parallel group on the stream, in that order.
//
// Scratch: the per-block partial sums, the count and, vocab-parallel, three
// floats a row for the collectives. No load-time check reserves workspace
// for these calls, so they use the call's workspace where it is large
// enough (8216 bytes, plus 12 a row with vocab_parallel) and otherwise a
// static buffer of this file, whose row arrays hold kStaticRows rows: a
// vocab-parallel call with more rows runs in chunks of that many, each
// with its own three (for the gradient two) collectives. Because of the
// static buffer two loss calls must not run at once on one device; the
// backend issues every kernel on its one stream.
//
//===----------------------------------------------------------------------===//

#include "Device.cuh"

#include <math_constants.h>

namespace slapo::rt::cuda {

namespace {

constexpr int kRowThreads = 256;     // threads reducing one row of logits
constexpr int kLossBlocks = 1024;    // blocks summing the losses of rows
constexpr int kFinishThreads = 1024; // the one block that ends a reduction
constexpr int64_t kStaticRows = 32768;

/// Partial sums, the count, and an int64 of padding.
constexpr uint64_t kFixedBytes =
    kLossBlocks * sizeof(double) + 2 * sizeof(int64_t);
constexpr uint64_t kStaticBytes =
    kFixedBytes + 3 * uint64_t(kStaticRows) * sizeof(float);

} // namespace

/// The scratch of calls whose workspace is too small (named, outside the
/// anonymous namespace, for cudaGetSymbolAddress).
__device__ double lossScratch[(kStaticBytes + 7) / 8];

namespace {

/// Where a call's scratch is: partials (kLossBlocks), the count, and
/// `capacity` row maxima, sums and target logits.
struct Scratch {
  double *partials = nullptr;
  int64_t *count = nullptr;
  float *max = nullptr, *sum = nullptr, *target = nullptr;
  int64_t capacity = 0;
};

Scratch carve(void *base, int64_t capacity) {
  char *at = static_cast<char *>(base);
  Scratch s;
  s.partials = reinterpret_cast<double *>(at);
  at += kLossBlocks * sizeof(double);
  s.count = reinterpret_cast<int64_t *>(at);
  at += 2 * sizeof(int64_t);
  s.max = reinterpret_cast<float *>(at);
  s.sum = s.max + capacity;
  s.target = s.sum + capacity;
  s.capacity = capacity;
  return s;
}

/// The call's workspace where it holds everything for `rows` rows (with
/// `rowStats`: the vocab-parallel arrays), else the static buffer.
Scratch scratchFor(const KernelContext &c, int64_t rows, bool rowStats) {
  uint64_t need = kFixedBytes + (rowStats ? 3 * uint64_t(rows) * 4 : 0);
  if (c.workspace) {
    uintptr_t address = reinterpret_cast<uintptr_t>(c.workspace);
    uint64_t skip = (8 - address % 8) % 8; // doubles first
    if (c.workspaceBytes >= need + skip)
      return carve(reinterpret_cast<char *>(c.workspace) + skip,
                   rowStats ? rows : 0);
  }
  void *base = nullptr;
  SLAPO_CUDA_CHECK(cudaGetSymbolAddress(&base, lossScratch));
  return carve(base, rowStats ? kStaticRows : 0);
}

/// This rank's block of the vocabulary: its logits' column 0 is vocabulary
/// id `first`, and its first `columns` columns are real vocabulary, the
/// rest padding (the CPU's realColumns).
struct VocabBlock {
  bool parallel = false;
  int64_t first = 0, columns = 0;
};

VocabBlock vocabBlock(const KernelContext &c, int64_t v) {
  VocabBlock block;
  block.parallel = c.call->has("vocab_parallel") && c.tp && c.tp->size() > 1;
  block.columns = v;
  if (!block.parallel)
    return block;
  block.first = int64_t(c.tp->rank()) * v;
  int64_t vocab = c.call->intAttr("vocab_parallel", 0);
  if (vocab > 0)
    block.columns = std::clamp<int64_t>(vocab - block.first, 0, v);
  return block;
}

/// What both loss kernels read of their call: the logits [rows, v] and
/// their targets [rows], the ignored target, this rank's vocabulary block,
/// the scratch and the stream.
template <class T> struct LossCall {
  const T *x;
  const int64_t *targets;
  int64_t ignore, rows, v;
  VocabBlock block;
  Scratch s;
  cudaStream_t stream;
};

template <class T> LossCall<T> lossCallOf(const KernelContext &c) {
  const View &logits = c.ins[0];
  LossCall<T> call;
  call.x = as<T>(logits);
  call.targets = c.ins[1].i64();
  call.ignore = c.call->intAttr("ignore_index", -100);
  // The targets' count is the logits' rows (also when V is 0).
  call.rows = c.ins[1].numel();
  call.v = logits.dim(-1);
  call.block = vocabBlock(c, call.v);
  call.s = scratchFor(c, call.rows, call.block.parallel);
  call.stream = streamOf(c);
  return call;
}

unsigned rowBlocks(int64_t rows) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(rows, 65536)));
}

/// The row's maximum `max` and sum(exp(row - max)) `sum` over its `v`
/// columns, in every thread of the block, in one pass (each thread keeps a
/// running maximum and rescales its sum when it grows). Non-finite logits
/// give what the CPU's two passes give: NaN for a +inf or an all -inf row.
template <class T>
__device__ void rowStats(const T *__restrict__ row, int64_t v, float *shared,
                         float &max, float &sum) {
  float m = -INFINITY, s = 0.0f;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
    float x = toFloat(row[j]);
    if (x > m) {
      s = s * expf(m - x) + 1.0f;
      m = x;
    } else {
      // x == m also covers -inf == -inf: its 1 is scaled to 0 later.
      s += x == m ? 1.0f : expf(x - m);
    }
  }
  float rowMax = blockMax(m, shared);
  float scaled = s * (m == -INFINITY ? 0.0f : expf(m - rowMax));
  float rowSum = blockSum(scaled, shared);
  if (rowMax == INFINITY || (rowMax == -INFINITY && v > 0))
    rowSum = CUDART_NAN_F;
  max = rowMax;
  sum = rowSum;
}

/// Block b sums the losses of rows b, b + gridDim.x, ... (not ignored) into
/// partials[b], in double.
template <class T>
__global__ void __launch_bounds__(kRowThreads)
    lossRowsKernel(const T *__restrict__ x, const int64_t *__restrict__ targets,
                   int64_t rows, int64_t v, int64_t ignore,
                   double *__restrict__ partials) {
  __shared__ float shared[32];
  double total = 0.0; // thread 0's
  for (int64_t i = blockIdx.x; i < rows; i += gridDim.x) {
    int64_t target = targets[i];
    if (target == ignore)
      continue;
    const T *row = x + i * v;
    float max, sum;
    rowStats(row, v, shared, max, sum);
    if (threadIdx.x == 0) {
      double logSumExp = double(max) + log(double(sum));
      // A target outside the vocabulary has logit 0, as on the CPU.
      float logit = target >= 0 && target < v ? toFloat(row[target]) : 0.0f;
      total += logSumExp - double(logit);
    }
  }
  if (threadIdx.x == 0)
    partials[blockIdx.x] = total;
}

/// The number of targets that are not `ignore`.
__device__ long long countTargets(const int64_t *__restrict__ targets,
                                  int64_t rows, int64_t ignore,
                                  long long *shared) {
  long long count = 0;
  for (int64_t i = threadIdx.x; i < rows; i += blockDim.x)
    count += targets[i] != ignore;
  return blockSum(count, shared);
}

/// out = sum(partials) / count (0 when nothing is counted). One block.
__global__ void __launch_bounds__(kFinishThreads)
    lossFinishKernel(const int64_t *__restrict__ targets, int64_t rows,
                     int64_t ignore, const double *__restrict__ partials,
                     int numPartials, float *__restrict__ out) {
  __shared__ long long counts[32];
  __shared__ double totals[32];
  long long count = countTargets(targets, rows, ignore, counts);
  double total = 0.0;
  for (int k = threadIdx.x; k < numPartials; k += blockDim.x)
    total += partials[k];
  total = blockSum(total, totals);
  if (threadIdx.x == 0)
    out[0] = count ? float(total / double(count)) : 0.0f;
}

/// *count = the number of targets that are not `ignore`. One block.
__global__ void __launch_bounds__(kFinishThreads)
    countKernel(const int64_t *__restrict__ targets, int64_t rows,
                int64_t ignore, int64_t *__restrict__ count) {
  __shared__ long long counts[32];
  long long total = countTargets(targets, rows, ignore, counts);
  if (threadIdx.x == 0)
    *count = int64_t(total);
}

/// max[i] = the maximum of row i's first `columns` logits (-inf if none).
template <class T>
__global__ void __launch_bounds__(kRowThreads)
    rowMaxKernel(const T *__restrict__ x, int64_t n, int64_t v, int64_t columns,
                 float *__restrict__ max) {
  __shared__ float shared[32];
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const T *row = x + i * v;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < columns; j += blockDim.x)
      m = fmaxf(m, toFloat(row[j]));
    m = blockMax(m, shared);
    if (threadIdx.x == 0)
      max[i] = m;
  }
}

/// sum[i] = sum(exp(row i - max[i])) over its first `columns` logits; and,
/// where `target` is given, target[i] = row i's target logit when this
/// rank holds it (0 otherwise, and for ignored rows).
template <class T>
__global__ void __launch_bounds__(kRowThreads)
    rowSumKernel(const T *__restrict__ x, const int64_t *__restrict__ targets,
                 int64_t n, int64_t v, int64_t columns, int64_t first,
                 int64_t ignore, const float *__restrict__ max,
                 float *__restrict__ sum, float *__restrict__ target) {
  __shared__ float shared[32];
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const T *row = x + i * v;
    float m = max[i], s = 0.0f;
    for (int64_t j = threadIdx.x; j < columns; j += blockDim.x)
      s += expf(toFloat(row[j]) - m);
    s = blockSum(s, shared);
    if (threadIdx.x == 0) {
      sum[i] = s;
      if (target) {
        int64_t column = targets[i] - first;
        bool held = targets[i] != ignore && column >= 0 && column < columns;
        target[i] = held ? toFloat(row[column]) : 0.0f;
      }
    }
  }
}

/// *partial (+)= the losses of the chunk's `n` rows from the all-reduced
/// statistics (assigned on the first chunk). One block.
__global__ void __launch_bounds__(kFinishThreads)
    chunkLossKernel(const int64_t *__restrict__ targets, int64_t n,
                    int64_t ignore, const float *__restrict__ max,
                    const float *__restrict__ sum,
                    const float *__restrict__ target,
                    double *__restrict__ partial, bool firstChunk) {
  __shared__ double totals[32];
  double total = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    if (targets[i] != ignore)
      total += (double(max[i]) + log(double(sum[i]))) - double(target[i]);
  total = blockSum(total, totals);
  if (threadIdx.x == 0)
    *partial = (firstChunk ? 0.0 : *partial) + total;
}

/// The gradient of `n` rows: exp(row - logSumExp) / count over the first
/// `columns` columns, minus 1 / count at the target's, 0 past them and on
/// ignored rows. logSumExp is max[i] + log(sum[i]) where `max` is given
/// (vocab-parallel), else computed here over the whole row.
template <class T>
__global__ void __launch_bounds__(kRowThreads)
    gradKernel(const T *__restrict__ x, const int64_t *__restrict__ targets,
               int64_t n, int64_t v, int64_t columns, int64_t first,
               int64_t ignore, const int64_t *__restrict__ count,
               const float *__restrict__ max, const float *__restrict__ sum,
               T *__restrict__ grad) {
  __shared__ float shared[32];
  int64_t counted = *count;
  float inv = counted ? 1.0f / float(counted) : 0.0f;
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const T *row = x + i * v;
    T *g = grad + i * v;
    int64_t target = targets[i];
    if (target == ignore) {
      for (int64_t j = threadIdx.x; j < v; j += blockDim.x)
        g[j] = fromFloat<T>(0.0f);
      continue;
    }
    float rowMax, rowSum;
    if (max) {
      rowMax = max[i];
      rowSum = sum[i];
    } else {
      rowStats(row, v, shared, rowMax, rowSum);
    }
    float logSumExp = float(double(rowMax) + log(double(rowSum)));
    int64_t column = target - first;
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
      float value = 0.0f;
      if (j < columns) {
        value = expf(toFloat(row[j]) - logSumExp) * inv;
        // From the unrounded probability, so that T rounds only once.
        if (j == column)
          value -= inv;
      }
      g[j] = fromFloat<T>(value);
    }
  }
}

/// The row maxima, then the sums of exponentials of `n` rows from `x`,
/// all-reduced over the group in the CPU's order; with `wantTargets`, the
/// target logits too (after the sums).
template <class T>
void reduceRowStats(KernelContext &c, const Scratch &s, const VocabBlock &b,
                    const T *x, const int64_t *targets, int64_t n, int64_t v,
                    int64_t ignore, bool wantTargets) {
  cudaStream_t stream = streamOf(c);
  if (n > 0) {
    rowMaxKernel<T>
        <<<rowBlocks(n), kRowThreads, 0, stream>>>(x, n, v, b.columns, s.max);
    SLAPO_CUDA_LAUNCHED();
  }
  c.tp->allReduce(s.max, n, DType::F32, ReduceOp::Max, c.stream);
  if (n > 0) {
    rowSumKernel<T><<<rowBlocks(n), kRowThreads, 0, stream>>>(
        x, targets, n, v, b.columns, b.first, ignore, s.max, s.sum,
        wantTargets ? s.target : nullptr);
    SLAPO_CUDA_LAUNCHED();
  }
  c.tp->allReduce(s.sum, n, DType::F32, ReduceOp::Sum, c.stream);
  if (wantTargets)
    c.tp->allReduce(s.target, n, DType::F32, ReduceOp::Sum, c.stream);
}

} // namespace

template <class T> void crossEntropy(KernelContext &c) {
  auto [x, targets, ignore, rows, v, block, s, stream] = lossCallOf<T>(c);
  float *loss = c.outs[0].f32();
  int partials = 1;
  if (!block.parallel) {
    partials = int(std::min<int64_t>(rows, kLossBlocks));
    if (partials > 0) {
      lossRowsKernel<T><<<unsigned(partials), kRowThreads, 0, stream>>>(
          x, targets, rows, v, ignore, s.partials);
      SLAPO_CUDA_LAUNCHED();
    }
  } else {
    int64_t r0 = 0;
    do {
      int64_t n = std::min<int64_t>(s.capacity, rows - r0);
      reduceRowStats(c, s, block, x + r0 * v, targets + r0, n, v, ignore,
                     /*wantTargets=*/true);
      chunkLossKernel<<<1, kFinishThreads, 0, stream>>>(
          targets + r0, n, ignore, s.max, s.sum, s.target, s.partials, r0 == 0);
      SLAPO_CUDA_LAUNCHED();
      r0 += n;
    } while (r0 < rows);
  }
  lossFinishKernel<<<1, kFinishThreads, 0, stream>>>(
      targets, rows, ignore, s.partials, partials, loss);
  SLAPO_CUDA_LAUNCHED();
}

template <class T> void crossEntropyGrad(KernelContext &c) {
  auto [x, targets, ignore, rows, v, block, s, stream] = lossCallOf<T>(c);
  T *grad = as<T>(c.outs[0]);
  countKernel<<<1, kFinishThreads, 0, stream>>>(targets, rows, ignore, s.count);
  SLAPO_CUDA_LAUNCHED();
  if (!block.parallel) {
    if (rows > 0) {
      gradKernel<T><<<rowBlocks(rows), kRowThreads, 0, stream>>>(
          x, targets, rows, v, v, 0, ignore, s.count, nullptr, nullptr, grad);
      SLAPO_CUDA_LAUNCHED();
    }
    return;
  }
  int64_t r0 = 0;
  do {
    int64_t n = std::min<int64_t>(s.capacity, rows - r0);
    reduceRowStats(c, s, block, x + r0 * v, targets + r0, n, v, ignore,
                   /*wantTargets=*/false);
    if (n > 0) {
      gradKernel<T><<<rowBlocks(n), kRowThreads, 0, stream>>>(
          x + r0 * v, targets + r0, n, v, block.columns, block.first, ignore,
          s.count, s.max, s.sum, grad + r0 * v);
      SLAPO_CUDA_LAUNCHED();
    }
    r0 += n;
  } while (r0 < rows);
}

SLAPO_CUDA_KERNEL_TYPES(crossEntropy);
SLAPO_CUDA_KERNEL_TYPES(crossEntropyGrad);

} // namespace slapo::rt::cuda
