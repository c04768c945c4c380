//===- ModelConfig.cpp - Hugging Face config.json, validated -------------===//

#include "slapo/Import/ModelConfig.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <cstdint>
#include <limits>
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

/// Bounds on what a config.json may ask for, checked before anything is
/// built: deeper JSON would overflow the stack of llvm::json::parse, more
/// layers or parameters would build until memory runs out, and larger sizes
/// overflow the 64-bit products of shapes.
constexpr int kMaxJsonDepth = 256;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxSize = std::numeric_limits<int32_t>::max(); // 2^31-1
constexpr int64_t kMaxParameters = int64_t(1) << 40;

/// The integer a JSON number stands for, when it is written as one: unlike
/// `getAsInteger`, a number with a fraction or an exponent (`1e9`, `12.0`),
/// which llvm::json keeps as a double, is not an integer. A non-negative
/// integer written in digits is kept as an int64 or uint64, which
/// `getAsUINT64` alone accepts; a negative one is taken as written (every
/// integer field refuses negatives by range anyway).
std::optional<int64_t> strictInteger(const json::Value &value) {
  if (std::optional<uint64_t> number = value.getAsUINT64()) {
    if (*number > uint64_t(std::numeric_limits<int64_t>::max()))
      return std::nullopt;
    return int64_t(*number);
  }
  std::optional<int64_t> number = value.getAsInteger();
  if (number && *number < 0)
    return number;
  return std::nullopt;
}

/// The first byte at which `text` nests arrays and objects deeper than
/// `kMaxJsonDepth`, ignoring brackets inside strings; none when it does not.
std::optional<size_t> tooDeep(StringRef text) {
  int depth = 0;
  bool inString = false;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i; // the escaped character, whatever it is
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

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
    if (std::optional<int64_t> number = strictInteger(*value))
      return {bounded(key, *number)};
    std::vector<int64_t> numbers;
    if (const json::Array *array = value->getAsArray()) {
      for (const json::Value &element : *array) {
        std::optional<int64_t> number = strictInteger(element);
        if (!number) {
          if (element.getAsNumber()) {
            invalid(key, formatv("element {0}: expected an integer, got {1}",
                                 numbers.size(), notAnInteger(element)));
            return {};
          }
          break;
        }
        numbers.push_back(*number);
      }
      if (numbers.size() == array->size()) {
        for (int64_t number : numbers)
          bounded(key, number);
        return numbers;
      }
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

  /// Records a problem of the model as a whole, not of one field.
  void invalidModel(const Twine &message) {
    if (outer)
      return outer->invalidModel(message);
    if (firstError.empty())
      firstError = formatv("{0}: {1}", source, message.str());
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

  /// Every integer of a config.json is a size, a count or a token id: none
  /// may exceed 2^31-1 in magnitude, beyond which products of shapes
  /// overflow. A value out of range is refused and read as the nearest
  /// bound, so that the sizes derived from it before the caller sees the
  /// error (a default of 4 * n_embd) cannot overflow either.
  int64_t bounded(StringRef key, int64_t value) {
    if (value > kMaxSize) {
      invalid(key, formatv("must be at most 2^31-1 ({0}), got {1}", kMaxSize,
                           value));
      return kMaxSize;
    }
    if (value < -kMaxSize) {
      invalid(key, formatv("must be at least -(2^31-1) (-{0}), got {1}",
                           kMaxSize, value));
      return -kMaxSize;
    }
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
    if (std::optional<double> number = value->getAsNumber()) {
      // llvm::json reads a number too large for a double (1e999) as inf.
      if (std::isfinite(*number))
        return *number;
      invalid(key, "expected a finite number, got " + written(key) +
                       " (too large for a double)");
      return fallback.value_or(0.0);
    }
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
    if (std::optional<int64_t> number = strictInteger(*value))
      return bounded(key, *number);
    if (value->getAsUINT64()) // digits beyond int64
      invalid(key, formatv("must be at most 2^31-1 ({0}), got {1}", kMaxSize,
                           written(key)));
    else
      invalid(key, "expected an integer, got " + notAnInteger(*value));
    return fallback.value_or(0);
  }

  /// A value that is not an integer, as written, saying why where a number
  /// is printed as digits (`1e9` prints as 1000000000, `12.0` as 12).
  static std::string notAnInteger(const json::Value &value) {
    std::string shown;
    raw_string_ostream os(shown);
    os << value;
    if (shown.size() > 40)
      shown = shown.substr(0, 37) + "...";
    if (value.getAsNumber() &&
        shown.find_first_not_of("-0123456789") == std::string::npos)
      shown += " (written with a fraction or an exponent)";
    return shown;
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

/// The number of layers, at most `kMaxLayers`: each is built as its own
/// modules, so a runaway count would build until memory runs out.
int64_t readLayerCount(FieldReader &reader, StringRef key) {
  int64_t layers = reader.requiredPositive(key);
  if (!reader.failed() && layers > kMaxLayers)
    reader.invalid(key, formatv("{0} layers, more than the limit of {1}",
                                layers, kMaxLayers));
  return layers;
}

void readGPT2(FieldReader &reader, ModelConfig &config) {
  config.vocabSize = reader.requiredPositive("vocab_size");
  config.maxPositions = reader.requiredPositive("n_positions");
  config.hiddenSize = reader.requiredPositive("n_embd");
  config.numLayers = readLayerCount(reader, "n_layer");
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
  config.numLayers = readLayerCount(reader, "num_hidden_layers");
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
  config.numLayers = readLayerCount(reader, "num_hidden_layers");
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

/// A parameter count in int64, with overflow saturating at the largest value
/// (which is over the limit anyway).
class ParameterCount {
public:
  /// Adds `rows` x `cols` parameters, times `times`.
  void add(int64_t rows, int64_t cols = 1, int64_t times = 1) {
    int64_t product;
    if (__builtin_mul_overflow(rows, cols, &product) ||
        __builtin_mul_overflow(product, times, &product) ||
        __builtin_add_overflow(total, product, &total))
      overflowed = true;
  }
  /// Adds `count`, `times` times.
  void add(const ParameterCount &count, int64_t times) {
    if (count.overflowed)
      overflowed = true;
    else
      add(count.total, times);
  }
  bool overflow() const { return overflowed; }
  int64_t value() const { return total; }

private:
  int64_t total = 0;
  bool overflowed = false;
};

/// The parameters the family's graph will hold (tied weights once), as
/// GPT2.cpp, OPT.cpp and Llama.cpp build them.
ParameterCount countParameters(const ModelConfig &c) {
  ParameterCount layer, model;
  int64_t d = c.hiddenSize, inner = c.intermediateSize;
  switch (c.family) {
  case ModelFamily::GPT2:
    model.add(c.vocabSize, d);    // wte
    model.add(c.maxPositions, d); // wpe
    model.add(2, d);              // ln_f
    layer.add(4, d);              // ln_1, ln_2
    layer.add(d, 3, d + 1);       // c_attn
    layer.add(d, d + 1);          // attn.c_proj
    layer.add(inner, d + 1);      // c_fc
    layer.add(d, inner + 1);      // mlp.c_proj
    break;
  case ModelFamily::OPT: {
    int64_t proj = c.wordEmbedProjDim, bias = c.enableBias;
    int64_t norm = c.layerNormElementwiseAffine ? 2 * d : 0;
    model.add(c.vocabSize, proj);     // embed_tokens
    model.add(c.maxPositions + 2, d); // embed_positions
    if (proj != d)
      model.add(2, proj, d); // project_in, project_out
    if (c.doLayerNormBefore && !c.removeFinalLayerNorm)
      model.add(norm); // final_layer_norm
    if (!c.tieWordEmbeddings)
      model.add(c.vocabSize, proj); // lm_head
    layer.add(2, norm);             // the two layer norms
    layer.add(4, d, d + bias);      // q, k, v, out_proj
    layer.add(inner, d + bias);     // fc1
    layer.add(d, inner + bias);     // fc2
    break;
  }
  case ModelFamily::Llama: {
    int64_t q = c.numHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim;
    int64_t attnBias = c.attentionBias, mlpBias = c.mlpBias;
    model.add(c.vocabSize, d); // embed_tokens
    model.add(d);              // norm
    if (!c.tieWordEmbeddings)
      model.add(c.vocabSize, d);      // lm_head
    layer.add(2, d);                  // the two RMS norms
    layer.add(q, d + attnBias);       // q_proj
    layer.add(2, kv, d + attnBias);   // k_proj, v_proj
    layer.add(d, q + attnBias);       // o_proj
    layer.add(2, inner, d + mlpBias); // gate_proj, up_proj
    layer.add(d, inner + mlpBias);    // down_proj
    break;
  }
  }
  model.add(layer, c.numLayers);
  return model;
}

/// Refuses a model of more than `kMaxParameters`, before any graph is built.
void validateParameterCount(FieldReader &reader, ModelConfig &config) {
  if (reader.failed())
    return;
  ParameterCount count = countParameters(config);
  StringRef fields = config.family == ModelFamily::GPT2
                         ? "vocab_size, n_embd, n_inner and n_layer"
                     : config.family == ModelFamily::OPT
                         ? "vocab_size, hidden_size, ffn_dim and "
                           "num_hidden_layers"
                         : "vocab_size, hidden_size, "
                           "intermediate_size and num_hidden_layers";
  if (count.overflow())
    reader.invalidModel(formatv("the model would have more than 2^63 "
                                "parameters, more than the limit of 2^40 "
                                "({0}); check {1}",
                                kMaxParameters, fields));
  else if (count.value() > kMaxParameters)
    reader.invalidModel(formatv("the model would have {0} parameters, more "
                                "than the limit of 2^40 ({1}); check {2}",
                                count.value(), kMaxParameters, fields));
  else
    config.parameterCount = count.value();
}

} // namespace

Expected<ModelConfig> parseModelConfig(StringRef text, StringRef source) {
  if (std::optional<size_t> byte = tooDeep(text))
    return createStringError(inconvertibleErrorCode(),
                             formatv("{0}: invalid JSON: nested deeper than "
                                     "{1} levels at byte {2}",
                                     source, kMaxJsonDepth, *byte));
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
  validateParameterCount(reader, config);
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
