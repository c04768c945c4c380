//===- Optimizers.cu - SGD and fused AdamW --------------------------------===//
//
// CPU/Optimizers.cpp on the device, on f32 parameters, gradients and
// moments, one launch per parameter (the kernel interface is one call per
// tensor, so a multi-tensor launch across calls is not possible). The
// learning rate and the step (for AdamW's bias corrections) are read on the
// device from the step scalars, so a replayed graph updates with the
// step's own; a call without device scalars (a kernel run outside a
// backend's setScalars, as a test may make) reads the host fields instead,
// passed by value at launch.
//
//===----------------------------------------------------------------------===//

#include "Device.cuh"

namespace slapo::rt::cuda {

namespace {

/// Where the kernels find the learning rate and the step.
struct Scalars {
  const StepScalars *device = nullptr;
  double learningRate = 0.0; // used only without `device`
  int64_t step = 1;
};

Scalars scalarsOf(const KernelContext &c) {
  return {c.deviceScalars, c.learningRate, c.step};
}

__device__ __forceinline__ double learningRateOf(const Scalars &s) {
  return s.device ? s.device->learningRate : s.learningRate;
}
__device__ __forceinline__ int64_t stepOf(const Scalars &s) {
  return s.device ? s.device->step : s.step;
}

__global__ void sgdKernel(const float *__restrict__ g, float *__restrict__ p,
                          int64_t n, Scalars scalars) {
  float lr = float(learningRateOf(scalars));
  SLAPO_GRID_LOOP(i, n) { p[i] -= lr * g[i]; }
}

/// torch.optim.AdamW: decoupled weight decay first, then the moments, then
/// the bias-corrected step, with epsilon added to sqrt(v) / sqrt(1 - b2^t)
/// as the CPU does. The step's factors are computed in double once a block,
/// then rounded to float, as on the CPU.
__global__ void adamwKernel(const float *__restrict__ g, float *__restrict__ p,
                            float *__restrict__ m, float *__restrict__ v,
                            int64_t n, Scalars scalars, double b1, double b2,
                            double eps, double wd) {
  __shared__ float factors[3];
  if (threadIdx.x == 0) {
    double lr = learningRateOf(scalars);
    double step = double(stepOf(scalars));
    double correction1 = 1.0 - pow(b1, step);
    double correction2 = 1.0 - pow(b2, step);
    factors[0] = float(lr / correction1);  // the step size
    factors[1] = float(sqrt(correction2)); // sqrt of the second correction
    factors[2] = float(1.0 - lr * wd);     // the decay
  }
  __syncthreads();
  float stepSize = factors[0], sqrtCorrection2 = factors[1];
  float decay = factors[2];
  float fb1 = float(b1), fb2 = float(b2), feps = float(eps);
  SLAPO_GRID_LOOP(i, n) {
    float gi = g[i];
    float pi = p[i] * decay;
    float mi = fb1 * m[i] + (1.0f - fb1) * gi;
    float vi = fb2 * v[i] + (1.0f - fb2) * gi * gi;
    float denom = sqrtf(vi) / sqrtCorrection2 + feps;
    p[i] = pi - stepSize * mi / denom;
    m[i] = mi;
    v[i] = vi;
  }
}

} // namespace

void sgdUpdate(KernelContext &c) {
  int64_t n = c.outs[0].numel();
  if (n == 0)
    return;
  sgdKernel<<<blocksFor(n), kThreads, 0, streamOf(c)>>>(
      c.ins[0].f32(), c.outs[0].f32(), n, scalarsOf(c));
  SLAPO_CUDA_LAUNCHED();
}

void adamwUpdate(KernelContext &c) {
  int64_t n = c.outs[0].numel();
  if (n == 0)
    return;
  adamwKernel<<<blocksFor(n), kThreads, 0, streamOf(c)>>>(
      c.ins[0].f32(), c.outs[0].f32(), c.outs[1].f32(), c.outs[2].f32(), n,
      scalarsOf(c), c.call->floatAttr("beta1", 0.9),
      c.call->floatAttr("beta2", 0.999), c.call->floatAttr("epsilon", 1e-8),
      c.call->floatAttr("weight_decay", 0.0));
  SLAPO_CUDA_LAUNCHED();
}

} // namespace slapo::rt::cuda
