//===- CPUKernels.h - CPU kernel entry points ------------------*- C++ -*-===//
//
// One function per kernel name of the plan, and the load-time check of what
// it needs of its operands (one per kernel or family of kernels);
// kernelTable() lists them with their arities. Private to lib/Runtime.
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

// KernelChecks.cpp: "" when the kernel can run the call, else the problem.
std::string checkEmbedding(const KernelCheck &check);
std::string checkEmbeddingGrad(const KernelCheck &check);
std::string checkPositionIds(const KernelCheck &check);
std::string checkLinear(const KernelCheck &check);
std::string checkLinearGradWeight(const KernelCheck &check);
std::string checkMatmul(const KernelCheck &check);
std::string checkLayerNorm(const KernelCheck &check);
std::string checkLayerNormGrad(const KernelCheck &check);
std::string checkRmsNorm(const KernelCheck &check);
std::string checkRmsNormGrad(const KernelCheck &check);
std::string checkBiasDropoutAddLayerNorm(const KernelCheck &check);
std::string checkAddRmsNorm(const KernelCheck &check);
std::string checkCausalMask(const KernelCheck &check);
std::string checkSoftmax(const KernelCheck &check);
std::string checkSoftmaxGrad(const KernelCheck &check);
std::string checkAttention(const KernelCheck &check);
std::string checkAttentionGrad(const KernelCheck &check);
std::string checkRope(const KernelCheck &check);
/// relu, silu and gelu: the result has the input's shape.
std::string checkElementwise(const KernelCheck &check);
std::string checkActivationGrad(const KernelCheck &check);
std::string checkBiasGelu(const KernelCheck &check);
std::string checkBiasGeluGrad(const KernelCheck &check);
std::string checkScale(const KernelCheck &check);
std::string checkDropout(const KernelCheck &check);
/// add and mul: NumPy broadcasting over trailing axes.
std::string checkBroadcast(const KernelCheck &check);
std::string checkSumTo(const KernelCheck &check);
std::string checkZeros(const KernelCheck &check);
std::string checkTranspose(const KernelCheck &check);
std::string checkSplit(const KernelCheck &check);
std::string checkConcat(const KernelCheck &check);
std::string checkSync(const KernelCheck &check);
std::string checkCrossEntropy(const KernelCheck &check);
std::string checkCrossEntropyGrad(const KernelCheck &check);
/// sgd_update and adamw_update: in place on the parameter (and moments).
std::string checkUpdate(const KernelCheck &check);

} // namespace slapo::rt::cpu

#endif // SLAPO_LIB_RUNTIME_CPU_CPUKERNELS_H
