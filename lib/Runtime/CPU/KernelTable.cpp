//===- KernelTable.cpp - kernel names, arities, entry points -------------===//

#include "CPUKernels.h"

namespace slapo::rt {

const std::vector<KernelSpec> &kernelTable() {
  using namespace cpu;
  // name, min inputs, max inputs, outputs (-1: any number), function
  static const std::vector<KernelSpec> table = {
      {"embedding", 2, 2, 1, embedding},
      {"embedding_grad", 2, 2, 1, embeddingGrad},
      {"position_ids", 1, 1, 1, positionIds},
      {"linear", 2, 3, 1, linear},
      {"linear_grad_weight", 2, 2, 1, linearGradWeight},
      {"matmul", 2, 2, 1, matmul},
      {"layer_norm", 1, 3, 1, layerNorm},
      {"layer_norm_grad", 2, 3, -1, layerNormGrad},
      {"rms_norm", 2, 2, 1, rmsNorm},
      {"rms_norm_grad", 3, 3, 2, rmsNormGrad},
      {"causal_mask", 1, 1, 1, causalMask},
      {"softmax", 1, 1, 1, softmax},
      {"softmax_grad", 2, 2, 1, softmaxGrad},
      {"attention", 3, 3, 1, attention},
      {"attention_grad", 4, 4, 3, attentionGrad},
      {"rope", 1, 1, 1, rope},
      {"relu", 1, 1, 1, relu},
      {"silu", 1, 1, 1, silu},
      {"gelu", 1, 1, 1, gelu},
      {"activation_grad", 2, 2, 1, activationGrad},
      {"bias_gelu", 2, 2, 1, biasGelu},
      {"bias_gelu_grad", 3, 3, 1, biasGeluGrad},
      {"bias_dropout_add_layer_norm", 5, 5, 2, biasDropoutAddLayerNorm},
      {"add_rms_norm", 3, 3, 2, addRmsNorm},
      {"scale", 1, 1, 1, scale},
      {"dropout", 1, 1, 1, dropout},
      {"add", 2, 2, 1, add},
      {"mul", 2, 2, 1, mul},
      {"sum_to", 1, 1, 1, sumTo},
      {"zeros", 0, 0, 1, zeros},
      {"transpose", 1, 1, 1, transpose},
      {"split", 1, 1, -1, split},
      {"concat", 1, 64, 1, concat},
      {"sync", 1, 1, 1, sync},
      {"cross_entropy", 2, 2, 1, crossEntropy},
      {"cross_entropy_grad", 2, 2, 1, crossEntropyGrad},
      {"sgd_update", 1, 1, 1, sgdUpdate},
      {"adamw_update", 1, 1, 3, adamwUpdate},
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
