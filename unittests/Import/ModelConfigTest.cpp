//===- ModelConfigTest.cpp - config.json reading and validation ----------===//

#include "slapo/Import/ModelConfig.h"

#include "gtest/gtest.h"

#include <string>

using namespace slapo::import;

namespace {

constexpr const char *kGPT2 = R"({"model_type": "gpt2", "vocab_size": 100,
  "n_positions": 32, "n_embd": 48, "n_layer": 2, "n_head": 4})";

/// The error message parseModelConfig gives for `json`, or "" on success.
std::string errorOf(const std::string &json) {
  llvm::Expected<ModelConfig> config = parseModelConfig(json, "cfg.json");
  if (config)
    return "";
  return llvm::toString(config.takeError());
}

/// kGPT2 with one field replaced (or added) by `field: value`.
std::string gpt2With(const std::string &field, const std::string &value) {
  std::string json = kGPT2;
  std::string key = "\"" + field + "\"";
  size_t at = json.find(key);
  if (at == std::string::npos)
    return json.substr(0, json.size() - 1) + ", " + key + ": " + value + "}";
  size_t end = json.find_first_of(",}", at);
  return json.substr(0, at) + key + ": " + value + json.substr(end);
}

TEST(ModelConfig, GPT2DefaultsFollowHuggingFace) {
  llvm::Expected<ModelConfig> config = parseModelConfig(kGPT2, "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->family, ModelFamily::GPT2);
  EXPECT_EQ(config->intermediateSize, 4 * 48);
  EXPECT_EQ(config->headDim, 12);
  EXPECT_EQ(config->activation, Activation::GeluTanh);
  EXPECT_DOUBLE_EQ(config->residualDropout, 0.1);
  EXPECT_DOUBLE_EQ(config->embeddingDropout, 0.1);
  EXPECT_DOUBLE_EQ(config->attentionDropout, 0.1);
  EXPECT_DOUBLE_EQ(config->normEpsilon, 1e-5);
  EXPECT_TRUE(config->tieWordEmbeddings);
}

TEST(ModelConfig, NullMeansDefault) {
  llvm::Expected<ModelConfig> config =
      parseModelConfig(gpt2With("n_inner", "null"), "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->intermediateSize, 4 * 48);
}

TEST(ModelConfig, MissingFieldIsNamed) {
  std::string json = R"({"model_type": "gpt2", "vocab_size": 100,
    "n_positions": 32, "n_embd": 48, "n_layer": 2})";
  EXPECT_EQ(errorOf(json),
            "cfg.json: field 'n_head': is missing (expected an integer)");
}

TEST(ModelConfig, MissingModelType) {
  EXPECT_EQ(errorOf(R"({"vocab_size": 3})"),
            "cfg.json: field 'model_type': is missing (expected gpt2, opt or "
            "llama)");
}

TEST(ModelConfig, WrongTypesAreNamed) {
  EXPECT_EQ(errorOf(gpt2With("n_embd", "\"48\"")),
            "cfg.json: field 'n_embd': expected an integer, got \"48\"");
  EXPECT_EQ(errorOf(gpt2With("n_layer", "2.5")),
            "cfg.json: field 'n_layer': expected an integer, got 2.5");
  EXPECT_EQ(errorOf(gpt2With("resid_pdrop", "true")),
            "cfg.json: field 'resid_pdrop': expected a number, got true");
  EXPECT_EQ(
      errorOf(gpt2With("scale_attn_weights", "1")),
      "cfg.json: field 'scale_attn_weights': expected true or false, got 1");
  EXPECT_EQ(errorOf(gpt2With("model_type", "7")),
            "cfg.json: field 'model_type': expected a string, got 7");
}

TEST(ModelConfig, UnknownModelType) {
  EXPECT_EQ(errorOf(gpt2With("model_type", "\"bert\"")),
            "cfg.json: field 'model_type': unknown model type 'bert' (expected "
            "gpt2, opt or llama)");
}

TEST(ModelConfig, HeadsMustDivideHidden) {
  EXPECT_EQ(
      errorOf(gpt2With("n_head", "5")),
      "cfg.json: field 'n_head': 5 heads do not divide the hidden size 48");
}

TEST(ModelConfig, RangesAreChecked) {
  EXPECT_EQ(errorOf(gpt2With("n_layer", "0")),
            "cfg.json: field 'n_layer': must be a positive integer, got 0");
  EXPECT_EQ(errorOf(gpt2With("attn_pdrop", "1.5")),
            "cfg.json: field 'attn_pdrop': must be a probability in [0, 1), "
            "got 1.5");
  EXPECT_EQ(errorOf(gpt2With("layer_norm_epsilon", "0")),
            "cfg.json: field 'layer_norm_epsilon': must be positive, got 0");
  EXPECT_EQ(errorOf(gpt2With("activation_function", "\"tanh\"")),
            "cfg.json: field 'activation_function': unknown activation 'tanh' "
            "(expected relu, gelu, gelu_new, gelu_pytorch_tanh or silu)");
}

// A size past the bounds is refused and read as the bound, so that the
// sizes derived from it meanwhile (n_inner's default, 4 * n_embd) do not
// overflow (found by fuzz/ConfigFuzzer.cpp under UBSan).
TEST(ModelConfig, SizesPastTheBoundsAreRefusedBeforeTheyAreUsed) {
  EXPECT_EQ(errorOf(gpt2With("n_embd", "2347483642147483648")),
            "cfg.json: field 'n_embd': must be at most 2^31-1 (2147483647), "
            "got 2347483642147483648");
  EXPECT_EQ(errorOf(gpt2With("n_embd", "-2347483642147483648")),
            "cfg.json: field 'n_embd': must be at least -(2^31-1) "
            "(-2147483647), got -2347483642147483648");
}

TEST(ModelConfig, InvalidJsonIsReported) {
  std::string error = errorOf("{\"model_type\": ");
  EXPECT_EQ(error.rfind("cfg.json: invalid JSON: ", 0), 0u) << error;
  EXPECT_EQ(errorOf("[1, 2]"), "cfg.json: expected a JSON object");
}

TEST(ModelConfig, LlamaGroupedQueryAttention) {
  std::string base = R"({"model_type": "llama", "vocab_size": 64,
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
    "num_attention_heads": 8, "max_position_embeddings": 16,
    "num_key_value_heads": )";
  llvm::Expected<ModelConfig> config =
      parseModelConfig(base + "2}", "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->numKeyValueHeads, 2);
  EXPECT_EQ(config->headDim, 8);
  EXPECT_EQ(config->activation, Activation::Silu);
  EXPECT_FALSE(config->tieWordEmbeddings);
  EXPECT_EQ(errorOf(base + "3}"),
            "cfg.json: field 'num_key_value_heads': 3 key/value heads do not "
            "divide the 8 attention heads");
}

constexpr const char *kLlama = R"({"model_type": "llama", "vocab_size": 64,
  "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
  "num_attention_heads": 4, "max_position_embeddings": 128})";

/// kLlama with `fields` (`"key": value, ...`) added.
std::string llamaWith(const std::string &fields) {
  std::string json = kLlama;
  return json.substr(0, json.size() - 1) + ", " + fields + "}";
}

std::string llama3With(const std::string &fields) {
  return llamaWith(R"("rope_scaling": {"rope_type": "llama3", )" + fields +
                   "}");
}

constexpr const char *kLlama3Fields =
    R"("factor": 8.0, "low_freq_factor": 1, "high_freq_factor": 4.0,
       "original_max_position_embeddings": 64)";

TEST(ModelConfig, RopeScalingLlama3) {
  llvm::Expected<ModelConfig> config =
      parseModelConfig(llama3With(kLlama3Fields), "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->ropeScaling.type, RopeScalingType::Llama3);
  EXPECT_DOUBLE_EQ(config->ropeScaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(config->ropeScaling.lowFreqFactor, 1.0);
  EXPECT_DOUBLE_EQ(config->ropeScaling.highFreqFactor, 4.0);
  EXPECT_EQ(config->ropeScaling.originalMaxPositions, 64);
}

TEST(ModelConfig, RopeScalingLinearAndLegacyTypeKey) {
  for (const char *type : {"rope_type", "type"}) {
    llvm::Expected<ModelConfig> config =
        parseModelConfig(llamaWith(std::string(R"("rope_scaling": {")") + type +
                                   R"(": "linear", "factor": 4})"),
                         "cfg.json");
    ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
    EXPECT_EQ(config->ropeScaling.type, RopeScalingType::Linear);
    EXPECT_DOUBLE_EQ(config->ropeScaling.factor, 4.0);
  }
}

TEST(ModelConfig, RopeScalingDefaultMeansNone) {
  for (const char *scaling :
       {R"("rope_scaling": null)", R"("rope_scaling": {})",
        R"("rope_scaling": {"rope_type": "default"})"}) {
    llvm::Expected<ModelConfig> config =
        parseModelConfig(llamaWith(scaling), "cfg.json");
    ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
    EXPECT_EQ(config->ropeScaling.type, RopeScalingType::Default) << scaling;
  }
}

TEST(ModelConfig, RopeParametersOfTransformers5) {
  llvm::Expected<ModelConfig> config = parseModelConfig(
      llamaWith(R"("rope_parameters": {"rope_type": "linear", "factor": 2,
                   "rope_theta": 500000.0})"),
      "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->ropeScaling.type, RopeScalingType::Linear);
  EXPECT_DOUBLE_EQ(config->ropeTheta, 500000.0);
  config = parseModelConfig(
      llamaWith(R"("rope_parameters": {"rope_theta": 20000.0})"), "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->ropeScaling.type, RopeScalingType::Default);
  EXPECT_DOUBLE_EQ(config->ropeTheta, 20000.0);
  EXPECT_EQ(errorOf(llamaWith(R"("rope_parameters": {"rope_type": "yarn"})")),
            "cfg.json: field 'rope_parameters.rope_type': unknown RoPE scaling "
            "'yarn' (expected default, linear or llama3)");
}

TEST(ModelConfig, RopeScalingRefusals) {
  EXPECT_EQ(errorOf(llamaWith(R"("rope_scaling": {"rope_type": "yarn",
                                 "factor": 4.0})")),
            "cfg.json: field 'rope_scaling.rope_type': unknown RoPE scaling "
            "'yarn' (expected default, linear or llama3)");
  EXPECT_EQ(errorOf(llamaWith(R"("rope_scaling": {"type": "dynamic"})")),
            "cfg.json: field 'rope_scaling.type': unknown RoPE scaling "
            "'dynamic' (expected default, linear or llama3)");
  EXPECT_EQ(errorOf(llamaWith(R"("rope_scaling": {"factor": 4.0})")),
            "cfg.json: field 'rope_scaling.rope_type': is missing (expected "
            "default, linear or llama3)");
  EXPECT_EQ(errorOf(llamaWith(R"("rope_scaling": "linear")")),
            "cfg.json: field 'rope_scaling': expected an object, got "
            "\"linear\"");
  EXPECT_EQ(errorOf(llamaWith(R"("rope_scaling": {"type": "linear"})")),
            "cfg.json: field 'rope_scaling.factor': is missing (expected a "
            "number)");
  EXPECT_EQ(errorOf(llamaWith(R"("rope_scaling": {"rope_type": "linear",
                                 "factor": 0.5})")),
            "cfg.json: field 'rope_scaling.factor': must be at least 1, got "
            "0.5");
  EXPECT_EQ(errorOf(llama3With(R"("low_freq_factor": 1, "high_freq_factor": 4,
                                  "original_max_position_embeddings": 64)")),
            "cfg.json: field 'rope_scaling.factor': is missing (expected a "
            "number)");
  EXPECT_EQ(errorOf(llama3With(R"("factor": 8, "high_freq_factor": 4,
                                  "original_max_position_embeddings": 64)")),
            "cfg.json: field 'rope_scaling.low_freq_factor': is missing "
            "(expected a number)");
  EXPECT_EQ(errorOf(llama3With(R"("factor": 8, "low_freq_factor": 0,
                                  "high_freq_factor": 4,
                                  "original_max_position_embeddings": 64)")),
            "cfg.json: field 'rope_scaling.low_freq_factor': must be "
            "positive, got 0");
  EXPECT_EQ(errorOf(llama3With(R"("factor": 8, "low_freq_factor": 4,
                                  "high_freq_factor": 4,
                                  "original_max_position_embeddings": 64)")),
            "cfg.json: field 'rope_scaling.high_freq_factor': must be greater "
            "than low_freq_factor (4), got 4");
  EXPECT_EQ(errorOf(llama3With(R"("factor": 8, "low_freq_factor": 1,
                                  "high_freq_factor": 4)")),
            "cfg.json: field 'rope_scaling.original_max_position_embeddings': "
            "is missing (expected an integer)");
  EXPECT_EQ(errorOf(llama3With(R"("factor": 8, "low_freq_factor": 1,
                                  "high_freq_factor": 4,
                                  "original_max_position_embeddings": 128)")),
            "cfg.json: field 'rope_scaling.original_max_position_embeddings': "
            "must be less than max_position_embeddings (128), got 128");
}

TEST(ModelConfig, ExplicitHeadDim) {
  // head_dim * heads (96) need not be the hidden size, nor divide it.
  llvm::Expected<ModelConfig> config =
      parseModelConfig(llamaWith(R"("head_dim": 24)"), "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->headDim, 24);
  EXPECT_EQ(errorOf(llamaWith(R"("head_dim": 0)")),
            "cfg.json: field 'head_dim': must be a positive integer, got 0");
}

TEST(ModelConfig, SpecialTokens) {
  llvm::Expected<ModelConfig> config = parseModelConfig(
      llamaWith(R"("bos_token_id": 0, "eos_token_id": [61, 62, 63])"),
      "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->bosTokenId, 0);
  EXPECT_EQ(config->eosTokenIds, (std::vector<int64_t>{61, 62, 63}));

  config = parseModelConfig(llamaWith(R"("eos_token_id": 5)"), "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->eosTokenIds, std::vector<int64_t>{5});

  // Absent: Hugging Face's defaults (LLaMA: 1 and 2); null: none.
  config = parseModelConfig(kLlama, "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->bosTokenId, 1);
  EXPECT_EQ(config->eosTokenIds, std::vector<int64_t>{2});
  config = parseModelConfig(
      llamaWith(R"("bos_token_id": null, "eos_token_id": null)"), "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_FALSE(config->bosTokenId);
  EXPECT_TRUE(config->eosTokenIds.empty());

  // GPT-2's default 50256 is a token of its real vocabulary only.
  config = parseModelConfig(kGPT2, "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_FALSE(config->bosTokenId);
  EXPECT_TRUE(config->eosTokenIds.empty());
  config = parseModelConfig(gpt2With("vocab_size", "50257"), "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->bosTokenId, 50256);
  EXPECT_EQ(config->eosTokenIds, std::vector<int64_t>{50256});
}

TEST(ModelConfig, BadSpecialTokens) {
  EXPECT_EQ(errorOf(llamaWith(R"("eos_token_id": 64)")),
            "cfg.json: field 'eos_token_id': token id 64 is not in the "
            "vocabulary (0 to 63)");
  EXPECT_EQ(errorOf(llamaWith(R"("eos_token_id": [2, -1])")),
            "cfg.json: field 'eos_token_id': token id -1 is not in the "
            "vocabulary (0 to 63)");
  EXPECT_EQ(errorOf(llamaWith(R"("eos_token_id": [2, "3"])")),
            "cfg.json: field 'eos_token_id': expected an integer or a list of "
            "integers, got [2,\"3\"]");
  EXPECT_EQ(errorOf(llamaWith(R"("eos_token_id": 2.5)")),
            "cfg.json: field 'eos_token_id': expected an integer or a list of "
            "integers, got 2.5");
  // transformers takes a list for eos_token_id only.
  EXPECT_EQ(errorOf(llamaWith(R"("bos_token_id": [1, 2])")),
            "cfg.json: field 'bos_token_id': expected an integer, got [1,2]");
  EXPECT_EQ(errorOf(gpt2With("bos_token_id", "100")),
            "cfg.json: field 'bos_token_id': token id 100 is not in the "
            "vocabulary (0 to 99)");
}

TEST(ModelConfig, OptProjectionAndLayerNormSwitch) {
  std::string json = R"({"model_type": "opt", "vocab_size": 64,
    "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4,
    "ffn_dim": 64, "max_position_embeddings": 16, "word_embed_proj_dim": 16,
    "do_layer_norm_before": false})";
  llvm::Expected<ModelConfig> config = parseModelConfig(json, "cfg.json");
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  EXPECT_EQ(config->wordEmbedProjDim, 16);
  EXPECT_FALSE(config->doLayerNormBefore);
  EXPECT_EQ(config->activation, Activation::Relu);
  EXPECT_DOUBLE_EQ(config->residualDropout, 0.1);
}

TEST(ModelConfig, UnreadableFile) {
  llvm::Expected<ModelConfig> config = loadModelConfig("/nonexistent/cfg.json");
  ASSERT_FALSE(bool(config));
  std::string error = llvm::toString(config.takeError());
  EXPECT_EQ(error.rfind("/nonexistent/cfg.json: cannot read: ", 0), 0u)
      << error;
}

} // namespace
