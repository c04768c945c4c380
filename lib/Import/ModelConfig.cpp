//===- ModelConfig.cpp - Hugging Face config.json, validated -------------===//

#include "slapo/Import/ModelConfig.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <optional>

using namespace llvm;

namespace slapo::import {

StringRef familyName(ModelFamily family) {
  switch (family) {
  case ModelFamily::GPT2:
    return "gpt2";
  case ModelFamily::OPT:
    return "opt";
  case ModelFamily::Llama:
    return "llama";
  }
  llvm_unreachable("unknown model family");
}

namespace {

/// Reads typed fields of one JSON object; the first problem is kept and every
/// later read returns its default, so callers check `error()` once.
class FieldReader {
public:
  FieldReader(const json::Object &object, StringRef source)
      : object(object), source(source) {}

  int64_t requiredInt(StringRef key) { return readInt(key, std::nullopt); }
  int64_t optionalInt(StringRef key, int64_t fallback) {
    return readInt(key, fallback);
  }

  double optionalFloat(StringRef key, double fallback) {
    const json::Value *value = lookup(key);
    if (!value)
      return fallback;
    if (std::optional<double> number = value->getAsNumber())
      return *number;
    fail(key, "expected a number", *value);
    return fallback;
  }

  bool optionalBool(StringRef key, bool fallback) {
    const json::Value *value = lookup(key);
    if (!value)
      return fallback;
    if (std::optional<bool> flag = value->getAsBoolean())
      return *flag;
    fail(key, "expected true or false", *value);
    return fallback;
  }

  std::string optionalString(StringRef key, StringRef fallback) {
    const json::Value *value = lookup(key);
    if (!value)
      return fallback.str();
    if (std::optional<StringRef> text = value->getAsString())
      return text->str();
    fail(key, "expected a string", *value);
    return fallback.str();
  }

  int64_t requiredPositive(StringRef key) {
    return positive(key, requiredInt(key));
  }
  int64_t optionalPositive(StringRef key, int64_t fallback) {
    return positive(key, optionalInt(key, fallback));
  }
  double optionalPositiveFloat(StringRef key, double fallback) {
    double value = optionalFloat(key, fallback);
    if (!(value > 0.0))
      invalid(key, "must be positive, got " + written(key));
    return value;
  }
  double optionalProbability(StringRef key, double fallback) {
    double value = optionalFloat(key, fallback);
    if (!(value >= 0.0 && value < 1.0))
      invalid(key, "must be a probability in [0, 1), got " + written(key));
    return value;
  }

  /// True when the key is present with a value other than null.
  bool has(StringRef key) { return lookup(key) != nullptr; }

  /// Records a problem with a field's value.
  void invalid(StringRef key, const Twine &message) {
    if (firstError.empty())
      firstError = formatv("{0}: field '{1}': {2}", source, key, message.str());
  }

  bool failed() const { return !firstError.empty(); }
  Error takeError() {
    return createStringError(inconvertibleErrorCode(), firstError);
  }

private:
  /// The value of `key`, or null when it is absent or JSON null (Hugging Face
  /// treats null as "use the default").
  const json::Value *lookup(StringRef key) {
    const json::Value *value = object.get(key);
    if (!value || value->kind() == json::Value::Null)
      return nullptr;
    return value;
  }

  int64_t positive(StringRef key, int64_t value) {
    if (value <= 0 && !failed())
      invalid(key, formatv("must be a positive integer, got {0}", value));
    return value;
  }

  int64_t readInt(StringRef key, std::optional<int64_t> fallback) {
    const json::Value *value = lookup(key);
    if (!value) {
      if (!fallback)
        invalid(key, "is missing (expected an integer)");
      return fallback.value_or(0);
    }
    if (std::optional<int64_t> number = value->getAsInteger())
      return *number;
    fail(key, "expected an integer", *value);
    return fallback.value_or(0);
  }

  /// The value of `key` as written in the file, shortened for messages.
  std::string written(StringRef key) {
    const json::Value *value = object.get(key);
    if (!value)
      return "nothing";
    std::string shown;
    raw_string_ostream os(shown);
    os << *value;
    if (shown.size() > 40)
      shown = shown.substr(0, 37) + "...";
    return shown;
  }

  void fail(StringRef key, StringRef expected, const json::Value &) {
    invalid(key, formatv("{0}, got {1}", expected, written(key)));
  }

  const json::Object &object;
  std::string source;
  std::string firstError;
};

std::optional<Activation> activationByName(StringRef name) {
  return StringSwitch<std::optional<Activation>>(name)
      .Case("relu", Activation::Relu)
      .Case("gelu", Activation::Gelu)
      .Cases({"gelu_new", "gelu_pytorch_tanh", "gelu_fast"},
             Activation::GeluTanh)
      .Cases({"silu", "swish"}, Activation::Silu)
      .Default(std::nullopt);
}

void readActivation(FieldReader &reader, StringRef key, StringRef fallback,
                    ModelConfig &config) {
  std::string name = reader.optionalString(key, fallback);
  if (std::optional<Activation> activation = activationByName(name))
    config.activation = *activation;
  else
    reader.invalid(key, formatv("unknown activation '{0}' (expected relu, "
                                "gelu, gelu_new, gelu_pytorch_tanh or silu)",
                                name));
}

void readGPT2(FieldReader &reader, ModelConfig &config) {
  config.vocabSize = reader.requiredPositive("vocab_size");
  config.maxPositions = reader.requiredPositive("n_positions");
  config.hiddenSize = reader.requiredPositive("n_embd");
  config.numLayers = reader.requiredPositive("n_layer");
  config.numHeads = reader.requiredPositive("n_head");
  config.numKeyValueHeads = config.numHeads;
  config.intermediateSize =
      reader.optionalPositive("n_inner", 4 * config.hiddenSize);
  readActivation(reader, "activation_function", "gelu_new", config);
  config.residualDropout = reader.optionalProbability("resid_pdrop", 0.1);
  config.embeddingDropout = reader.optionalProbability("embd_pdrop", 0.1);
  config.attentionDropout = reader.optionalProbability("attn_pdrop", 0.1);
  config.normEpsilon = reader.optionalPositiveFloat("layer_norm_epsilon", 1e-5);
  config.initializerRange =
      reader.optionalPositiveFloat("initializer_range", 0.02);
  config.scaleAttnWeights = reader.optionalBool("scale_attn_weights", true);
  config.scaleAttnByInverseLayerIdx =
      reader.optionalBool("scale_attn_by_inverse_layer_idx", false);
  config.tieWordEmbeddings = reader.optionalBool("tie_word_embeddings", true);
  if (!config.tieWordEmbeddings)
    reader.invalid("tie_word_embeddings",
                   "GPT-2's lm_head is always tied to transformer.wte; false "
                   "is not supported");
  if (reader.optionalBool("reorder_and_upcast_attn", false))
    reader.invalid("reorder_and_upcast_attn",
                   "is not supported; set it to false");
}

void readOPT(FieldReader &reader, ModelConfig &config) {
  config.vocabSize = reader.requiredPositive("vocab_size");
  config.hiddenSize = reader.requiredPositive("hidden_size");
  config.numLayers = reader.requiredPositive("num_hidden_layers");
  config.numHeads = reader.requiredPositive("num_attention_heads");
  config.numKeyValueHeads = config.numHeads;
  config.intermediateSize = reader.requiredPositive("ffn_dim");
  config.maxPositions = reader.requiredPositive("max_position_embeddings");
  config.wordEmbedProjDim =
      reader.optionalPositive("word_embed_proj_dim", config.hiddenSize);
  readActivation(reader, "activation_function", "relu", config);
  config.residualDropout = reader.optionalProbability("dropout", 0.1);
  config.attentionDropout =
      reader.optionalProbability("attention_dropout", 0.0);
  config.initializerRange = reader.optionalPositiveFloat("init_std", 0.02);
  config.doLayerNormBefore = reader.optionalBool("do_layer_norm_before", true);
  config.enableBias = reader.optionalBool("enable_bias", true);
  config.layerNormElementwiseAffine =
      reader.optionalBool("layer_norm_elementwise_affine", true);
  config.removeFinalLayerNorm =
      reader.optionalBool("_remove_final_layer_norm", false);
  config.tieWordEmbeddings = reader.optionalBool("tie_word_embeddings", true);
  if (reader.optionalFloat("layerdrop", 0.0) != 0.0)
    reader.invalid("layerdrop", "LayerDrop is not supported; set it to 0");
}

void readLlama(FieldReader &reader, ModelConfig &config) {
  config.vocabSize = reader.requiredPositive("vocab_size");
  config.hiddenSize = reader.requiredPositive("hidden_size");
  config.intermediateSize = reader.requiredPositive("intermediate_size");
  config.numLayers = reader.requiredPositive("num_hidden_layers");
  config.numHeads = reader.requiredPositive("num_attention_heads");
  config.numKeyValueHeads =
      reader.optionalPositive("num_key_value_heads", config.numHeads);
  config.maxPositions = reader.requiredPositive("max_position_embeddings");
  if (reader.has("head_dim"))
    config.headDim = reader.optionalPositive("head_dim", 0);
  readActivation(reader, "hidden_act", "silu", config);
  config.normEpsilon = reader.optionalPositiveFloat("rms_norm_eps", 1e-6);
  config.initializerRange =
      reader.optionalPositiveFloat("initializer_range", 0.02);
  config.ropeTheta = reader.optionalPositiveFloat("rope_theta", 10000.0);
  config.attentionBias = reader.optionalBool("attention_bias", false);
  config.mlpBias = reader.optionalBool("mlp_bias", false);
  config.attentionDropout =
      reader.optionalProbability("attention_dropout", 0.0);
  config.tieWordEmbeddings = reader.optionalBool("tie_word_embeddings", false);
  if (reader.has("rope_scaling"))
    reader.invalid("rope_scaling", "RoPE scaling is not supported; remove it "
                                   "or set it to null");
}

/// Checks across fields, once every field has been read without error.
void validateHeads(FieldReader &reader, ModelConfig &config,
                   StringRef headsKey) {
  if (reader.failed())
    return;
  if (config.headDim == 0) {
    if (config.hiddenSize % config.numHeads != 0) {
      reader.invalid(headsKey,
                     formatv("{0} heads do not divide the hidden size {1}",
                             config.numHeads, config.hiddenSize));
      return;
    }
    config.headDim = config.hiddenSize / config.numHeads;
  }
  if (config.numHeads % config.numKeyValueHeads != 0)
    reader.invalid("num_key_value_heads",
                   formatv("{0} key/value heads do not divide the {1} "
                           "attention heads",
                           config.numKeyValueHeads, config.numHeads));
  else if (config.family == ModelFamily::Llama && config.headDim % 2 != 0)
    reader.invalid("head_dim", formatv("RoPE needs an even head size, got {0}",
                                       config.headDim));
}

} // namespace

Expected<ModelConfig> parseModelConfig(StringRef text, StringRef source) {
  Expected<json::Value> parsed = json::parse(text);
  if (!parsed)
    return createStringError(inconvertibleErrorCode(),
                             formatv("{0}: invalid JSON: {1}", source,
                                     toString(parsed.takeError())));
  const json::Object *object = parsed->getAsObject();
  if (!object)
    return createStringError(inconvertibleErrorCode(),
                             formatv("{0}: expected a JSON object", source));

  FieldReader reader(*object, source);
  ModelConfig config;
  if (!reader.has("model_type")) {
    reader.invalid("model_type", "is missing (expected gpt2, opt or llama)");
    return reader.takeError();
  }
  config.modelType = reader.optionalString("model_type", "");
  if (reader.failed())
    return reader.takeError();

  if (config.modelType == "gpt2") {
    config.family = ModelFamily::GPT2;
    readGPT2(reader, config);
    validateHeads(reader, config, "n_head");
  } else if (config.modelType == "opt") {
    config.family = ModelFamily::OPT;
    readOPT(reader, config);
    validateHeads(reader, config, "num_attention_heads");
  } else if (config.modelType == "llama") {
    config.family = ModelFamily::Llama;
    readLlama(reader, config);
    validateHeads(reader, config, "num_attention_heads");
  } else {
    reader.invalid("model_type",
                   formatv("unknown model type '{0}' (expected gpt2, opt or "
                           "llama)",
                           config.modelType));
  }
  if (reader.failed())
    return reader.takeError();
  return config;
}

Expected<ModelConfig> loadModelConfig(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return createStringError(
        buffer.getError(),
        formatv("{0}: cannot read: {1}", path, buffer.getError().message()));
  return parseModelConfig((*buffer)->getBuffer(), path);
}

} // namespace slapo::import
