//===- ModelConfig.h - Hugging Face config.json, validated -----*- C++ -*-===//
//
// The facts of a Hugging Face config.json that decide a model's graph, read
// with Hugging Face's defaults and checked before anything is built. Every
// error is one line naming the file and the field.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_IMPORT_MODELCONFIG_H
#define SLAPO_IMPORT_MODELCONFIG_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace slapo::import {

enum class ModelFamily { GPT2, OPT, Llama };

/// Activation functions by their Hugging Face names.
enum class Activation { Relu, Gelu, GeluTanh, Silu };

struct ModelConfig {
  ModelFamily family = ModelFamily::GPT2;
  std::string modelType; // as written in config.json

  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKeyValueHeads = 0; // equal to numHeads unless GQA
  int64_t headDim = 0;
  int64_t intermediateSize = 0;
  int64_t maxPositions = 0;
  Activation activation = Activation::GeluTanh;
  double initializerRange = 0.02;
  double normEpsilon = 1e-5;
  bool tieWordEmbeddings = true;

  // Dropout probabilities (0 means no dropout op is emitted).
  double embeddingDropout = 0.0; // GPT-2 embd_pdrop
  double residualDropout = 0.0;  // GPT-2 resid_pdrop, OPT dropout
  double attentionDropout = 0.0; // on the attention probabilities

  // GPT-2
  bool scaleAttnWeights = true;
  bool scaleAttnByInverseLayerIdx = false;

  // OPT
  bool doLayerNormBefore = true;
  bool enableBias = true;
  bool layerNormElementwiseAffine = true;
  bool removeFinalLayerNorm = false;
  int64_t wordEmbedProjDim = 0; // equals hiddenSize unless project_in/out

  // LLaMA
  double ropeTheta = 10000.0;
  bool attentionBias = false;
  bool mlpBias = false;
};

/// Reads and validates a config.json text; `source` names it in errors.
llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef json,
                                             llvm::StringRef source);

/// Reads and validates the config.json file at `path`.
llvm::Expected<ModelConfig> loadModelConfig(llvm::StringRef path);

llvm::StringRef familyName(ModelFamily family);

} // namespace slapo::import

#endif // SLAPO_IMPORT_MODELCONFIG_H
