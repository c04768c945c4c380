//===- Optimizers.cpp - SGD and fused AdamW -------------------------------===//

#include "CPUKernels.h"

#include <cmath>

namespace slapo::rt::cpu {

void sgdUpdate(KernelContext &c) {
  const float *g = c.ins[0].f32();
  float *p = c.outs[0].f32();
  float lr = float(c.learningRate);
  int64_t n = c.outs[0].numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i)
    p[i] -= lr * g[i];
}

/// torch.optim.AdamW: decoupled weight decay, bias-corrected moments.
void adamwUpdate(KernelContext &c) {
  const float *g = c.ins[0].f32();
  float *p = c.outs[0].f32(), *m = c.outs[1].f32(), *v = c.outs[2].f32();
  double b1 = c.call->floatAttr("beta1", 0.9);
  double b2 = c.call->floatAttr("beta2", 0.999);
  double eps = c.call->floatAttr("epsilon", 1e-8);
  double wd = c.call->floatAttr("weight_decay", 0.0);
  double lr = c.learningRate;
  double correction1 = 1.0 - std::pow(b1, double(c.step));
  double correction2 = 1.0 - std::pow(b2, double(c.step));
  float stepSize = float(lr / correction1);
  float sqrtCorrection2 = float(std::sqrt(correction2));
  float decay = float(1.0 - lr * wd);
  float fb1 = float(b1), fb2 = float(b2), feps = float(eps);
  int64_t n = c.outs[0].numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    p[i] *= decay;
    m[i] = fb1 * m[i] + (1.0f - fb1) * g[i];
    v[i] = fb2 * v[i] + (1.0f - fb2) * g[i] * g[i];
    float denom = std::sqrt(v[i]) / sqrtCorrection2 + feps;
    p[i] -= stepSize * m[i] / denom;
  }
}

} // namespace slapo::rt::cpu
