//===- Norms.cu - layer norm, RMS norm, softmax and their gradients -------===//
//
// The CUDA forms of CPU/Norms.cpp's kernels, with the same semantics: row
// statistics in float32, epsilon added to the biased variance (or mean
// square) in double, results rounded to T once; the fused norms normalise
// the stored sum as rounded to T. Rows go to a warp each when short, to a
// block each when long, every thread holding its share of the row in
// registers (or, past 16384 values, reloading it each pass).
//
// Weight and bias gradients (sums over every row) are deterministic and use
// no atomics: columns are owned by threads that read their rows in a fixed
// order, and the row statistics they need are first written into the
// input-gradient result, which the call owns and writes last (see
// weightGrads). Private to lib/Runtime/CUDA.
//
//===----------------------------------------------------------------------===//

#include "CudaKernels.h"
#include "Device.cuh"
#include "DropoutMask.cuh"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace slapo::rt::cuda {

namespace {

//===----------------------------------------------------------------------===//
// Rows
//===----------------------------------------------------------------------===//

/// How a row kernel spreads rows over threads: `Width` threads per row (32:
/// one warp, four rows per block; more: one block), each holding `N` of the
/// row's values in registers, value j in slot k where j = lane + k * Width.
/// N = 0 holds none: each pass reloads (or recomputes) its values.
template <int Width, int N> struct Rows {
  static_assert(Width % 32 == 0 && Width <= 1024, "whole warps, one block");
  static constexpr bool kHeld = N > 0;
  static constexpr int kSlots = N > 0 ? N : 1;
  static constexpr int kThreads = Width == 32 ? 128 : Width;
  static constexpr int kRowsPerBlock = kThreads / Width;

  static __device__ __forceinline__ int lane() {
    return int(threadIdx.x) % Width;
  }
  /// This thread's first row, and the step to its next.
  static __device__ __forceinline__ int64_t first() {
    return int64_t(blockIdx.x) * kRowsPerBlock + int64_t(threadIdx.x) / Width;
  }
  static __device__ __forceinline__ int64_t stride() {
    return int64_t(gridDim.x) * kRowsPerBlock;
  }
  /// The sum (max) of `value` over the row's threads, in each of them.
  /// `scratch` is 32 floats of shared memory (unused by a warp).
  static __device__ __forceinline__ float sum(float value, float *scratch) {
    if constexpr (Width == 32) {
      (void)scratch;
      return warpSum(value);
    } else {
      return blockSum(value, scratch);
    }
  }
  static __device__ __forceinline__ float max(float value, float *scratch) {
    if constexpr (Width == 32) {
      (void)scratch;
      return warpMax(value);
    } else {
      return blockMax(value, scratch);
    }
  }
  /// f(k, j) for each of this thread's values j < d of the row, in slot k
  /// (0 when nothing is held).
  template <class F>
  static __device__ __forceinline__ void each(int64_t d, F &&f) {
    int64_t first = lane();
    if constexpr (kHeld) {
#pragma unroll
      for (int k = 0; k < N; ++k) {
        int64_t j = first + int64_t(k) * Width;
        if (j < d)
          f(k, j);
      }
    } else {
      for (int64_t j = first; j < d; j += Width)
        f(0, j);
    }
  }
};

/// Calls launch(Rows<...>()) with the shape for rows of `d`: a warp per row
/// up to 512 values (16 a lane), then a block per row, its threads holding
/// 8 values each (32 past 8192, in blocks of 512 threads, whose register
/// budget is twice that of 1024).
template <class Launch> void withRows(int64_t d, Launch &&launch) {
  if (d <= 32)
    launch(Rows<32, 1>());
  else if (d <= 64)
    launch(Rows<32, 2>());
  else if (d <= 128)
    launch(Rows<32, 4>());
  else if (d <= 256)
    launch(Rows<32, 8>());
  else if (d <= 512)
    launch(Rows<32, 16>());
  else if (d <= 1024)
    launch(Rows<128, 8>());
  else if (d <= 2048)
    launch(Rows<256, 8>());
  else if (d <= 4096)
    launch(Rows<512, 8>());
  else if (d <= 8192)
    launch(Rows<1024, 8>());
  else if (d <= 16384)
    launch(Rows<512, 32>());
  else
    launch(Rows<1024, 0>());
}

/// Blocks for `rows` rows of shape R (the kernels loop over rows, so any
/// count fits a grid).
template <class R> unsigned rowBlocks(int64_t rows) {
  int64_t blocks = (rows + R::kRowsPerBlock - 1) / R::kRowsPerBlock;
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(blocks, 1 << 20)));
}

/// Launches kernelOf(R()), the row kernel for withRows' shape R of rows of
/// `d`, on `rows` rows with `args` (nothing for no rows).
template <class KernelOf, class... Args>
void launchRows(KernelOf kernelOf, int64_t rows, int64_t d, cudaStream_t stream,
                Args... args) {
  if (rows == 0)
    return;
  withRows(d, [&](auto shape) {
    using R = decltype(shape);
    kernelOf(shape)<<<rowBlocks<R>(rows), R::kThreads, 0, stream>>>(args...);
  });
  SLAPO_CUDA_LAUNCHED();
}

/// Reads this thread's values of row `xi` (into `held` where R holds
/// values) and returns their sum.
template <class R, class T>
__device__ __forceinline__ float holdRow(const T *xi, int64_t d,
                                         float (&held)[R::kSlots]) {
  float sum = 0.0f;
  R::each(d, [&](int k, int64_t j) {
    float v = toFloat(xi[j]);
    if constexpr (R::kHeld)
      held[k] = v;
    sum += v;
  });
  return sum;
}

/// Value j (slot k) of row `xi` again: held, or read once more.
template <class R, class T>
__device__ __forceinline__ float heldValue(const float (&held)[R::kSlots],
                                           const T *xi, int k, int64_t j) {
  if constexpr (R::kHeld)
    return held[k];
  else
    return toFloat(xi[j]);
}

/// The mean and 1 / sqrt(var + eps) of a row (biased variance, as torch and
/// CPU/Norms.cpp's rowStats): `sum` is this thread's sum of its values, and
/// value(k, j) gives value j (slot k) again for the centred squares.
template <class R, class Value>
__device__ __forceinline__ void rowStats(float sum, int64_t d, double eps,
                                         Value &&value, float *scratch,
                                         float &mean, float &rstd) {
  mean = float(double(R::sum(sum, scratch)) / double(d));
  float sq = 0.0f;
  float mu = mean;
  R::each(d, [&](int k, int64_t j) {
    float centred = value(k, j) - mu;
    sq += centred * centred;
  });
  sq = R::sum(sq, scratch);
  rstd = float(1.0 / sqrt(double(sq) / double(d) + eps));
}

/// 1 / sqrt(mean(x^2) + eps) of a row whose squares this thread summed
/// into `sq` (CPU/Norms.cpp's rmsInverse), in double.
template <class R>
__device__ __forceinline__ double rmsInverse(float sq, int64_t d, double eps,
                                             float *scratch) {
  return 1.0 / sqrt(double(R::sum(sq, scratch)) / double(d) + eps);
}

//===----------------------------------------------------------------------===//
// Forward kernels
//===----------------------------------------------------------------------===//

template <class T, class R>
__global__ void __launch_bounds__(R::kThreads)
    layerNormKernel(const T *__restrict__ x, const T *__restrict__ gamma,
                    const T *__restrict__ beta, T *__restrict__ y, int64_t rows,
                    int64_t d, double eps) {
  __shared__ float scratch[32];
  for (int64_t row = R::first(); row < rows; row += R::stride()) {
    const T *xi = x + row * d;
    T *yi = y + row * d;
    float held[R::kSlots];
    float sum = holdRow<R>(xi, d, held);
    auto value = [&](int k, int64_t j) { return heldValue<R>(held, xi, k, j); };
    float mean, rstd;
    rowStats<R>(sum, d, eps, value, scratch, mean, rstd);
    R::each(d, [&](int k, int64_t j) {
      float h = (value(k, j) - mean) * rstd;
      yi[j] =
          fromFloat<T>(gamma ? h * toFloat(gamma[j]) + toFloat(beta[j]) : h);
    });
  }
}

template <class T, class R>
__global__ void __launch_bounds__(R::kThreads)
    rmsNormKernel(const T *__restrict__ x, const T *__restrict__ w,
                  T *__restrict__ y, int64_t rows, int64_t d, double eps) {
  __shared__ float scratch[32];
  for (int64_t row = R::first(); row < rows; row += R::stride()) {
    const T *xi = x + row * d;
    T *yi = y + row * d;
    float held[R::kSlots];
    float sq = 0.0f;
    R::each(d, [&](int k, int64_t j) {
      float v = toFloat(xi[j]);
      if constexpr (R::kHeld)
        held[k] = v;
      sq += v * v;
    });
    float r = float(rmsInverse<R>(sq, d, eps, scratch));
    R::each(d, [&](int k, int64_t j) {
      float v = heldValue<R>(held, xi, k, j);
      yi[j] = fromFloat<T>(toFloat(w[j]) * (v * r));
    });
  }
}

/// sum = residual + dropout(x + bias), stored as T; normed = the layer norm
/// of that stored sum. Element (row, j) draws mask number row * d + j, as
/// graph.dropout on the [..., D] tensor.
template <class T, class R>
__global__ void __launch_bounds__(R::kThreads)
    biasDropoutAddLayerNormKernel(const T *__restrict__ x,
                                  const T *__restrict__ bias,
                                  const T *__restrict__ residual,
                                  const T *__restrict__ gamma,
                                  const T *__restrict__ beta, T *sum,
                                  T *__restrict__ normed, int64_t rows,
                                  int64_t d, double eps, DropoutMask mask) {
  __shared__ float scratch[32];
  for (int64_t row = R::first(); row < rows; row += R::stride()) {
    int64_t base = row * d;
    float held[R::kSlots];
    float total = 0.0f;
    R::each(d, [&](int k, int64_t j) {
      int64_t i = base + j;
      // __fmul_rn: the scaled branch rounds to float before the residual
      // is added, as on the CPU (no fused multiply-add).
      float branch = __fmul_rn(toFloat(x[i]) + toFloat(bias[j]), mask(i));
      T stored = fromFloat<T>(toFloat(residual[i]) + branch);
      sum[i] = stored;
      float v = toFloat(stored);
      if constexpr (R::kHeld)
        held[k] = v;
      total += v;
    });
    // Without registers, the thread reads back the sums it stored itself.
    auto value = [&](int k, int64_t j) {
      return heldValue<R>(held, sum + base, k, j);
    };
    float mean, rstd;
    rowStats<R>(total, d, eps, value, scratch, mean, rstd);
    R::each(d, [&](int k, int64_t j) {
      normed[base + j] = fromFloat<T>(
          (value(k, j) - mean) * rstd * toFloat(gamma[j]) + toFloat(beta[j]));
    });
  }
}

/// sum = residual + x, stored as T; normed = the RMS norm of the stored sum.
template <class T, class R>
__global__ void __launch_bounds__(R::kThreads)
    addRmsNormKernel(const T *__restrict__ x, const T *__restrict__ residual,
                     const T *__restrict__ w, T *sum, T *__restrict__ normed,
                     int64_t rows, int64_t d, double eps) {
  __shared__ float scratch[32];
  for (int64_t row = R::first(); row < rows; row += R::stride()) {
    int64_t base = row * d;
    float held[R::kSlots];
    float sq = 0.0f;
    R::each(d, [&](int k, int64_t j) {
      int64_t i = base + j;
      T stored = fromFloat<T>(toFloat(residual[i]) + toFloat(x[i]));
      sum[i] = stored;
      float v = toFloat(stored);
      if constexpr (R::kHeld)
        held[k] = v;
      sq += v * v;
    });
    float r = float(rmsInverse<R>(sq, d, eps, scratch));
    R::each(d, [&](int k, int64_t j) {
      // Without registers, the sums this thread stored above.
      float v = heldValue<R>(held, sum + base, k, j);
      normed[base + j] = fromFloat<T>(toFloat(w[j]) * (v * r));
    });
  }
}

/// Softmax along rows. A fully masked row (all -inf) gives NaN, as on the
/// CPU: its max is -inf and exp(-inf - -inf) is NaN.
template <class T, class R>
__global__ void __launch_bounds__(R::kThreads)
    softmaxKernel(const T *__restrict__ x, T *__restrict__ y, int64_t rows,
                  int64_t d) {
  __shared__ float scratch[32];
  for (int64_t row = R::first(); row < rows; row += R::stride()) {
    const T *xi = x + row * d;
    T *yi = y + row * d;
    float held[R::kSlots];
    float max = -INFINITY;
    R::each(d, [&](int k, int64_t j) {
      float v = toFloat(xi[j]);
      if constexpr (R::kHeld)
        held[k] = v;
      max = fmaxf(max, v);
    });
    max = R::max(max, scratch);
    // exp(x - max) in float, so that T rounds only the normalised value;
    // held values become their exponentials.
    float sum = 0.0f;
    R::each(d, [&](int k, int64_t j) {
      float e;
      if constexpr (R::kHeld)
        e = held[k] = expf(held[k] - max);
      else
        e = expf(toFloat(xi[j]) - max);
      sum += e;
    });
    float inv = float(1.0 / double(R::sum(sum, scratch)));
    R::each(d, [&](int k, int64_t j) {
      float e;
      if constexpr (R::kHeld)
        e = held[k];
      else
        e = expf(toFloat(xi[j]) - max);
      yi[j] = fromFloat<T>(e * inv);
    });
  }
}

/// Causal masking of [..., T, S] matrices, a warp per row: query i sees keys
/// j < i + (S - T) + 1; the rest become `fill`.
constexpr int kMaskThreads = 256;

template <class T>
__global__ void __launch_bounds__(kMaskThreads)
    causalMaskKernel(const T *__restrict__ in, T *__restrict__ out,
                     int64_t rows, int64_t t, int64_t s, float fill) {
  constexpr int kWarps = kMaskThreads / 32;
  int lane = int(threadIdx.x) % 32;
  T filler = fromFloat<T>(fill);
  for (int64_t row = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
       row < rows; row += int64_t(gridDim.x) * kWarps) {
    int64_t visible = row % t + (s - t) + 1;
    const T *a = in + row * s;
    T *b = out + row * s;
    for (int64_t j = lane; j < s; j += 32)
      b[j] = j < visible ? a[j] : filler;
  }
}

//===----------------------------------------------------------------------===//
// Backward kernels
//===----------------------------------------------------------------------===//

/// The input gradient of layer_norm: with h = (x - mean) * rstd and
/// g = dy * gamma (dy without gamma), dx = rstd (g - mean(g) - h mean(g h)).
template <class T, class R>
__global__ void __launch_bounds__(R::kThreads)
    layerNormGradKernel(const T *__restrict__ x, const T *__restrict__ dy,
                        const T *__restrict__ gamma, T *__restrict__ dx,
                        int64_t rows, int64_t d, double eps) {
  __shared__ float scratch[32];
  for (int64_t row = R::first(); row < rows; row += R::stride()) {
    const T *xi = x + row * d, *dyi = dy + row * d;
    T *dxi = dx + row * d;
    // Held: x, then h; and g.
    float hs[R::kSlots], gs[R::kSlots];
    float sum = holdRow<R>(xi, d, hs);
    auto xAt = [&](int k, int64_t j) { return heldValue<R>(hs, xi, k, j); };
    float mean, rstd;
    rowStats<R>(sum, d, eps, xAt, scratch, mean, rstd);
    auto gAt = [&](int64_t j) {
      float g = toFloat(dyi[j]);
      return gamma ? g * toFloat(gamma[j]) : g;
    };
    float sumG = 0.0f, sumGH = 0.0f;
    R::each(d, [&](int k, int64_t j) {
      float h = (xAt(k, j) - mean) * rstd;
      float g = gAt(j);
      if constexpr (R::kHeld) {
        hs[k] = h;
        gs[k] = g;
      }
      sumG += g;
      sumGH += g * h;
    });
    float meanG = float(double(R::sum(sumG, scratch)) / double(d));
    float meanGH = float(double(R::sum(sumGH, scratch)) / double(d));
    R::each(d, [&](int k, int64_t j) {
      float h, g;
      if constexpr (R::kHeld) {
        h = hs[k];
        g = gs[k];
      } else {
        h = (toFloat(xi[j]) - mean) * rstd;
        g = gAt(j);
      }
      dxi[j] = fromFloat<T>(rstd * (g - meanG - h * meanGH));
    });
  }
}

/// The input gradient of rms_norm: with r = 1 / sqrt(mean(x^2) + eps),
/// dx = r dy w - x r^3 sum(dy w x) / d.
template <class T, class R>
__global__ void __launch_bounds__(R::kThreads)
    rmsNormGradKernel(const T *__restrict__ x, const T *__restrict__ dy,
                      const T *__restrict__ w, T *__restrict__ dx, int64_t rows,
                      int64_t d, double eps) {
  __shared__ float scratch[32];
  for (int64_t row = R::first(); row < rows; row += R::stride()) {
    const T *xi = x + row * d, *dyi = dy + row * d;
    T *dxi = dx + row * d;
    // Held: x and g = dy w.
    float xs[R::kSlots], gs[R::kSlots];
    float sq = 0.0f, dot = 0.0f;
    R::each(d, [&](int k, int64_t j) {
      float v = toFloat(xi[j]);
      float g = toFloat(dyi[j]) * toFloat(w[j]);
      if constexpr (R::kHeld) {
        xs[k] = v;
        gs[k] = g;
      }
      sq += v * v;
      dot += g * v;
    });
    double r = rmsInverse<R>(sq, d, eps, scratch);
    dot = R::sum(dot, scratch);
    float rf = float(r), kf = float(r * r * r * double(dot) / double(d));
    R::each(d, [&](int k, int64_t j) {
      float v, g;
      if constexpr (R::kHeld) {
        v = xs[k];
        g = gs[k];
      } else {
        v = toFloat(xi[j]);
        g = toFloat(dyi[j]) * toFloat(w[j]);
      }
      dxi[j] = fromFloat<T>(rf * g - v * kf);
    });
  }
}

/// dx = y (dy - sum(y dy)).
template <class T, class R>
__global__ void __launch_bounds__(R::kThreads)
    softmaxGradKernel(const T *__restrict__ y, const T *__restrict__ dy,
                      T *__restrict__ dx, int64_t rows, int64_t d) {
  __shared__ float scratch[32];
  for (int64_t row = R::first(); row < rows; row += R::stride()) {
    const T *yi = y + row * d, *dyi = dy + row * d;
    T *dxi = dx + row * d;
    float ys[R::kSlots], gs[R::kSlots];
    float dot = 0.0f;
    R::each(d, [&](int k, int64_t j) {
      float v = toFloat(yi[j]), g = toFloat(dyi[j]);
      if constexpr (R::kHeld) {
        ys[k] = v;
        gs[k] = g;
      }
      dot += v * g;
    });
    dot = R::sum(dot, scratch);
    R::each(d, [&](int k, int64_t j) {
      float v, g;
      if constexpr (R::kHeld) {
        v = ys[k];
        g = gs[k];
      } else {
        v = toFloat(yi[j]);
        g = toFloat(dyi[j]);
      }
      dxi[j] = fromFloat<T>(v * (g - dot));
    });
  }
}

//===----------------------------------------------------------------------===//
// Weight and bias gradients
//===----------------------------------------------------------------------===//
//
// dgamma_j = sum_i dy_ij h_ij and dbeta_j = sum_i dy_ij (layer norm), or
// dw_j = sum_i dy_ij x_ij r_i (RMS norm), over every row i. They need each
// row's statistics, so three kernels run before the input gradient's:
//
//  1. rowStatsKernel writes each row's (mean, rstd), or r, as floats at the
//     start of the input gradient's buffer (8 or 4 bytes a row, which a row
//     of at least 8 or 4 bytes leaves room for).
//  2. columnGradKernel: a block owns 32 columns (a lane each) of one chunk
//     of rows and reads the chunk's rows in a fixed order, 16 at a time,
//     summing in double; it writes its chunk's sums as doubles after the
//     statistics, or the results when there is one chunk.
//  3. sumChunksKernel adds the chunks' sums in order, one column a thread.
//
// Then the input gradient's kernel overwrites the buffer. The chunking is a
// function of the shapes alone, so the sums do not depend on timing. When
// the buffer lacks room for the statistics (rows of a few values), the
// column kernel computes each row's statistics itself, in one chunk.

constexpr int kColumns = 32;        // columns a column block owns
constexpr int kColumnRowLanes = 16; // rows it reads at once
constexpr int kColumnThreads = kColumns * kColumnRowLanes;
/// Column blocks worth filling the GPU with, and the fewest rows a chunk
/// gets.
constexpr int64_t kColumnTargetBlocks = 1024;
constexpr int64_t kMinChunkRows = 16;

/// Per-row statistics: (mean, rstd) at 2 row (layer norm) or r at row (RMS
/// norm).
template <class T, class R, bool Rms>
__global__ void __launch_bounds__(R::kThreads)
    rowStatsKernel(const T *__restrict__ x, int64_t rows, int64_t d, double eps,
                   float *__restrict__ stats) {
  __shared__ float scratch[32];
  for (int64_t row = R::first(); row < rows; row += R::stride()) {
    const T *xi = x + row * d;
    float held[R::kSlots];
    float sum = 0.0f;
    R::each(d, [&](int k, int64_t j) {
      float v = toFloat(xi[j]);
      if constexpr (R::kHeld)
        held[k] = v;
      sum += Rms ? v * v : v;
    });
    if constexpr (Rms) {
      float r = float(rmsInverse<R>(sum, d, eps, scratch));
      if (R::lane() == 0)
        stats[row] = r;
    } else {
      auto value = [&](int k, int64_t j) {
        return heldValue<R>(held, xi, k, j);
      };
      float mean, rstd;
      rowStats<R>(sum, d, eps, value, scratch, mean, rstd);
      if (R::lane() == 0) {
        stats[2 * row] = mean;
        stats[2 * row + 1] = rstd;
      }
    }
  }
}

/// One row's statistics by one thread, for rows too short to leave room for
/// them in the buffer (the same formulas as rowStats and rmsInverse).
template <class T>
__device__ void layerStatsOf(const T *xi, int64_t d, double eps, float &mean,
                             float &rstd) {
  float sum = 0.0f;
  for (int64_t j = 0; j < d; ++j)
    sum += toFloat(xi[j]);
  mean = float(double(sum) / double(d));
  float sq = 0.0f;
  for (int64_t j = 0; j < d; ++j) {
    float centred = toFloat(xi[j]) - mean;
    sq += centred * centred;
  }
  rstd = float(1.0 / sqrt(double(sq) / double(d) + eps));
}

template <class T>
__device__ float rmsInverseOf(const T *xi, int64_t d, double eps) {
  float sq = 0.0f;
  for (int64_t j = 0; j < d; ++j) {
    float v = toFloat(xi[j]);
    sq += v * v;
  }
  return float(1.0 / sqrt(double(sq) / double(d) + eps));
}

/// The column sums of rows [chunk * chunkRows, + chunkRows) (blockIdx.y is
/// the chunk) for columns [blockIdx.x * 32, + 32). `stats` may be null (each
/// row's are computed here). With `partials`, chunk c's weight sums go to
/// partials[(c * P) * d + j] and its bias sums to partials[(c * P + 1) * d
/// + j], P = 2 (layer norm) or 1; without, the sums are the results.
template <class T, bool Rms>
__global__ void __launch_bounds__(kColumnThreads)
    columnGradKernel(const T *__restrict__ x, const T *__restrict__ dy,
                     const float *__restrict__ stats, int64_t rows, int64_t d,
                     double eps, int64_t chunkRows, double *partials, T *dw,
                     T *db) {
  __shared__ double partW[kColumnRowLanes][kColumns];
  __shared__ double partB[kColumnRowLanes][kColumns];
  int lane = int(threadIdx.x) % kColumns;
  int rowLane = int(threadIdx.x) / kColumns;
  int64_t j = int64_t(blockIdx.x) * kColumns + lane;
  int64_t begin = int64_t(blockIdx.y) * chunkRows;
  int64_t end = begin + chunkRows < rows ? begin + chunkRows : rows;
  double sumW = 0.0, sumB = 0.0;
  if (j < d) {
#pragma unroll 4
    for (int64_t i = begin + rowLane; i < end; i += kColumnRowLanes) {
      float xv = toFloat(x[i * d + j]), g = toFloat(dy[i * d + j]);
      if constexpr (Rms) {
        double r =
            stats ? double(stats[i]) : double(rmsInverseOf(x + i * d, d, eps));
        // CPU/Norms.cpp: double(dy) * x * r.
        sumW += double(g) * double(xv) * r;
      } else {
        float mean, rstd;
        if (stats) {
          mean = stats[2 * i];
          rstd = stats[2 * i + 1];
        } else {
          layerStatsOf(x + i * d, d, eps, mean, rstd);
        }
        // CPU/Norms.cpp: the float product dy * h, summed in double.
        float h = (xv - mean) * rstd;
        sumW += double(g * h);
        sumB += double(g);
      }
    }
  }
  partW[rowLane][lane] = sumW;
  partB[rowLane][lane] = sumB;
  __syncthreads();
  if (rowLane != 0 || j >= d)
    return;
  for (int l = 1; l < kColumnRowLanes; ++l) {
    sumW += partW[l][lane];
    sumB += partB[l][lane];
  }
  constexpr int64_t kSums = Rms ? 1 : 2;
  if (partials) {
    double *chunk = partials + int64_t(blockIdx.y) * kSums * d;
    chunk[j] = sumW;
    if constexpr (!Rms)
      chunk[d + j] = sumB;
  } else {
    // As on the CPU, the sums meet in float and are stored as T once.
    dw[j] = fromFloat<T>(float(sumW));
    if constexpr (!Rms)
      db[j] = fromFloat<T>(float(sumB));
  }
}

/// The sums of `chunks` chunks' partials (columnGradKernel's layout), in
/// chunk order.
template <class T, bool Rms>
__global__ void sumChunksKernel(const double *__restrict__ partials,
                                int64_t chunks, int64_t d, T *dw, T *db) {
  constexpr int64_t kSums = Rms ? 1 : 2;
  SLAPO_GRID_LOOP(j, d) {
    double sumW = 0.0, sumB = 0.0;
    for (int64_t c = 0; c < chunks; ++c) {
      sumW += partials[c * kSums * d + j];
      if constexpr (!Rms)
        sumB += partials[(c * kSums + 1) * d + j];
    }
    dw[j] = fromFloat<T>(float(sumW));
    if constexpr (!Rms)
      db[j] = fromFloat<T>(float(sumB));
  }
}

/// Launches the weight (and, for layer norm, bias) gradient of rows of `x`
/// and `dy` [rows, d] into dw (db), using `scratch`, the input gradient's
/// buffer of rows * d elements, for statistics and partial sums; the
/// caller then writes the input gradient over it.
template <class T, bool Rms>
void weightGrads(const T *x, const T *dy, int64_t rows, int64_t d, double eps,
                 T *scratch, T *dw, T *db, cudaStream_t stream) {
  uint64_t room = uint64_t(rows) * uint64_t(d) * sizeof(T);
  // Floats of statistics, rounded up to whole doubles.
  int64_t statFloats = Rms ? rows : 2 * rows;
  statFloats += statFloats % 2;
  uint64_t statBytes = uint64_t(statFloats) * sizeof(float);
  constexpr int64_t kSums = Rms ? 1 : 2;
  int64_t columnBlocks = (d + kColumns - 1) / kColumns;
  float *stats = nullptr;
  int64_t chunks = 1;
  bool aligned = reinterpret_cast<uintptr_t>(scratch) % alignof(double) == 0;
  if (rows > 0 && aligned && statBytes <= room) {
    stats = reinterpret_cast<float *>(scratch);
    int64_t want = (kColumnTargetBlocks + columnBlocks - 1) / columnBlocks;
    int64_t most = (rows + kMinChunkRows - 1) / kMinChunkRows;
    uint64_t fit = (room - statBytes) / (uint64_t(d) * kSums * sizeof(double));
    chunks = std::min<int64_t>(
        {want, most, int64_t(std::min<uint64_t>(fit, 65535))});
    chunks = std::max<int64_t>(chunks, 1);
  }
  // Even chunks of rows; recounted, so that none is empty.
  int64_t chunkRows = (rows + chunks - 1) / chunks;
  if (chunkRows > 0)
    chunks = (rows + chunkRows - 1) / chunkRows;
  double *partials =
      chunks > 1 ? reinterpret_cast<double *>(stats + statFloats) : nullptr;

  if (stats) {
    launchRows(
        [](auto shape) { return rowStatsKernel<T, decltype(shape), Rms>; },
        rows, d, stream, x, rows, d, eps, stats);
  }
  dim3 grid(unsigned(columnBlocks), unsigned(std::max<int64_t>(chunks, 1)));
  columnGradKernel<T, Rms><<<grid, kColumnThreads, 0, stream>>>(
      x, dy, stats, rows, d, eps, chunkRows, partials, dw, db);
  SLAPO_CUDA_LAUNCHED();
  if (partials) {
    sumChunksKernel<T, Rms>
        <<<blocksFor(d), kThreads, 0, stream>>>(partials, chunks, d, dw, db);
    SLAPO_CUDA_LAUNCHED();
  }
}

/// Rows and row length of a row-wise kernel over `x`.
void rowShape(const View &x, int64_t &rows, int64_t &d) {
  d = x.rank() ? x.dim(-1) : 1;
  rows = d ? x.numel() / d : 0;
}

} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

template <class T> void layerNorm(KernelContext &c) {
  const View &x = c.ins[0];
  const T *gamma = c.ins.size() == 3 ? as<T>(c.ins[1]) : nullptr;
  const T *beta = c.ins.size() == 3 ? as<T>(c.ins[2]) : nullptr;
  double eps = c.call->floatAttr("epsilon", 1e-5);
  int64_t rows, d;
  rowShape(x, rows, d);
  launchRows([](auto shape) { return layerNormKernel<T, decltype(shape)>; },
             rows, d, streamOf(c), as<T>(x), gamma, beta, as<T>(c.outs[0]),
             rows, d, eps);
}

template <class T> void biasDropoutAddLayerNorm(KernelContext &c) {
  const View &x = c.ins[0];
  double eps = c.call->floatAttr("epsilon", 1e-5);
  // The training flag is the step's, read on the device by the mask.
  float p = float(c.call->floatAttr("probability", 0.0));
  DropoutMask mask = dropoutMask(c, p, x.info->shape);
  int64_t rows, d;
  rowShape(x, rows, d);
  launchRows(
      [](auto shape) {
        return biasDropoutAddLayerNormKernel<T, decltype(shape)>;
      },
      rows, d, streamOf(c), as<T>(x), as<T>(c.ins[1]), as<T>(c.ins[2]),
      as<T>(c.ins[3]), as<T>(c.ins[4]), as<T>(c.outs[0]), as<T>(c.outs[1]),
      rows, d, eps, mask);
}

template <class T> void layerNormGrad(KernelContext &c) {
  const View &x = c.ins[0], &dy = c.ins[1];
  const T *gamma = c.ins.size() == 3 ? as<T>(c.ins[2]) : nullptr;
  double eps = c.call->floatAttr("epsilon", 1e-5);
  int64_t rows, d;
  rowShape(x, rows, d);
  if (d == 0)
    return;
  T *dx = as<T>(c.outs[0]);
  // First: the weight gradients use dx's buffer, which dx then overwrites.
  if (c.outs.size() == 3)
    weightGrads<T, /*Rms=*/false>(as<T>(x), as<T>(dy), rows, d, eps, dx,
                                  as<T>(c.outs[1]), as<T>(c.outs[2]),
                                  streamOf(c));
  launchRows([](auto shape) { return layerNormGradKernel<T, decltype(shape)>; },
             rows, d, streamOf(c), as<T>(x), as<T>(dy), gamma, dx, rows, d,
             eps);
}

template <class T> void addRmsNorm(KernelContext &c) {
  const View &x = c.ins[0];
  double eps = c.call->floatAttr("epsilon", 1e-6);
  int64_t rows, d;
  rowShape(x, rows, d);
  launchRows([](auto shape) { return addRmsNormKernel<T, decltype(shape)>; },
             rows, d, streamOf(c), as<T>(x), as<T>(c.ins[1]), as<T>(c.ins[2]),
             as<T>(c.outs[0]), as<T>(c.outs[1]), rows, d, eps);
}

template <class T> void rmsNorm(KernelContext &c) {
  const View &x = c.ins[0];
  double eps = c.call->floatAttr("epsilon", 1e-6);
  int64_t rows, d;
  rowShape(x, rows, d);
  launchRows([](auto shape) { return rmsNormKernel<T, decltype(shape)>; }, rows,
             d, streamOf(c), as<T>(x), as<T>(c.ins[1]), as<T>(c.outs[0]), rows,
             d, eps);
}

template <class T> void rmsNormGrad(KernelContext &c) {
  const View &x = c.ins[0], &dy = c.ins[1];
  double eps = c.call->floatAttr("epsilon", 1e-6);
  int64_t rows, d;
  rowShape(x, rows, d);
  if (d == 0)
    return;
  T *dx = as<T>(c.outs[0]);
  // First: the weight gradient uses dx's buffer, which dx then overwrites.
  weightGrads<T, /*Rms=*/true>(as<T>(x), as<T>(dy), rows, d, eps, dx,
                               as<T>(c.outs[1]), nullptr, streamOf(c));
  launchRows([](auto shape) { return rmsNormGradKernel<T, decltype(shape)>; },
             rows, d, streamOf(c), as<T>(x), as<T>(dy), as<T>(c.ins[2]), dx,
             rows, d, eps);
}

template <class T> void causalMask(KernelContext &c) {
  const View &x = c.ins[0];
  int64_t t = x.dim(-2), s = x.dim(-1);
  int64_t rows = t > 0 && s > 0 ? x.numel() / s : 0;
  if (rows == 0)
    return;
  float fill = c.call->has("zero") ? 0.0f : -INFINITY;
  int64_t blocks = (rows + kMaskThreads / 32 - 1) / (kMaskThreads / 32);
  causalMaskKernel<T>
      <<<unsigned(std::min<int64_t>(blocks, 1 << 20)), kMaskThreads, 0,
         streamOf(c)>>>(as<T>(x), as<T>(c.outs[0]), rows, t, s, fill);
  SLAPO_CUDA_LAUNCHED();
}

template <class T> void softmax(KernelContext &c) {
  const View &x = c.ins[0];
  int64_t rows, d;
  rowShape(x, rows, d);
  launchRows([](auto shape) { return softmaxKernel<T, decltype(shape)>; }, rows,
             d, streamOf(c), as<T>(x), as<T>(c.outs[0]), rows, d);
}

template <class T> void softmaxGrad(KernelContext &c) {
  const View &y = c.ins[0];
  int64_t rows, d;
  rowShape(y, rows, d);
  launchRows([](auto shape) { return softmaxGradKernel<T, decltype(shape)>; },
             rows, d, streamOf(c), as<T>(y), as<T>(c.ins[1]), as<T>(c.outs[0]),
             rows, d);
}

SLAPO_CUDA_KERNEL_TYPES(layerNorm);
SLAPO_CUDA_KERNEL_TYPES(biasDropoutAddLayerNorm);
SLAPO_CUDA_KERNEL_TYPES(addRmsNorm);
SLAPO_CUDA_KERNEL_TYPES(causalMask);
SLAPO_CUDA_KERNEL_TYPES(layerNormGrad);
SLAPO_CUDA_KERNEL_TYPES(rmsNorm);
SLAPO_CUDA_KERNEL_TYPES(rmsNormGrad);
SLAPO_CUDA_KERNEL_TYPES(softmax);
SLAPO_CUDA_KERNEL_TYPES(softmaxGrad);

} // namespace slapo::rt::cuda
