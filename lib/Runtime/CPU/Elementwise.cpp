//===- Elementwise.cpp - activations, dropout, broadcasting arithmetic ---===//
//
// Kernels are templates on the element type (see Element.h); they compute
// in float32 and round once on store. `cast` converts between float dtypes.
//
//===----------------------------------------------------------------------===//

#include "../FastMath.h"
#include "../KernelShapes.h"
#include "../Random.h"
#include "CPUKernels.h"
#include "DropoutNumbering.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

namespace slapo::rt::cpu {

namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

template <class T, typename F> void unary(KernelContext &c, F f) {
  const T *x = as<T>(c.ins[0]);
  T *y = as<T>(c.outs[0]);
  int64_t n = c.ins[0].numel();
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i)
    y[i] = f(x[i]);
}

float sigmoid(float x) { return vsigmoid(x); }

// GPT-2's gelu_new: 0.5 x (1 + tanh(u)) with u = c (x + 0.044715 x^3).
// Since 0.5 (1 + tanh(u)) = sigmoid(2u), only an exp is needed.
float geluTanh(float x) {
  float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  return x * vsigmoid(2.0f * u);
}

float geluTanhGrad(float x) {
  float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  float s = vsigmoid(2.0f * u);
  float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
  return s + x * s * (1.0f - s) * 2.0f * du;
}

float geluErf(float x) { return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2)); }

float geluErfGrad(float x) {
  return 0.5f * (1.0f + std::erf(x * kInvSqrt2)) +
         x * kInvSqrt2Pi * std::exp(-0.5f * x * x);
}

template <class T, typename F> void binary(KernelContext &c, F f) {
  const View &a = c.ins[0], &b = c.ins[1], &out = c.outs[0];
  const T *x = as<T>(a), *y = as<T>(b);
  T *z = as<T>(out);
  int64_t n = out.numel();
  const auto &shape = out.info->shape;
  if (isSuffix(a.info->shape, shape) && isSuffix(b.info->shape, shape)) {
    int64_t na = a.numel(), nb = b.numel();
#pragma omp parallel for
    for (int64_t i = 0; i < n; ++i)
      z[i] = f(x[na == n ? i : i % na], y[nb == n ? i : i % nb]);
    return;
  }
  std::vector<int64_t> sa = broadcastStrides(a.info->shape, shape);
  std::vector<int64_t> sb = broadcastStrides(b.info->shape, shape);
  size_t rank = shape.size();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, ia = 0, ib = 0;
    for (size_t d = rank; d-- > 0;) {
      int64_t coord = rest % shape[d];
      rest /= shape[d];
      ia += coord * sa[d];
      ib += coord * sb[d];
    }
    z[i] = f(x[ia], y[ib]);
  }
}

} // namespace

template <class T> void relu(KernelContext &c) {
  unary<T>(c, [](float x) { return x > 0.0f ? x : 0.0f; });
}

template <class T> void silu(KernelContext &c) {
  unary<T>(c, [](float x) { return x * sigmoid(x); });
}

template <class T> void gelu(KernelContext &c) {
  // Lambdas, not function pointers: the calls inline and the loops vectorise.
  if (c.call->has("tanh"))
    unary<T>(c, [](float x) { return geluTanh(x); });
  else
    unary<T>(c, [](float x) { return geluErf(x); });
}

namespace {

/// dx = dy * f'(x), with f' inlined into the loop.
template <class T, typename Derivative>
void gradientLoop(KernelContext &c, Derivative derivative) {
  const T *x = as<T>(c.ins[0]), *dy = as<T>(c.ins[1]);
  T *dx = as<T>(c.outs[0]);
  int64_t n = c.ins[0].numel();
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i)
    dx[i] = dy[i] * derivative(x[i]);
}

} // namespace

template <class T> void activationGrad(KernelContext &c) {
  const std::string &kind = c.call->attrs.at("activation").s;
  if (kind == "relu")
    gradientLoop<T>(c, [](float v) { return v > 0.0f ? 1.0f : 0.0f; });
  else if (kind == "silu")
    gradientLoop<T>(c, [](float v) {
      float s = sigmoid(v);
      return s * (1.0f + v * (1.0f - s));
    });
  else if (kind == "gelu_tanh")
    gradientLoop<T>(c, [](float v) { return geluTanhGrad(v); });
  else
    gradientLoop<T>(c, [](float v) { return geluErfGrad(v); });
}

template <class T> void biasGelu(KernelContext &c) {
  const T *x = as<T>(c.ins[0]), *bias = as<T>(c.ins[1]);
  T *y = as<T>(c.outs[0]);
  int64_t rows = c.ins[0].rows(), d = c.ins[0].dim(-1);
  bool tanh = c.call->has("tanh");
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const T *xi = x + i * d;
    T *yi = y + i * d;
    if (tanh) {
#pragma omp simd
      for (int64_t j = 0; j < d; ++j)
        yi[j] = geluTanh(xi[j] + bias[j]);
    } else {
      for (int64_t j = 0; j < d; ++j)
        yi[j] = geluErf(xi[j] + bias[j]);
    }
  }
}

template <class T> void biasGeluGrad(KernelContext &c) {
  const T *x = as<T>(c.ins[0]), *bias = as<T>(c.ins[1]), *dy = as<T>(c.ins[2]);
  T *dx = as<T>(c.outs[0]);
  int64_t rows = c.ins[0].rows(), d = c.ins[0].dim(-1);
  bool tanh = c.call->has("tanh");
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    int64_t row = i * d;
    if (tanh) {
#pragma omp simd
      for (int64_t j = 0; j < d; ++j)
        dx[row + j] = dy[row + j] * geluTanhGrad(x[row + j] + bias[j]);
    } else {
      for (int64_t j = 0; j < d; ++j)
        dx[row + j] = dy[row + j] * geluErfGrad(x[row + j] + bias[j]);
    }
  }
}

template <class T> void scale(KernelContext &c) {
  float factor = float(c.call->floatAttr("factor", 1.0));
  unary<T>(c, [factor](float x) { return x * factor; });
}

template <class T> void dropout(KernelContext &c) {
  float p = float(c.call->floatAttr("probability", 0.0));
  const T *x = as<T>(c.ins[0]);
  T *y = as<T>(c.outs[0]);
  int64_t n = c.ins[0].numel();
  if (!c.training || p == 0.0f) {
    std::memcpy(y, x, n * sizeof(T));
    return;
  }
  int64_t stream = c.call->intAttr("rng_stream", 0);
  DropoutNumbering number(c, c.ins[0].info->shape);
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i)
    y[i] = x[i] * dropoutScale(c.seed, c.step, stream, number(i), p);
}

template <class T> void add(KernelContext &c) {
  binary<T>(c, [](float a, float b) { return a + b; });
}

template <class T> void mul(KernelContext &c) {
  binary<T>(c, [](float a, float b) { return a * b; });
}

template <class T> void sumTo(KernelContext &c) {
  const View &in = c.ins[0], &out = c.outs[0];
  const T *x = as<T>(in);
  T *y = as<T>(out);
  int64_t n = in.numel(), m = out.numel();
  if (isSuffix(out.info->shape, in.info->shape)) {
    // Sum whole rows of the output's size: each thread adds contiguous rows
    // into its own partial sums, then the partials are added up (in float:
    // a bf16 output is stored once, from the float total).
    int64_t rows = n / m;
    std::vector<float> bf16Total;
    float *total;
    if constexpr (std::is_same_v<T, float>) {
      total = y;
    } else {
      bf16Total.resize(size_t(m));
      total = bf16Total.data();
    }
    std::fill(total, total + m, 0.0f);
#pragma omp parallel
    {
      std::vector<float> partial(m, 0.0f);
#pragma omp for nowait
      for (int64_t r = 0; r < rows; ++r) {
        const T *row = x + r * m;
        for (int64_t j = 0; j < m; ++j)
          partial[j] += row[j];
      }
#pragma omp critical
      for (int64_t j = 0; j < m; ++j)
        total[j] += partial[j];
    }
    if constexpr (!std::is_same_v<T, float>)
      for (int64_t j = 0; j < m; ++j)
        y[j] = total[j];
    return;
  }
  std::vector<int64_t> strides =
      broadcastStrides(out.info->shape, in.info->shape);
  const auto &shape = in.info->shape;
  std::vector<double> sums(m, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, index = 0;
    for (size_t d = shape.size(); d-- > 0;) {
      index += (rest % shape[d]) * strides[d];
      rest /= shape[d];
    }
    sums[index] += x[i];
  }
  for (int64_t j = 0; j < m; ++j)
    y[j] = float(sums[j]);
}

void zeros(KernelContext &c) {
  std::memset(c.outs[0].data, 0, c.outs[0].info->bytes);
}

void cast(KernelContext &c) {
  const View &in = c.ins[0], &out = c.outs[0];
  DType from = in.dtype(), to = out.dtype();
  int64_t n = in.numel();
  if (from == to) {
    std::memcpy(out.data, in.data, out.info->bytes);
    return;
  }
  if (from == DType::BF16 && to == DType::F32) {
    const bf16 *x = as<bf16>(in);
    float *y = as<float>(out);
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i)
      y[i] = x[i]; // exact
    return;
  }
  if (from == DType::F32 && to == DType::BF16) {
    const float *x = as<float>(in);
    bf16 *y = as<bf16>(out);
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i)
      y[i] = x[i]; // rounds to nearest even
    return;
  }
  // The load-time check admits only f32 <-> bf16.
  std::fprintf(stderr, "slapo-run: internal error: cast from %s to %s\n",
               dtypeName(from), dtypeName(to));
  std::abort();
}

SLAPO_CPU_KERNEL_TYPES(relu);
SLAPO_CPU_KERNEL_TYPES(silu);
SLAPO_CPU_KERNEL_TYPES(gelu);
SLAPO_CPU_KERNEL_TYPES(activationGrad);
SLAPO_CPU_KERNEL_TYPES(biasGelu);
SLAPO_CPU_KERNEL_TYPES(biasGeluGrad);
SLAPO_CPU_KERNEL_TYPES(scale);
SLAPO_CPU_KERNEL_TYPES(dropout);
SLAPO_CPU_KERNEL_TYPES(add);
SLAPO_CPU_KERNEL_TYPES(mul);
SLAPO_CPU_KERNEL_TYPES(sumTo);

} // namespace slapo::rt::cpu

namespace slapo::rt::cpu {

void accumulate(float *y, const float *x, int64_t count, float alpha) {
#pragma omp parallel for simd if (count > 65536)
  for (int64_t i = 0; i < count; ++i)
    y[i] += alpha * x[i];
}

double sumOfSquares(const float *x, int64_t count) {
  double sum = 0.0;
#pragma omp parallel for simd reduction(+ : sum) if (count > 65536)
  for (int64_t i = 0; i < count; ++i)
    sum += double(x[i]) * double(x[i]);
  return sum;
}

void scale(float *x, int64_t count, float factor) {
#pragma omp parallel for simd if (count > 65536)
  for (int64_t i = 0; i < count; ++i)
    x[i] *= factor;
}

} // namespace slapo::rt::cpu
