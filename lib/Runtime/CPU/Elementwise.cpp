//===- Elementwise.cpp - activations, dropout, broadcasting arithmetic ---===//

#include "../Random.h"
#include "CPUKernels.h"
#include "DropoutNumbering.h"
#include "FastMath.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace slapo::rt::cpu {

namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

template <typename F> void unary(KernelContext &c, F f) {
  const float *x = c.ins[0].f32();
  float *y = c.outs[0].f32();
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

/// Element strides of `shape` as seen from an output of rank `rank`, with
/// 0 where the operand is broadcast (missing leading axis or size 1).
std::vector<int64_t> broadcastStrides(const std::vector<int64_t> &shape,
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
bool isSuffix(const std::vector<int64_t> &shape,
              const std::vector<int64_t> &outShape) {
  if (shape.size() > outShape.size())
    return false;
  return std::equal(shape.begin(), shape.end(), outShape.end() - shape.size());
}

template <typename F> void binary(KernelContext &c, F f) {
  const View &a = c.ins[0], &b = c.ins[1], &out = c.outs[0];
  const float *x = a.f32(), *y = b.f32();
  float *z = out.f32();
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

void relu(KernelContext &c) {
  unary(c, [](float x) { return x > 0.0f ? x : 0.0f; });
}

void silu(KernelContext &c) {
  unary(c, [](float x) { return x * sigmoid(x); });
}

void gelu(KernelContext &c) {
  // Lambdas, not function pointers: the calls inline and the loops vectorise.
  if (c.call->has("tanh"))
    unary(c, [](float x) { return geluTanh(x); });
  else
    unary(c, [](float x) { return geluErf(x); });
}

namespace {

/// dx = dy * f'(x), with f' inlined into the loop.
template <typename Derivative>
void gradientLoop(KernelContext &c, Derivative derivative) {
  const float *x = c.ins[0].f32(), *dy = c.ins[1].f32();
  float *dx = c.outs[0].f32();
  int64_t n = c.ins[0].numel();
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i)
    dx[i] = dy[i] * derivative(x[i]);
}

} // namespace

void activationGrad(KernelContext &c) {
  const std::string &kind = c.call->attrs.at("activation").s;
  if (kind == "relu")
    gradientLoop(c, [](float v) { return v > 0.0f ? 1.0f : 0.0f; });
  else if (kind == "silu")
    gradientLoop(c, [](float v) {
      float s = sigmoid(v);
      return s * (1.0f + v * (1.0f - s));
    });
  else if (kind == "gelu_tanh")
    gradientLoop(c, [](float v) { return geluTanhGrad(v); });
  else
    gradientLoop(c, [](float v) { return geluErfGrad(v); });
}

void biasGelu(KernelContext &c) {
  const float *x = c.ins[0].f32(), *bias = c.ins[1].f32();
  float *y = c.outs[0].f32();
  int64_t rows = c.ins[0].rows(), d = c.ins[0].dim(-1);
  bool tanh = c.call->has("tanh");
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const float *xi = x + i * d;
    float *yi = y + i * d;
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

void biasGeluGrad(KernelContext &c) {
  const float *x = c.ins[0].f32(), *bias = c.ins[1].f32(), *dy = c.ins[2].f32();
  float *dx = c.outs[0].f32();
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

void scale(KernelContext &c) {
  float factor = float(c.call->floatAttr("factor", 1.0));
  unary(c, [factor](float x) { return x * factor; });
}

void dropout(KernelContext &c) {
  float p = float(c.call->floatAttr("probability", 0.0));
  const float *x = c.ins[0].f32();
  float *y = c.outs[0].f32();
  int64_t n = c.ins[0].numel();
  if (!c.training || p == 0.0f) {
    std::memcpy(y, x, n * sizeof(float));
    return;
  }
  int64_t stream = c.call->intAttr("rng_stream", 0);
  DropoutNumbering number(c, c.ins[0].info->shape);
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i)
    y[i] = x[i] * dropoutScale(c.seed, c.step, stream, number(i), p);
}

void add(KernelContext &c) {
  binary(c, [](float a, float b) { return a + b; });
}

void mul(KernelContext &c) {
  binary(c, [](float a, float b) { return a * b; });
}

void sumTo(KernelContext &c) {
  const View &in = c.ins[0], &out = c.outs[0];
  const float *x = in.f32();
  float *y = out.f32();
  int64_t n = in.numel(), m = out.numel();
  if (isSuffix(out.info->shape, in.info->shape)) {
    // Sum whole rows of the output's size: each thread adds contiguous rows
    // into its own partial sums, then the partials are added up.
    int64_t rows = n / m;
    std::fill(y, y + m, 0.0f);
#pragma omp parallel
    {
      std::vector<float> partial(m, 0.0f);
#pragma omp for nowait
      for (int64_t r = 0; r < rows; ++r) {
        const float *row = x + r * m;
        for (int64_t j = 0; j < m; ++j)
          partial[j] += row[j];
      }
#pragma omp critical
      for (int64_t j = 0; j < m; ++j)
        y[j] += partial[j];
    }
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

} // namespace slapo::rt::cpu

namespace slapo::rt::cpu {

void accumulate(float *y, const float *x, int64_t count, float alpha) {
#pragma omp parallel for simd if (count > 65536)
  for (int64_t i = 0; i < count; ++i)
    y[i] += alpha * x[i];
}

} // namespace slapo::rt::cpu
