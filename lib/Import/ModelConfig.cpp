//===- ModelConfig.cpp - Hugging Face config.json, validated -------------===//

#include "slapo/Import/ModelConfig.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <optional>
#include <vector>

using namespace llvm;

namespace slapo::import {

StringRef ropeScalingName(RopeScalingType type) {
  switch (type) {
  case RopeScalingType::Default:
    return "default";
  case RopeScalingType::Linear:
    return "linear";
  case RopeScalingType::Llama3:
    return "llama3";
  }
  llvm_unreachable("unknown RoPE scaling");
}

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
/// later read returns its default, so callers check `error()` once. A reader
/// of a nested object (see `optionalObject`) names its fields `outer.inner`
/// and reports to the reader of the file.
class FieldReader {
public:
  FieldReader(const json::Object &object, StringRef source)
      : object(object), source(source) {}
  FieldReader(const json::Object &object, FieldReader &outer, StringRef key)
      : object(object), source(outer.source), outer(&outer),
        prefix((outer.prefix + key + ".").str()) {}

  int64_t requiredInt(StringRef key) { return readInt(key, std::nullopt); }
  int64_t optionalInt(StringRef key, int64_t fallback) {
    return readInt(key, fallback);
  }

  double requiredFloat(StringRef key) { return readFloat(key, std::nullopt); }
  double optionalFloat(StringRef key, double fallback) {
    return readFloat(key, fallback);
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
  double requiredPositiveFloat(StringRef key) {
    return positiveFloat(key, requiredFloat(key));
  }
  double optionalPositiveFloat(StringRef key, double fallback) {
    return positiveFloat(key, optionalFloat(key, fallback));
  }
  double optionalProbability(StringRef key, double fallback) {
    double value = optionalFloat(key, fallback);
    if (!(value >= 0.0 && value < 1.0))
      invalid(key, "must be a probability in [0, 1), got " + written(key));
    return value;
  }

  /// An integer or a list of integers, as a list; empty when absent.
  std::vector<int64_t> optionalIntList(StringRef key) {
    const json::Value *value = lookup(key);
    if (!value)
      return {};
    if (std::optional<int64_t> number = value->getAsInteger())
      return {*number};
    std::vector<int64_t> numbers;
    if (const json::Array *array = value->getAsArray()) {
      for (const json::Value &element : *array) {
        std::optional<int64_t> number = element.getAsInteger();
        if (!number)
          break;
        numbers.push_back(*number);
      }
      if (numbers.size() == array->size())
        return numbers;
    }
    fail(key, "expected an integer or a list of integers", *value);
    return {};
  }

  /// A reader of the JSON object at `key`, or nothing when the key is absent
  /// or null (or not an object, which is recorded).
  std::optional<FieldReader> optionalObject(StringRef key) {
    const json::Value *value = lookup(key);
    if (!value)
      return std::nullopt;
    if (const json::Object *nested = value->getAsObject())
      return FieldReader(*nested, *this, key);
    fail(key, "expected an object", *value);
    return std::nullopt;
  }

  /// True when the key is present with a value other than null.
  bool has(StringRef key) { return lookup(key) != nullptr; }
  /// True when the key is present with the value null.
  bool isNull(StringRef key) {
    const json::Value *value = object.get(key);
    return value && value->kind() == json::Value::Null;
  }
  /// True when the object holds no keys but (some of) `keys`.
  bool hasOnly(ArrayRef<StringRef> keys) const {
    return llvm::all_of(object, [&](const json::Object::value_type &entry) {
      return llvm::is_contained(keys, StringRef(entry.first));
    });
  }

  /// Records a problem with a field's value.
  void invalid(StringRef key, const Twine &message) {
    if (outer)
      return outer->invalid((prefix + key).str(), message);
    if (firstError.empty())
      firstError = formatv("{0}: field '{1}': {2}", source, key, message.str());
  }

  bool failed() const { return outer ? outer->failed() : !firstError.empty(); }
  Error takeError() {
    return createStringError(inconvertibleErrorCode(), firstError);
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

  double positiveFloat(StringRef key, double value) {
    if (!(value > 0.0) && !failed())
      invalid(key, "must be positive, got " + written(key));
    return value;
  }

  double readFloat(StringRef key, std::optional<double> fallback) {
    const json::Value *value = lookup(key);
    if (!value) {
      if (!fallback)
        invalid(key, "is missing (expected a number)");
      return fallback.value_or(0.0);
    }
    if (std::optional<double> number = value->getAsNumber())
      return *number;
    fail(key, "expected a number", *value);
    return fallback.value_or(0.0);
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

  void fail(StringRef key, StringRef expected, const json::Value &) {
    invalid(key, formatv("{0}, got {1}", expected, written(key)));
  }

  const json::Object &object;
  std::string source;
  FieldReader *outer = nullptr; // the reader this nested object is read by
  std::string prefix;           // "key." of the nested object, or ""
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

/// `bos_token_id` (an integer) and `eos_token_id` (an integer or a list), each
/// a token of the vocabulary. Absent, they take the family's Hugging Face
/// default where that is a token of the vocabulary; null means none.
void readSpecialTokens(FieldReader &reader, ModelConfig &config,
                       int64_t defaultBos, int64_t defaultEos) {
  auto read = [&](StringRef key, bool list,
                  int64_t fallback) -> std::vector<int64_t> {
    if (reader.isNull(key))
      return {};
    if (!reader.has(key))
      return fallback < config.vocabSize ? std::vector<int64_t>{fallback}
                                         : std::vector<int64_t>{};
    std::vector<int64_t> ids;
    if (list)
      ids = reader.optionalIntList(key);
    else
      ids.push_back(reader.optionalInt(key, 0));
    for (int64_t id : ids)
      if (!reader.failed() && (id < 0 || id >= config.vocabSize))
        reader.invalid(key, formatv("token id {0} is not in the vocabulary "
                                    "(0 to {1})",
                                    id, config.vocabSize - 1));
    return ids;
  };
  std::vector<int64_t> bos = read("bos_token_id", /*list=*/false, defaultBos);
  if (!bos.empty())
    config.bosTokenId = bos.front();
  config.eosTokenIds = read("eos_token_id", /*list=*/true, defaultEos);
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
  readSpecialTokens(reader, config, /*defaultBos=*/50256,
                    /*defaultEos=*/50256);
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
  readSpecialTokens(reader, config, /*defaultBos=*/2, /*defaultEos=*/2);
}

/// `rope_scaling` as transformers' modeling_rope_utils reads and validates
/// it (`rope_type`, or the legacy `type`), refusing what it only warns
/// about. transformers 5 writes the same object as `rope_parameters`;
/// `rope_scaling` wins where both are given, and a `rope_theta` inside
/// either wins over the top-level one, as there.
void readRopeScaling(FieldReader &reader, ModelConfig &config) {
  StringRef key =
      reader.has("rope_scaling") ? "rope_scaling" : "rope_parameters";
  std::optional<FieldReader> scaling = reader.optionalObject(key);
  if (!scaling)
    return;
  config.ropeTheta =
      scaling->optionalPositiveFloat("rope_theta", config.ropeTheta);
  StringRef typeKey = scaling->has("rope_type") ? "rope_type" : "type";
  if (!scaling->has(typeKey)) {
    // Without a type transformers uses the default, ignoring (with a
    // warning) any scaling fields: refuse those.
    if (!scaling->hasOnly({"rope_theta"}))
      scaling->invalid("rope_type", "is missing (expected default, linear or "
                                    "llama3)");
    return;
  }
  std::string name = scaling->optionalString(typeKey, "");
  std::optional<RopeScalingType> type =
      StringSwitch<std::optional<RopeScalingType>>(name)
          .Case("default", RopeScalingType::Default)
          .Case("linear", RopeScalingType::Linear)
          .Case("llama3", RopeScalingType::Llama3)
          .Default(std::nullopt);
  if (reader.failed())
    return;
  if (!type) {
    scaling->invalid(typeKey, formatv("unknown RoPE scaling '{0}' (expected "
                                      "default, linear or llama3)",
                                      name));
    return;
  }
  RopeScaling &rope = config.ropeScaling;
  rope.type = *type;
  if (rope.type == RopeScalingType::Default)
    return;
  rope.factor = scaling->requiredFloat("factor");
  if (!reader.failed() && !(rope.factor >= 1.0))
    scaling->invalid("factor",
                     "must be at least 1, got " + scaling->written("factor"));
  if (rope.type != RopeScalingType::Llama3)
    return;
  rope.lowFreqFactor = scaling->requiredPositiveFloat("low_freq_factor");
  rope.highFreqFactor = scaling->requiredPositiveFloat("high_freq_factor");
  if (!reader.failed() && !(rope.lowFreqFactor < rope.highFreqFactor))
    scaling->invalid("high_freq_factor",
                     formatv("must be greater than low_freq_factor ({0}), "
                             "got {1}",
                             scaling->written("low_freq_factor"),
                             scaling->written("high_freq_factor")));
  rope.originalMaxPositions =
      scaling->requiredPositive("original_max_position_embeddings");
  if (!reader.failed() && rope.originalMaxPositions >= config.maxPositions)
    scaling->invalid("original_max_position_embeddings",
                     formatv("must be less than max_position_embeddings "
                             "({0}), got {1}",
                             config.maxPositions, rope.originalMaxPositions));
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
  readRopeScaling(reader, config);
  readSpecialTokens(reader, config, /*defaultBos=*/1, /*defaultEos=*/2);
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
