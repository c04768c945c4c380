//===- KernelChecks.h - what each kernel needs of its operands -*- C++ -*-===//
//
// The load-time check of every kernel of the catalog (KernelCatalog.cpp).
// Private to lib/Runtime.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_KERNELCHECKS_H
#define SLAPO_LIB_RUNTIME_KERNELCHECKS_H

#include "slapo/Runtime/Kernels.h"

#include <string>

namespace slapo::rt::checks {

/// Each returns "" when the kernel can run the call, else the problem.
std::string checkEmbedding(const KernelCheck &check);
std::string checkEmbeddingGrad(const KernelCheck &check);
std::string checkPositionIds(const KernelCheck &check);
std::string checkLinear(const KernelCheck &check);
std::string checkLinearGradWeight(const KernelCheck &check);
std::string checkBlockMask(const KernelCheck &check);
std::string checkBlockSparseLinear(const KernelCheck &check);
std::string checkBlockSparseLinearGrad(const KernelCheck &check);
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
/// f32 <-> bf16, same shape.
std::string checkCast(const KernelCheck &check);
std::string checkTranspose(const KernelCheck &check);
std::string checkSplit(const KernelCheck &check);
std::string checkConcat(const KernelCheck &check);
std::string checkSync(const KernelCheck &check);
std::string checkCrossEntropy(const KernelCheck &check);
std::string checkCrossEntropyGrad(const KernelCheck &check);
std::string checkSigmoidBce(const KernelCheck &check);
std::string checkSigmoidBceGrad(const KernelCheck &check);
std::string checkMaskAgreement(const KernelCheck &check);
std::string checkTileMean(const KernelCheck &check);
std::string checkAttentionBlockMask(const KernelCheck &check);
/// sgd_update and adamw_update: in place on the parameter (and moments).
std::string checkUpdate(const KernelCheck &check);

} // namespace slapo::rt::checks

#endif // SLAPO_LIB_RUNTIME_KERNELCHECKS_H
