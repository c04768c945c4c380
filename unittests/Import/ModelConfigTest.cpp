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
  EXPECT_EQ(errorOf(base + "2, \"rope_scaling\": {\"type\": \"linear\"}}"),
            "cfg.json: field 'rope_scaling': RoPE scaling is not supported; "
            "remove it or set it to null");
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
