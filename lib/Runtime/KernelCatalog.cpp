//===- KernelCatalog.cpp - every kernel a plan may call -------------------===//
//
// Names, arities and load-time checks: what a kernel call means, the same on
// every backend. Each backend implements these names (CPU/CpuBackend.cpp).
//
//===----------------------------------------------------------------------===//

#include "KernelChecks.h"

namespace slapo::rt {

const std::vector<KernelSpec> &kernelCatalog() {
  using namespace checks;
  // name, min inputs, max inputs, outputs (-1: any number), load-time check
  static const std::vector<KernelSpec> catalog = {
      {"embedding", 2, 2, 1, checkEmbedding},
      {"embedding_grad", 2, 2, 1, checkEmbeddingGrad},
      {"position_ids", 1, 1, 1, checkPositionIds},
      {"linear", 2, 3, 1, checkLinear},
      {"linear_grad_weight", 2, 2, 1, checkLinearGradWeight},
      {"block_mask", 1, 1, 1, checkBlockMask},
      {"block_sparse_linear", 3, 4, 1, checkBlockSparseLinear},
      {"block_sparse_linear_grad", 3, 3, 1, checkBlockSparseLinearGrad},
      {"matmul", 2, 2, 1, checkMatmul},
      {"layer_norm", 1, 3, 1, checkLayerNorm},
      {"layer_norm_grad", 2, 3, -1, checkLayerNormGrad},
      {"rms_norm", 2, 2, 1, checkRmsNorm},
      {"rms_norm_grad", 3, 3, 2, checkRmsNormGrad},
      {"causal_mask", 1, 1, 1, checkCausalMask},
      {"softmax", 1, 1, 1, checkSoftmax},
      {"softmax_grad", 2, 2, 1, checkSoftmaxGrad},
      {"attention", 3, 4, 1, checkAttention},
      {"attention_grad", 4, 5, 3, checkAttentionGrad},
      {"rope", 1, 1, 1, checkRope},
      {"relu", 1, 1, 1, checkElementwise},
      {"silu", 1, 1, 1, checkElementwise},
      {"gelu", 1, 1, 1, checkElementwise},
      {"activation_grad", 2, 2, 1, checkActivationGrad},
      {"bias_gelu", 2, 2, 1, checkBiasGelu},
      {"bias_gelu_grad", 3, 3, 1, checkBiasGeluGrad},
      {"bias_dropout_add_layer_norm", 5, 5, 2, checkBiasDropoutAddLayerNorm},
      {"add_rms_norm", 3, 3, 2, checkAddRmsNorm},
      {"scale", 1, 1, 1, checkScale},
      {"dropout", 1, 1, 1, checkDropout},
      {"add", 2, 2, 1, checkBroadcast},
      {"mul", 2, 2, 1, checkBroadcast},
      {"sum_to", 1, 1, 1, checkSumTo},
      {"zeros", 0, 0, 1, checkZeros},
      {"cast", 1, 1, 1, checkCast},
      {"transpose", 1, 1, 1, checkTranspose},
      {"split", 1, 1, -1, checkSplit},
      {"concat", 1, 64, 1, checkConcat},
      {"sync", 1, 1, 1, checkSync},
      {"cross_entropy", 2, 2, 1, checkCrossEntropy},
      {"cross_entropy_grad", 2, 2, 1, checkCrossEntropyGrad},
      {"sigmoid_bce", 2, 2, 1, checkSigmoidBce},
      {"sigmoid_bce_grad", 2, 2, 1, checkSigmoidBceGrad},
      {"mask_agreement", 2, 2, 1, checkMaskAgreement},
      {"tile_mean", 1, 1, 1, checkTileMean},
      {"attention_block_mask", 2, 2, 1, checkAttentionBlockMask},
      {"sgd_update", 1, 1, 1, checkUpdate},
      {"adamw_update", 1, 1, 3, checkUpdate},
  };
  return catalog;
}

int findKernelSpec(const std::string &name) {
  const auto &catalog = kernelCatalog();
  for (size_t i = 0; i < catalog.size(); ++i)
    if (name == catalog[i].name)
      return int(i);
  return -1;
}

} // namespace slapo::rt
