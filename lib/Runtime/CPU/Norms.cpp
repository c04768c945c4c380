//===- Norms.cpp - layer norm, RMS norm, softmax and their gradients -----===//

#include "../Random.h"
#include "CPUKernels.h"
#include "DropoutNumbering.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace slapo::rt::cpu {

namespace {

/// Mean and 1/sqrt(var + eps) of one row (biased variance, as torch).
void rowStats(const float *x, int64_t d, double eps, float &mean, float &rstd) {
  double sum = 0.0, sq = 0.0;
  for (int64_t j = 0; j < d; ++j)
    sum += x[j];
  double mu = sum / d;
  for (int64_t j = 0; j < d; ++j)
    sq += (x[j] - mu) * (x[j] - mu);
  mean = float(mu);
  rstd = float(1.0 / std::sqrt(sq / d + eps));
}

/// 1/sqrt(mean(x^2) + eps) of one row.
float rmsInverse(const float *x, int64_t d, double eps) {
  double sq = 0.0;
  for (int64_t j = 0; j < d; ++j)
    sq += double(x[j]) * x[j];
  return float(1.0 / std::sqrt(sq / d + eps));
}

} // namespace

void layerNorm(KernelContext &c) {
  const View &x = c.ins[0];
  const float *gamma = c.ins.size() == 3 ? c.ins[1].f32() : nullptr;
  const float *beta = c.ins.size() == 3 ? c.ins[2].f32() : nullptr;
  double eps = c.call->floatAttr("epsilon", 1e-5);
  int64_t rows = x.rows(), d = x.dim(-1);
  float *out = c.outs[0].f32();
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const float *xi = x.f32() + i * d;
    float *yi = out + i * d;
    float mean, rstd;
    rowStats(xi, d, eps, mean, rstd);
    for (int64_t j = 0; j < d; ++j) {
      float h = (xi[j] - mean) * rstd;
      yi[j] = gamma ? h * gamma[j] + beta[j] : h;
    }
  }
}

void biasDropoutAddLayerNorm(KernelContext &c) {
  const float *x = c.ins[0].f32(), *bias = c.ins[1].f32(),
              *residual = c.ins[2].f32(), *gamma = c.ins[3].f32(),
              *beta = c.ins[4].f32();
  float *sum = c.outs[0].f32(), *normed = c.outs[1].f32();
  int64_t rows = c.ins[0].rows(), d = c.ins[0].dim(-1);
  double eps = c.call->floatAttr("epsilon", 1e-5);
  float p = c.training ? float(c.call->floatAttr("probability", 0.0)) : 0.0f;
  int64_t stream = c.call->intAttr("rng_stream", 0);
  DropoutNumbering number(c, c.ins[0].info->shape);
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    int64_t row = i * d;
    float *si = sum + row;
    // The same element index as graph.dropout on the [.., D] tensor.
    for (int64_t j = 0; j < d; ++j) {
      float branch = x[row + j] + bias[j];
      if (p > 0.0f)
        branch *= dropoutScale(c.seed, c.step, stream, number(row + j), p);
      si[j] = residual[row + j] + branch;
    }
    float mean, rstd;
    rowStats(si, d, eps, mean, rstd);
    float *yi = normed + row;
    for (int64_t j = 0; j < d; ++j)
      yi[j] = (si[j] - mean) * rstd * gamma[j] + beta[j];
  }
}

void layerNormGrad(KernelContext &c) {
  const View &x = c.ins[0], &dy = c.ins[1];
  const float *gamma = c.ins.size() == 3 ? c.ins[2].f32() : nullptr;
  double eps = c.call->floatAttr("epsilon", 1e-5);
  int64_t rows = x.rows(), d = x.dim(-1);
  float *dx = c.outs[0].f32();
  float *dgamma = c.outs.size() == 3 ? c.outs[1].f32() : nullptr;
  float *dbeta = c.outs.size() == 3 ? c.outs[2].f32() : nullptr;
  if (dgamma) {
    std::memset(dgamma, 0, d * sizeof(float));
    std::memset(dbeta, 0, d * sizeof(float));
  }
#pragma omp parallel
  {
    std::vector<double> localGamma(dgamma ? d : 0), localBeta(dgamma ? d : 0);
    std::vector<float> g(d);
#pragma omp for
    for (int64_t i = 0; i < rows; ++i) {
      const float *xi = x.f32() + i * d, *dyi = dy.f32() + i * d;
      float mean, rstd;
      rowStats(xi, d, eps, mean, rstd);
      double sumG = 0.0, sumGH = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        float h = (xi[j] - mean) * rstd;
        g[j] = gamma ? dyi[j] * gamma[j] : dyi[j];
        sumG += g[j];
        sumGH += g[j] * h;
        if (dgamma) {
          localGamma[j] += dyi[j] * h;
          localBeta[j] += dyi[j];
        }
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
        dgamma[j] += float(localGamma[j]);
        dbeta[j] += float(localBeta[j]);
      }
    }
  }
}

void addRmsNorm(KernelContext &c) {
  const float *x = c.ins[0].f32(), *residual = c.ins[1].f32(),
              *w = c.ins[2].f32();
  float *sum = c.outs[0].f32(), *normed = c.outs[1].f32();
  double eps = c.call->floatAttr("epsilon", 1e-6);
  int64_t rows = c.ins[0].rows(), d = c.ins[0].dim(-1);
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    float *si = sum + i * d;
    for (int64_t j = 0; j < d; ++j)
      si[j] = residual[i * d + j] + x[i * d + j];
    float r = rmsInverse(si, d, eps);
    for (int64_t j = 0; j < d; ++j)
      normed[i * d + j] = w[j] * (si[j] * r);
  }
}

void rmsNorm(KernelContext &c) {
  const View &x = c.ins[0];
  const float *w = c.ins[1].f32();
  double eps = c.call->floatAttr("epsilon", 1e-6);
  int64_t rows = x.rows(), d = x.dim(-1);
  float *out = c.outs[0].f32();
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const float *xi = x.f32() + i * d;
    float r = rmsInverse(xi, d, eps);
    for (int64_t j = 0; j < d; ++j)
      out[i * d + j] = w[j] * (xi[j] * r);
  }
}

void rmsNormGrad(KernelContext &c) {
  const View &x = c.ins[0], &dy = c.ins[1];
  const float *w = c.ins[2].f32();
  double eps = c.call->floatAttr("epsilon", 1e-6);
  int64_t rows = x.rows(), d = x.dim(-1);
  float *dx = c.outs[0].f32(), *dw = c.outs[1].f32();
  std::memset(dw, 0, d * sizeof(float));
#pragma omp parallel
  {
    std::vector<double> localW(d);
#pragma omp for
    for (int64_t i = 0; i < rows; ++i) {
      const float *xi = x.f32() + i * d, *dyi = dy.f32() + i * d;
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
      dw[j] += float(localW[j]);
  }
}

void causalMask(KernelContext &c) {
  const View &x = c.ins[0];
  int64_t t = x.dim(-2), s = x.dim(-1), matrices = x.numel() / (t * s);
  float fill = c.call->has("zero") ? 0.0f : -INFINITY;
  const float *in = x.f32();
  float *out = c.outs[0].f32();
#pragma omp parallel for
  for (int64_t m = 0; m < matrices; ++m)
    for (int64_t i = 0; i < t; ++i) {
      int64_t row = (m * t + i) * s, visible = i + (s - t) + 1;
      for (int64_t j = 0; j < s; ++j)
        out[row + j] = j < visible ? in[row + j] : fill;
    }
}

void softmax(KernelContext &c) {
  const View &x = c.ins[0];
  int64_t rows = x.rows(), d = x.dim(-1);
  float *out = c.outs[0].f32();
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const float *xi = x.f32() + i * d;
    float *yi = out + i * d;
    float max = xi[0];
    for (int64_t j = 1; j < d; ++j)
      max = std::max(max, xi[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < d; ++j)
      sum += (yi[j] = std::exp(xi[j] - max));
    float inv = float(1.0 / sum);
    for (int64_t j = 0; j < d; ++j)
      yi[j] *= inv;
  }
}

void softmaxGrad(KernelContext &c) {
  const View &y = c.ins[0], &dy = c.ins[1];
  int64_t rows = y.rows(), d = y.dim(-1);
  float *dx = c.outs[0].f32();
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i) {
    const float *yi = y.f32() + i * d, *gi = dy.f32() + i * d;
    double dot = 0.0;
    for (int64_t j = 0; j < d; ++j)
      dot += double(yi[j]) * gi[j];
    for (int64_t j = 0; j < d; ++j)
      dx[i * d + j] = yi[j] * (gi[j] - float(dot));
  }
}

} // namespace slapo::rt::cpu
