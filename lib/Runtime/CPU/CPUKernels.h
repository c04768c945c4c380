//===- CPUKernels.h - CPU kernel entry points ------------------*- C++ -*-===//
//
// One function per kernel name of the plan; CpuBackend.cpp binds them by
// name and operand dtypes (their load-time checks are in
// lib/Runtime/KernelChecks.cpp). Private to lib/Runtime/CPU.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CPU_CPUKERNELS_H
#define SLAPO_LIB_RUNTIME_CPU_CPUKERNELS_H

#include "slapo/Runtime/Kernels.h"

namespace slapo::rt::cpu {

// Dense.cpp
void embedding(KernelContext &c);
void embeddingGrad(KernelContext &c);
void positionIds(KernelContext &c);
void linear(KernelContext &c);
void linearGradWeight(KernelContext &c);
void matmul(KernelContext &c);
// Norms.cpp
void layerNorm(KernelContext &c);
void biasDropoutAddLayerNorm(KernelContext &c);
void addRmsNorm(KernelContext &c);
void causalMask(KernelContext &c);
void layerNormGrad(KernelContext &c);
void rmsNorm(KernelContext &c);
void rmsNormGrad(KernelContext &c);
void softmax(KernelContext &c);
void softmaxGrad(KernelContext &c);
// Attention.cpp
void attention(KernelContext &c);
void attentionGrad(KernelContext &c);
void rope(KernelContext &c);
// Elementwise.cpp
void relu(KernelContext &c);
void silu(KernelContext &c);
void gelu(KernelContext &c);
void activationGrad(KernelContext &c);
void biasGelu(KernelContext &c);
void biasGeluGrad(KernelContext &c);
void scale(KernelContext &c);
void dropout(KernelContext &c);
void add(KernelContext &c);
void mul(KernelContext &c);
void sumTo(KernelContext &c);
void zeros(KernelContext &c);
/// y += alpha * x (the backend's gradient accumulation).
void accumulate(float *y, const float *x, int64_t count, float alpha);
// Shape.cpp
void transpose(KernelContext &c);
void split(KernelContext &c);
void concat(KernelContext &c);
// Collectives.cpp
void sync(KernelContext &c);
// Loss.cpp
void crossEntropy(KernelContext &c);
void crossEntropyGrad(KernelContext &c);
// Optimizers.cpp
void sgdUpdate(KernelContext &c);
void adamwUpdate(KernelContext &c);

} // namespace slapo::rt::cpu

#endif // SLAPO_LIB_RUNTIME_CPU_CPUKERNELS_H
