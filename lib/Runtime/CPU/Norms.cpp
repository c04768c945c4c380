//===- Norms.cpp - layer norm, RMS norm, softmax and their gradients -----===//
//
// Kernels are templates on the element type T, computing in float (Element.h).
//
//===----------------------------------------------------------------------===//

#include "../Random.h"
#include "CPUKernels.h"
#include "DropoutNumbering.h"
#include "LaneSum.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace slapo::rt::cpu {

namespace {

constexpr bool isFloat32(DType dtype) { return dtype == DType::F32; }

// bf16 rows sum with laneSum (float's 24 bits are far more than their 8);
// float rows keep their sequential double sums, so the f32 kernels compute
// what they always have.

/// Mean and 1/sqrt(var + eps) of one row (biased variance, as torch).
template <class T>
void rowStats(const T *x, int64_t d, double eps, float &mean, float &rstd) {
  double sum = 0.0, sq = 0.0;
  if constexpr (isFloat32(dtypeOf<T>())) {
    for (int64_t j = 0; j < d; ++j)
      sum += x[j];
    double mu = sum / d;
    for (int64_t j = 0; j < d; ++j)
      sq += (x[j] - mu) * (x[j] - mu);
    mean = float(mu);
  } else {
    mean = float(laneSum(d, [&](int64_t j) { return float(x[j]); }) / d);
    sq = laneSum(d, [&](int64_t j) {
      float centred = x[j] - mean;
      return centred * centred;
    });
  }
  rstd = float(1.0 / std::sqrt(sq / d + eps));
}

/// 1/sqrt(mean(x^2) + eps) of one row.
template <class T> float rmsInverse(const T *x, int64_t d, double eps) {
  double sq = 0.0;
  for (int64_t j = 0; j < d; ++j)
    sq += double(x[j]) * x[j];
  return float(1.0 / std::sqrt(sq / d + eps));
}

} // namespace

template <class T> void layerNorm(KernelContext &c) {
  const View &x = c.ins[0];
  const T *gamma = c.ins.size() == 3 ? as<T>(c.ins[1]) : nullptr;
  const T *beta = c.ins.size() == 3 ? as<T>(c.ins[2]) : nullptr;
  double eps = c.call->floatAttr("epsilon", 1e-5);
  int64_t rows = x.rows(), d = x.dim(-1);
  T *out = as<T>(c.outs[0]);
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const T *xi = as<T>(x) + i * d;
    T *yi = out + i * d;
    float mean, rstd;
    rowStats(xi, d, eps, mean, rstd);
    for (int64_t j = 0; j < d; ++j) {
      float h = (xi[j] - mean) * rstd;
      yi[j] = gamma ? h * gamma[j] + beta[j] : h;
    }
  }
}

template <class T> void biasDropoutAddLayerNorm(KernelContext &c) {
  const T *x = as<T>(c.ins[0]), *bias = as<T>(c.ins[1]),
          *residual = as<T>(c.ins[2]), *gamma = as<T>(c.ins[3]),
          *beta = as<T>(c.ins[4]);
  T *sum = as<T>(c.outs[0]), *normed = as<T>(c.outs[1]);
  int64_t rows = c.ins[0].rows(), d = c.ins[0].dim(-1);
  double eps = c.call->floatAttr("epsilon", 1e-5);
  float p = c.training ? float(c.call->floatAttr("probability", 0.0)) : 0.0f;
  int64_t stream = c.call->intAttr("rng_stream", 0);
  DropoutNumbering number(c, c.ins[0].info->shape);
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    int64_t row = i * d;
    T *si = sum + row;
    // The same element index as graph.dropout on the [.., D] tensor.
    for (int64_t j = 0; j < d; ++j) {
      float branch = x[row + j] + bias[j];
      if (p > 0.0f)
        branch *= dropoutScale(c.seed, c.step, stream, number(row + j), p);
      si[j] = residual[row + j] + branch;
    }
    // The stats (and the norm) are of the stored sum, as rounded to T.
    float mean, rstd;
    rowStats(si, d, eps, mean, rstd);
    T *yi = normed + row;
    for (int64_t j = 0; j < d; ++j)
      yi[j] = (si[j] - mean) * rstd * gamma[j] + beta[j];
  }
}

template <class T> void layerNormGrad(KernelContext &c) {
  const View &x = c.ins[0], &dy = c.ins[1];
  const T *gamma = c.ins.size() == 3 ? as<T>(c.ins[2]) : nullptr;
  double eps = c.call->floatAttr("epsilon", 1e-5);
  int64_t rows = x.rows(), d = x.dim(-1);
  T *dx = as<T>(c.outs[0]);
  T *dgamma = c.outs.size() == 3 ? as<T>(c.outs[1]) : nullptr;
  T *dbeta = c.outs.size() == 3 ? as<T>(c.outs[2]) : nullptr;
  // The threads' partial sums meet in float, then are stored as T once.
  std::vector<float> sumGamma(dgamma ? d : 0), sumBeta(dgamma ? d : 0);
#pragma omp parallel
  {
    std::vector<double> localGamma(dgamma ? d : 0), localBeta(dgamma ? d : 0);
    std::vector<float> g(d);
#pragma omp for
    for (int64_t i = 0; i < rows; ++i) {
      const T *xi = as<T>(x) + i * d, *dyi = as<T>(dy) + i * d;
      float mean, rstd;
      rowStats(xi, d, eps, mean, rstd);
      double sumG = 0.0, sumGH = 0.0;
      if constexpr (isFloat32(dtypeOf<T>())) {
        for (int64_t j = 0; j < d; ++j) {
          float h = (xi[j] - mean) * rstd;
          g[j] = gamma ? dyi[j] * gamma[j] : float(dyi[j]);
          sumG += g[j];
          sumGH += g[j] * h;
          if (dgamma) {
            localGamma[j] += dyi[j] * h;
            localBeta[j] += dyi[j];
          }
        }
      } else { // the same sums, vectorised (see laneSum)
        for (int64_t j = 0; j < d; ++j)
          g[j] = gamma ? dyi[j] * gamma[j] : float(dyi[j]);
        if (dgamma)
          for (int64_t j = 0; j < d; ++j) {
            localGamma[j] += dyi[j] * ((xi[j] - mean) * rstd);
            localBeta[j] += dyi[j];
          }
        sumG = laneSum(d, [&](int64_t j) { return g[j]; });
        sumGH = laneSum(
            d, [&](int64_t j) { return g[j] * ((xi[j] - mean) * rstd); });
      }
      float meanG = float(sumG / d), meanGH = float(sumGH / d);
      for (int64_t j = 0; j < d; ++j) {
        float h = (xi[j] - mean) * rstd;
        dx[i * d + j] = rstd * (g[j] - meanG - h * meanGH);
      }
    }
    if (dgamma) {
#pragma omp critical
      for (int64_t j = 0; j < d; ++j) {
        sumGamma[j] += float(localGamma[j]);
        sumBeta[j] += float(localBeta[j]);
      }
    }
  }
  if (dgamma)
    for (int64_t j = 0; j < d; ++j) {
      dgamma[j] = sumGamma[j];
      dbeta[j] = sumBeta[j];
    }
}

template <class T> void addRmsNorm(KernelContext &c) {
  const T *x = as<T>(c.ins[0]), *residual = as<T>(c.ins[1]),
          *w = as<T>(c.ins[2]);
  T *sum = as<T>(c.outs[0]), *normed = as<T>(c.outs[1]);
  double eps = c.call->floatAttr("epsilon", 1e-6);
  int64_t rows = c.ins[0].rows(), d = c.ins[0].dim(-1);
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    T *si = sum + i * d;
    for (int64_t j = 0; j < d; ++j)
      si[j] = residual[i * d + j] + x[i * d + j];
    // The norm is of the stored sum, as rounded to T.
    float r = rmsInverse(si, d, eps);
    for (int64_t j = 0; j < d; ++j)
      normed[i * d + j] = w[j] * (si[j] * r);
  }
}

template <class T> void rmsNorm(KernelContext &c) {
  const View &x = c.ins[0];
  const T *w = as<T>(c.ins[1]);
  double eps = c.call->floatAttr("epsilon", 1e-6);
  int64_t rows = x.rows(), d = x.dim(-1);
  T *out = as<T>(c.outs[0]);
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const T *xi = as<T>(x) + i * d;
    float r = rmsInverse(xi, d, eps);
    for (int64_t j = 0; j < d; ++j)
      out[i * d + j] = w[j] * (xi[j] * r);
  }
}

template <class T> void rmsNormGrad(KernelContext &c) {
  const View &x = c.ins[0], &dy = c.ins[1];
  const T *w = as<T>(c.ins[2]);
  double eps = c.call->floatAttr("epsilon", 1e-6);
  int64_t rows = x.rows(), d = x.dim(-1);
  T *dx = as<T>(c.outs[0]), *dw = as<T>(c.outs[1]);
  // The threads' partial sums meet in float, then are stored as T once.
  std::vector<float> sumW(d);
#pragma omp parallel
  {
    std::vector<double> localW(d);
#pragma omp for
    for (int64_t i = 0; i < rows; ++i) {
      const T *xi = as<T>(x) + i * d, *dyi = as<T>(dy) + i * d;
      double sq = 0.0, dot = 0.0;
      for (int64_t j = 0; j < d; ++j)
        sq += double(xi[j]) * xi[j];
      double r = 1.0 / std::sqrt(sq / d + eps);
      for (int64_t j = 0; j < d; ++j) {
        dot += double(dyi[j]) * w[j] * xi[j];
        localW[j] += double(dyi[j]) * xi[j] * r;
      }
      double k = r * r * r * dot / d;
      for (int64_t j = 0; j < d; ++j)
        dx[i * d + j] = float(r * dyi[j] * w[j] - xi[j] * k);
    }
#pragma omp critical
    for (int64_t j = 0; j < d; ++j)
      sumW[j] += float(localW[j]);
  }
  for (int64_t j = 0; j < d; ++j)
    dw[j] = sumW[j];
}

template <class T> void causalMask(KernelContext &c) {
  const View &x = c.ins[0];
  int64_t t = x.dim(-2), s = x.dim(-1), matrices = x.numel() / (t * s);
  T fill = c.call->has("zero") ? 0.0f : -INFINITY;
  const T *in = as<T>(x);
  T *out = as<T>(c.outs[0]);
#pragma omp parallel for
  for (int64_t m = 0; m < matrices; ++m)
    for (int64_t i = 0; i < t; ++i) {
      int64_t row = (m * t + i) * s, visible = i + (s - t) + 1;
      for (int64_t j = 0; j < s; ++j)
        out[row + j] = j < visible ? in[row + j] : fill;
    }
}

template <class T> void softmax(KernelContext &c) {
  const View &x = c.ins[0];
  int64_t rows = x.rows(), d = x.dim(-1);
  T *out = as<T>(c.outs[0]);
#pragma omp parallel
  {
    // exp(x - max) in float, so that T rounds only the normalised value.
    std::vector<float> e(d);
#pragma omp for
    for (int64_t i = 0; i < rows; ++i) {
      const T *xi = as<T>(x) + i * d;
      T *yi = out + i * d;
      float max = xi[0];
      for (int64_t j = 1; j < d; ++j)
        max = std::max(max, float(xi[j]));
      double sum = 0.0;
      for (int64_t j = 0; j < d; ++j)
        sum += (e[j] = std::exp(xi[j] - max));
      float inv = float(1.0 / sum);
      for (int64_t j = 0; j < d; ++j)
        yi[j] = e[j] * inv;
    }
  }
}

template <class T> void softmaxGrad(KernelContext &c) {
  const View &y = c.ins[0], &dy = c.ins[1];
  int64_t rows = y.rows(), d = y.dim(-1);
  T *dx = as<T>(c.outs[0]);
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const T *yi = as<T>(y) + i * d, *gi = as<T>(dy) + i * d;
    double dot = 0.0;
    for (int64_t j = 0; j < d; ++j)
      dot += double(yi[j]) * gi[j];
    for (int64_t j = 0; j < d; ++j)
      dx[i * d + j] = yi[j] * (gi[j] - float(dot));
  }
}

SLAPO_CPU_KERNEL_TYPES(layerNorm);
SLAPO_CPU_KERNEL_TYPES(biasDropoutAddLayerNorm);
SLAPO_CPU_KERNEL_TYPES(addRmsNorm);
SLAPO_CPU_KERNEL_TYPES(causalMask);
SLAPO_CPU_KERNEL_TYPES(layerNormGrad);
SLAPO_CPU_KERNEL_TYPES(rmsNorm);
SLAPO_CPU_KERNEL_TYPES(rmsNormGrad);
SLAPO_CPU_KERNEL_TYPES(softmax);
SLAPO_CPU_KERNEL_TYPES(softmaxGrad);

} // namespace slapo::rt::cpu
