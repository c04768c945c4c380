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
#include <optional>
#include <string>
#include <vector>

namespace slapo::import {

enum class ModelFamily { GPT2, OPT, Llama };

/// Activation functions by their Hugging Face names.
enum class Activation { Relu, Gelu, GeluTanh, Silu };

/// The `rope_type`s of config.json's `rope_scaling` that are supported: how
/// transformers' modeling_rope_utils changes the RoPE frequencies.
enum class RopeScalingType {
  Default, // no scaling (also `rope_scaling: null`)
  Linear,  // every frequency divided by `factor`
  Llama3,  // Llama 3.1's bands: low frequencies divided by `factor`, high
           // ones kept, the band between interpolated
};

struct RopeScaling {
  RopeScalingType type = RopeScalingType::Default;
  double factor = 1.0;              // linear, llama3
  double lowFreqFactor = 0.0;       // llama3
  double highFreqFactor = 0.0;      // llama3
  int64_t originalMaxPositions = 0; // llama3
};

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
  // The parameters the graph will hold (tied weights once), at most 2^40.
  int64_t parameterCount = 0;

  // Special tokens, each below vocabSize. config.json gives `bos_token_id`
  // as an integer and `eos_token_id` as an integer or a list (Llama 3
  // Instruct stops at any of several); none when absent or null.
  std::optional<int64_t> bosTokenId;
  std::vector<int64_t> eosTokenIds;

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
  RopeScaling ropeScaling;
  bool attentionBias = false;
  bool mlpBias = false;
};

/// Reads and validates a config.json text; `source` names it in errors.
/// Besides types and ranges, it refuses JSON nested deeper than 256 levels,
/// numbers with a fraction or an exponent for integer fields, integers above
/// 2^31-1, non-finite numbers, more than 1024 layers and more than 2^40
/// parameters.
llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef json,
                                             llvm::StringRef source);

/// Reads and validates the config.json file at `path`.
llvm::Expected<ModelConfig> loadModelConfig(llvm::StringRef path);

llvm::StringRef familyName(ModelFamily family);

/// The `rope_type` name of a scaling: "default", "linear" or "llama3".
llvm::StringRef ropeScalingName(RopeScalingType type);

} // namespace slapo::import

#endif // SLAPO_IMPORT_MODELCONFIG_H
