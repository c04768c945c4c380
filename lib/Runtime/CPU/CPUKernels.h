//===- CPUKernels.h - CPU kernel entry points ------------------*- C++ -*-===//
//
// One function per kernel name of the plan; CpuBackend.cpp binds them by
// name and operand dtypes (their load-time checks are in
// lib/Runtime/KernelChecks.cpp). Kernels over activations are templates on
// the element type (Element.h), instantiated for float and bf16 where they
// are defined; parameters, optimizer state and losses are always float.
// Private to lib/Runtime/CPU.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CPU_CPUKERNELS_H
#define SLAPO_LIB_RUNTIME_CPU_CPUKERNELS_H

#include "Element.h"

namespace slapo::rt::cpu {

// Dense.cpp
template <class T> void embedding(KernelContext &c);
template <class T> void embeddingGrad(KernelContext &c);
void positionIds(KernelContext &c);
template <class T> void linear(KernelContext &c);
template <class T> void linearGradWeight(KernelContext &c);
template <class T> void matmul(KernelContext &c);
// Norms.cpp
template <class T> void layerNorm(KernelContext &c);
template <class T> void biasDropoutAddLayerNorm(KernelContext &c);
template <class T> void addRmsNorm(KernelContext &c);
template <class T> void causalMask(KernelContext &c);
template <class T> void layerNormGrad(KernelContext &c);
template <class T> void rmsNorm(KernelContext &c);
template <class T> void rmsNormGrad(KernelContext &c);
template <class T> void softmax(KernelContext &c);
template <class T> void softmaxGrad(KernelContext &c);
// Attention.cpp
template <class T> void attention(KernelContext &c);
template <class T> void attentionGrad(KernelContext &c);
template <class T> void rope(KernelContext &c);
// Elementwise.cpp
template <class T> void relu(KernelContext &c);
template <class T> void silu(KernelContext &c);
template <class T> void gelu(KernelContext &c);
template <class T> void activationGrad(KernelContext &c);
template <class T> void biasGelu(KernelContext &c);
template <class T> void biasGeluGrad(KernelContext &c);
template <class T> void scale(KernelContext &c);
template <class T> void dropout(KernelContext &c);
template <class T> void add(KernelContext &c);
template <class T> void mul(KernelContext &c);
template <class T> void sumTo(KernelContext &c);
void zeros(KernelContext &c);
/// Converts between float dtypes (graph.cast).
void cast(KernelContext &c);
/// y += alpha * x (the backend's gradient accumulation).
void accumulate(float *y, const float *x, int64_t count, float alpha);
/// sum of x[i]^2, in double.
double sumOfSquares(const float *x, int64_t count);
/// x *= factor.
void scale(float *x, int64_t count, float factor);
// Shape.cpp
template <class T> void transpose(KernelContext &c);
template <class T> void split(KernelContext &c);
template <class T> void concat(KernelContext &c);
// Collectives.cpp
template <class T> void sync(KernelContext &c);
// Loss.cpp
template <class T> void crossEntropy(KernelContext &c);
template <class T> void crossEntropyGrad(KernelContext &c);
// Optimizers.cpp
void sgdUpdate(KernelContext &c);
void adamwUpdate(KernelContext &c);

} // namespace slapo::rt::cpu

#endif // SLAPO_LIB_RUNTIME_CPU_CPUKERNELS_H
