//===- ImporterTest.cpp - imported models against hand-counted shapes ----===//

#include "slapo/Import/Importer.h"
#include "graph/GraphDialect.h"
#include "graph/GraphUtils.h"

#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"

#include <map>
#include <string>
#include <vector>

using namespace slapo;

namespace {

struct Imported {
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  graph::ModelOp model;
  std::map<std::string, std::vector<int64_t>> params; // path -> shape
  std::vector<std::string> tied;                      // param_ref targets
};

std::unique_ptr<Imported> importJson(const std::string &json) {
  auto result = std::make_unique<Imported>();
  llvm::Expected<import::ModelConfig> config =
      import::parseModelConfig(json, "test.json");
  EXPECT_TRUE(bool(config)) << llvm::toString(config.takeError());
  if (!config)
    return nullptr;
  result->module = import::importModel(result->context, *config);
  EXPECT_TRUE(result->module);
  if (!result->module)
    return nullptr;
  result->model = *result->module->getOps<graph::ModelOp>().begin();
  result->model.walk([&](graph::ParamOp param) {
    auto shape = param.getType().getShape();
    result->params[graph::getPath(param)] = {shape.begin(), shape.end()};
  });
  result->model.walk([&](graph::ParamRefOp ref) {
    result->tied.push_back(ref.getTarget().str());
  });
  return result;
}

int64_t total(const std::map<std::string, std::vector<int64_t>> &params) {
  int64_t sum = 0;
  for (const auto &[name, shape] : params) {
    int64_t count = 1;
    for (int64_t dim : shape)
      count *= dim;
    sum += count;
  }
  return sum;
}

TEST(Importer, GPT2ShapesAndTying) {
  auto m = importJson(R"({"model_type": "gpt2", "vocab_size": 100,
    "n_positions": 32, "n_embd": 48, "n_layer": 3, "n_head": 4})");
  ASSERT_TRUE(m);
  // Conv1D weights are [in, out].
  EXPECT_EQ(m->params["transformer.h.2.attn.c_attn.weight"],
            (std::vector<int64_t>{48, 144}));
  EXPECT_EQ(m->params["transformer.h.0.mlp.c_fc.weight"],
            (std::vector<int64_t>{48, 192}));
  EXPECT_EQ(m->params["transformer.h.0.mlp.c_proj.weight"],
            (std::vector<int64_t>{192, 48}));
  EXPECT_EQ(m->params["transformer.wpe.weight"],
            (std::vector<int64_t>{32, 48}));
  EXPECT_EQ(m->params.count("lm_head.weight"), 0u);
  EXPECT_EQ(m->tied, std::vector<std::string>{"transformer.wte.weight"});
  int64_t d = 48, layers = 3;
  int64_t perLayer = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) +
                     (d * 4 * d + 4 * d) + (4 * d * d + d);
  int64_t expected = 100 * d + 32 * d + layers * perLayer + 2 * d;
  EXPECT_EQ(total(m->params), expected);
  EXPECT_EQ(graph::countParameters(m->model), expected);
  EXPECT_EQ(graph::countTrainableParameters(m->model), expected);
}

TEST(Importer, OPTPositionsOffsetAndProjections) {
  auto m = importJson(R"({"model_type": "opt", "vocab_size": 64,
    "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4,
    "ffn_dim": 64, "max_position_embeddings": 16, "word_embed_proj_dim": 16})");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params["model.decoder.embed_positions.weight"],
            (std::vector<int64_t>{18, 32}));
  EXPECT_EQ(m->params["model.decoder.embed_tokens.weight"],
            (std::vector<int64_t>{64, 16}));
  EXPECT_EQ(m->params["model.decoder.project_in.weight"],
            (std::vector<int64_t>{32, 16}));
  EXPECT_EQ(m->params["model.decoder.project_out.weight"],
            (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(m->params["model.decoder.layers.0.fc1.weight"],
            (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(m->params.count("model.decoder.project_in.bias"), 0u);
  EXPECT_EQ(m->tied,
            std::vector<std::string>{"model.decoder.embed_tokens.weight"});
}

TEST(Importer, LlamaGroupedQueryAttentionShapes) {
  auto m = importJson(R"({"model_type": "llama", "vocab_size": 64,
    "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 8, "num_key_value_heads": 2,
    "max_position_embeddings": 16})");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params["model.layers.1.self_attn.k_proj.weight"],
            (std::vector<int64_t>{16, 64}));
  EXPECT_EQ(m->params["model.layers.1.self_attn.q_proj.weight"],
            (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(m->params["model.layers.0.mlp.gate_proj.weight"],
            (std::vector<int64_t>{96, 64}));
  EXPECT_EQ(m->params["lm_head.weight"], (std::vector<int64_t>{64, 64}));
  EXPECT_TRUE(m->tied.empty());
  int64_t d = 64, kv = 16, inner = 96;
  int64_t perLayer = 2 * d * d + 2 * d * kv + 3 * d * inner + 2 * d;
  EXPECT_EQ(total(m->params), 2 * 64 * d + 2 * perLayer + d);
}

TEST(Importer, LlamaExplicitHeadDim) {
  // 4 heads of 24 and 2 key/value heads: projections of 96 and 48, not 64.
  auto m = importJson(R"({"model_type": "llama", "vocab_size": 64,
    "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 24,
    "max_position_embeddings": 16})");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params["model.layers.0.self_attn.q_proj.weight"],
            (std::vector<int64_t>{96, 64}));
  EXPECT_EQ(m->params["model.layers.0.self_attn.k_proj.weight"],
            (std::vector<int64_t>{48, 64}));
  EXPECT_EQ(m->params["model.layers.0.self_attn.v_proj.weight"],
            (std::vector<int64_t>{48, 64}));
  EXPECT_EQ(m->params["model.layers.0.self_attn.o_proj.weight"],
            (std::vector<int64_t>{64, 96}));
  int64_t ropes = 0;
  m->model.walk([&](graph::RopeOp rope) {
    ++ropes;
    EXPECT_EQ(rope.getType().getDimSize(3), 24);
  });
  EXPECT_EQ(ropes, 2);
}

TEST(Importer, LlamaRopeScalingAndSpecialTokens) {
  auto m = importJson(R"({"model_type": "llama", "vocab_size": 64,
    "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1,
    "num_attention_heads": 4, "max_position_embeddings": 128,
    "rope_scaling": {"rope_type": "llama3", "factor": 8,
      "low_freq_factor": 1, "high_freq_factor": 4,
      "original_max_position_embeddings": 64},
    "bos_token_id": 0, "eos_token_id": [1, 2]})");
  ASSERT_TRUE(m);
  m->model.walk([&](graph::RopeOp rope) {
    ASSERT_TRUE(rope.getScalingAttr());
    EXPECT_EQ(rope.getScalingAttr().getValue(), "llama3");
    EXPECT_EQ(rope.getFactorAttr().getValueAsDouble(), 8.0);
    EXPECT_EQ(rope.getLowFreqFactorAttr().getValueAsDouble(), 1.0);
    EXPECT_EQ(rope.getHighFreqFactorAttr().getValueAsDouble(), 4.0);
    EXPECT_EQ(rope.getOriginalMaxPositionsAttr().getInt(), 64);
  });
  mlir::DictionaryAttr config = m->model.getConfigAttr();
  ASSERT_TRUE(config);
  EXPECT_EQ(config.getAs<mlir::IntegerAttr>("bos_token_id").getInt(), 0);
  auto eos = config.getAs<mlir::DenseI64ArrayAttr>("eos_token_ids");
  ASSERT_TRUE(eos);
  EXPECT_EQ(eos.asArrayRef().vec(), (std::vector<int64_t>{1, 2}));
}

} // namespace
