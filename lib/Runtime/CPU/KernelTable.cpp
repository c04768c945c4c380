//===- KernelTable.cpp - kernel names, arities, entry points, checks ------===//

#include "CPUKernels.h"

namespace slapo::rt {

const std::vector<KernelSpec> &kernelTable() {
  using namespace cpu;
  // name, min inputs, max inputs, outputs (-1: any number), function,
  // load-time check (KernelChecks.cpp)
  static const std::vector<KernelSpec> table = {
      {"embedding", 2, 2, 1, embedding, checkEmbedding},
      {"embedding_grad", 2, 2, 1, embeddingGrad, checkEmbeddingGrad},
      {"position_ids", 1, 1, 1, positionIds, checkPositionIds},
      {"linear", 2, 3, 1, linear, checkLinear},
      {"linear_grad_weight", 2, 2, 1, linearGradWeight, checkLinearGradWeight},
      {"matmul", 2, 2, 1, matmul, checkMatmul},
      {"layer_norm", 1, 3, 1, layerNorm, checkLayerNorm},
      {"layer_norm_grad", 2, 3, -1, layerNormGrad, checkLayerNormGrad},
      {"rms_norm", 2, 2, 1, rmsNorm, checkRmsNorm},
      {"rms_norm_grad", 3, 3, 2, rmsNormGrad, checkRmsNormGrad},
      {"causal_mask", 1, 1, 1, causalMask, checkCausalMask},
      {"softmax", 1, 1, 1, softmax, checkSoftmax},
      {"softmax_grad", 2, 2, 1, softmaxGrad, checkSoftmaxGrad},
      {"attention", 3, 3, 1, attention, checkAttention},
      {"attention_grad", 4, 4, 3, attentionGrad, checkAttentionGrad},
      {"rope", 1, 1, 1, rope, checkRope},
      {"relu", 1, 1, 1, relu, checkElementwise},
      {"silu", 1, 1, 1, silu, checkElementwise},
      {"gelu", 1, 1, 1, gelu, checkElementwise},
      {"activation_grad", 2, 2, 1, activationGrad, checkActivationGrad},
      {"bias_gelu", 2, 2, 1, biasGelu, checkBiasGelu},
      {"bias_gelu_grad", 3, 3, 1, biasGeluGrad, checkBiasGeluGrad},
      {"bias_dropout_add_layer_norm", 5, 5, 2, biasDropoutAddLayerNorm,
       checkBiasDropoutAddLayerNorm},
      {"add_rms_norm", 3, 3, 2, addRmsNorm, checkAddRmsNorm},
      {"scale", 1, 1, 1, scale, checkScale},
      {"dropout", 1, 1, 1, dropout, checkDropout},
      {"add", 2, 2, 1, add, checkBroadcast},
      {"mul", 2, 2, 1, mul, checkBroadcast},
      {"sum_to", 1, 1, 1, sumTo, checkSumTo},
      {"zeros", 0, 0, 1, zeros, checkZeros},
      {"transpose", 1, 1, 1, transpose, checkTranspose},
      {"split", 1, 1, -1, split, checkSplit},
      {"concat", 1, 64, 1, concat, checkConcat},
      {"sync", 1, 1, 1, sync, checkSync},
      {"cross_entropy", 2, 2, 1, crossEntropy, checkCrossEntropy},
      {"cross_entropy_grad", 2, 2, 1, crossEntropyGrad, checkCrossEntropyGrad},
      {"sgd_update", 1, 1, 1, sgdUpdate, checkUpdate},
      {"adamw_update", 1, 1, 3, adamwUpdate, checkUpdate},
  };
  return table;
}

int findKernel(const std::string &name) {
  const auto &table = kernelTable();
  for (size_t i = 0; i < table.size(); ++i)
    if (name == table[i].name)
      return int(i);
  return -1;
}

} // namespace slapo::rt
