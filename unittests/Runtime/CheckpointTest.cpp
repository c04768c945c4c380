//===- CheckpointTest.cpp - checkpoints as Hugging Face ships them --------===//
//
// The loader against checkpoints written here: 16-bit dtypes, shards with an
// index, names without the base model's prefix, a tied lm_head stored twice,
// and each refusal. And the counter-based initialisation: every tp degree
// draws the one-process model.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Checkpoint.h"
#include "CompiledModel.h"
#include "slapo/Runtime/HalfFloat.h"
#include "slapo/Runtime/Trainer.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace slapo;
using namespace slapo::rt;
namespace fs = std::filesystem;

namespace {

constexpr const char *kTinyGPT2 = R"({"model_type": "gpt2", "vocab_size": 32,
  "n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 2,
  "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0})";

std::unique_ptr<Trainer> tinyTrainer(uint64_t seed,
                                     const std::string &schedule = "") {
  std::vector<uint8_t> bytes =
      test::compileToSplan(kTinyGPT2, 2, 4, "sgd", schedule);
  std::string error;
  std::unique_ptr<Plan> plan =
      loadPlanFromBuffer(bytes.data(), bytes.size(), "tiny", error);
  EXPECT_TRUE(plan) << error;
  if (!plan)
    return nullptr;
  std::unique_ptr<Trainer> trainer = Trainer::create(std::move(plan), error);
  EXPECT_TRUE(trainer) << error;
  if (trainer)
    trainer->initialize(seed);
  return trainer;
}

/// Every parameter of `trainer`, whole, by name.
std::map<std::string, std::vector<float>> weights(const Trainer &trainer) {
  std::map<std::string, std::vector<float>> all;
  for (const ParamInfo &param : trainer.plan().params)
    all[param.name] = trainer.fullParameter(param);
  return all;
}

std::vector<NamedTensor>
named(const Trainer &trainer,
      const std::map<std::string, std::vector<float>> &values,
      const std::string &strip = "") {
  std::vector<NamedTensor> tensors;
  for (const ParamInfo &param : trainer.plan().params) {
    std::string name = param.name;
    if (!strip.empty() && name.rfind(strip, 0) == 0)
      name = name.substr(strip.size());
    tensors.push_back({name, trainer.plan().tensors[param.tensor].shape,
                       values.at(param.name).data()});
  }
  return tensors;
}

class CheckpointFiles : public ::testing::Test {
protected:
  void SetUp() override {
    directory =
        fs::temp_directory_path() /
        ("slapo-checkpoint-test-" + std::to_string(::getpid()) + "-" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(directory);
    fs::create_directories(directory);
  }
  void TearDown() override { fs::remove_all(directory); }
  std::string path(const std::string &name) const {
    return (directory / name).string();
  }
  fs::path directory;
};

TEST_F(CheckpointFiles, ShardedBf16LoadsAsRoundedValues) {
  auto source = tinyTrainer(1);
  ASSERT_TRUE(source);
  std::string error;
  // A 2 KB limit gives one shard per large tensor.
  ASSERT_TRUE(source->saveWeights(path("hf"), error, {WeightDType::BF16, 2000}))
      << error;
  EXPECT_TRUE(fs::exists(path("hf/model.safetensors.index.json")));
  EXPECT_FALSE(fs::exists(path("hf/model.safetensors")));
  // Shards of at most 2000 bytes, but for a tensor larger than that alone.
  std::vector<fs::path> shards;
  for (const auto &entry : fs::directory_iterator(path("hf")))
    if (entry.path().extension() == ".safetensors")
      shards.push_back(entry.path());
  ASSERT_GE(shards.size(), 3u);
  std::sort(shards.begin(), shards.end());
  char last[64];
  std::snprintf(last, sizeof last, "model-%05zu-of-%05zu.safetensors",
                shards.size(), shards.size());
  EXPECT_EQ(shards.back().filename().string(), last);
  for (const fs::path &shard : shards) {
    std::unique_ptr<SafetensorsFile> file =
        SafetensorsFile::open(shard.string(), error);
    ASSERT_TRUE(file) << error;
    uint64_t bytes = 0;
    for (const auto &[name, entry] : file->entries())
      bytes += entry.end - entry.begin;
    EXPECT_TRUE(bytes <= 2000 || file->entries().size() == 1) << shard;
  }

  auto target = tinyTrainer(2);
  Trainer::LoadReport report;
  // The directory and its index file are the same checkpoint.
  for (const std::string &where :
       {path("hf"), path("hf/model.safetensors.index.json")}) {
    ASSERT_TRUE(target->loadWeights(where, error, &report)) << error;
    EXPECT_TRUE(report.unused.empty());
    auto expected = weights(*source), loaded = weights(*target);
    for (auto &[name, values] : expected)
      for (size_t i = 0; i < values.size(); ++i)
        ASSERT_EQ(loaded[name][i], bf16ToFloat(floatToBf16(values[i])))
            << name << "[" << i << "]";
  }
}

// A directory holds one checkpoint: a save replaces an earlier one's files
// (single file, index, other shards) once it is whole, and a directory with
// both forms is read as from_pretrained reads it, single file first.
TEST_F(CheckpointFiles, SavesReplaceEarlierCheckpointsInTheirDirectory) {
  auto source = tinyTrainer(21);
  std::string error;
  ASSERT_TRUE(source->saveWeights(path("hf"), error, {WeightDType::F32, 2000}))
      << error;
  ASSERT_TRUE(fs::exists(path("hf/model.safetensors.index.json")));
  ASSERT_TRUE(
      source->saveWeights(path("hf"), error, {WeightDType::F32, 1000000}))
      << error;
  std::vector<std::string> names;
  for (const auto &entry : fs::directory_iterator(path("hf")))
    names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"model.safetensors"});

  // Both forms: another model's shards beside this one's single file.
  auto other = tinyTrainer(22);
  ASSERT_TRUE(
      other->saveWeights(path("other"), error, {WeightDType::F32, 2000}))
      << error;
  for (const auto &entry : fs::directory_iterator(path("other")))
    fs::copy(entry.path(), path("hf") + "/" + entry.path().filename().string());
  auto target = tinyTrainer(23);
  ASSERT_TRUE(target->loadWeights(path("hf"), error)) << error;
  EXPECT_EQ(weights(*target), weights(*source));
}

TEST_F(CheckpointFiles, F16AndNamesWithoutTheBaseModelPrefix) {
  auto source = tinyTrainer(3);
  auto values = weights(*source);
  std::string error;
  ASSERT_TRUE(writeSafetensors(path("base.safetensors"),
                               named(*source, values, "transformer."), {},
                               error, WeightDType::F16))
      << error;
  auto target = tinyTrainer(4);
  ASSERT_TRUE(target->loadWeights(path("base.safetensors"), error)) << error;
  auto loaded = weights(*target);
  for (auto &[name, expected] : values)
    for (size_t i = 0; i < expected.size(); ++i)
      ASSERT_EQ(loaded[name][i], f16ToFloat(floatToF16(expected[i]))) << name;
}

TEST_F(CheckpointFiles, TiedHeadStoredTwiceAndUnusedTensorsAreReported) {
  auto source = tinyTrainer(5);
  auto values = weights(*source);
  std::vector<NamedTensor> tensors = named(*source, values);
  const std::vector<float> &embedding = values.at("transformer.wte.weight");
  std::vector<float> other(embedding.size(), 0.5f), extra(3, 1.0f);
  tensors.push_back({"lm_head.weight", {32, 16}, embedding.data()});
  std::string error;
  ASSERT_TRUE(writeSafetensors(path("same.safetensors"), tensors, {}, error));
  auto target = tinyTrainer(6);
  Trainer::LoadReport report;
  ASSERT_TRUE(target->loadWeights(path("same.safetensors"), error, &report))
      << error;
  EXPECT_TRUE(report.unused.empty()) << report.unused[0];

  // A head that is not the embedding, and a stray buffer: both listed.
  tensors.back().data = other.data();
  tensors.push_back({"transformer.h.0.attn.masked_bias", {3}, extra.data()});
  ASSERT_TRUE(writeSafetensors(path("other.safetensors"), tensors, {}, error));
  ASSERT_TRUE(target->loadWeights(path("other.safetensors"), error, &report))
      << error;
  EXPECT_EQ(report.unused,
            (std::vector<std::string>{"lm_head.weight",
                                      "transformer.h.0.attn.masked_bias"}));
  EXPECT_EQ(weights(*target).at("transformer.wte.weight"), embedding);

  // Only the head's copy is stored: it fills the tied embedding.
  tensors.erase(tensors.begin()); // transformer.wte.weight
  tensors.pop_back();
  tensors.back().data = embedding.data();
  ASSERT_TRUE(writeSafetensors(path("head.safetensors"), tensors, {}, error));
  auto fresh = tinyTrainer(7);
  ASSERT_TRUE(fresh->loadWeights(path("head.safetensors"), error, &report))
      << error;
  EXPECT_EQ(weights(*fresh).at("transformer.wte.weight"), embedding);
}

TEST_F(CheckpointFiles, RefusalsNameTheTensorOrFile) {
  auto source = tinyTrainer(8);
  auto values = weights(*source);
  std::vector<NamedTensor> tensors = named(*source, values);
  std::string error;
  auto target = tinyTrainer(9);

  std::vector<NamedTensor> missing;
  for (const NamedTensor &t : tensors)
    if (t.name != "transformer.wpe.weight")
      missing.push_back(t);
  ASSERT_TRUE(
      writeSafetensors(path("missing.safetensors"), missing, {}, error));
  EXPECT_FALSE(target->loadWeights(path("missing.safetensors"), error));
  EXPECT_NE(error.find("has no tensor 'transformer.wpe.weight' (nor "
                       "'wpe.weight')"),
            std::string::npos)
      << error;

  std::vector<float> bad = values.at("transformer.ln_f.weight");
  bad[3] = std::nanf("");
  for (NamedTensor &t : tensors)
    if (t.name == "transformer.ln_f.weight")
      t.data = bad.data();
  ASSERT_TRUE(writeSafetensors(path("nan.safetensors"), tensors, {}, error));
  EXPECT_FALSE(target->loadWeights(path("nan.safetensors"), error));
  EXPECT_NE(error.find("tensor 'transformer.ln_f.weight' holds a non-finite "
                       "value (nan) at element 3"),
            std::string::npos)
      << error;

  fs::create_directories(path("empty"));
  EXPECT_FALSE(target->loadWeights(path("empty"), error));
  EXPECT_NE(error.find("a directory with neither "
                       "model.safetensors.index.json nor model.safetensors"),
            std::string::npos)
      << error;

  ASSERT_TRUE(
      source->saveWeights(path("sharded"), error, {WeightDType::F32, 2000}));
  fs::path second;
  for (const auto &entry : fs::directory_iterator(path("sharded")))
    if (entry.path().filename().string().rfind("model-00002-of-", 0) == 0)
      second = entry.path();
  ASSERT_FALSE(second.empty());
  fs::remove(second);
  EXPECT_FALSE(target->loadWeights(path("sharded"), error));
  EXPECT_NE(error.find(second.filename().string() + ": cannot open"),
            std::string::npos)
      << error;
}

TEST(ByteSize, ParsesHuggingFaceSizes) {
  uint64_t bytes = 0;
  ASSERT_TRUE(parseByteSize("5GB", bytes));
  EXPECT_EQ(bytes, 5000000000ull);
  ASSERT_TRUE(parseByteSize("2MiB", bytes));
  EXPECT_EQ(bytes, 2097152ull);
  ASSERT_TRUE(parseByteSize("1.5KB", bytes));
  EXPECT_EQ(bytes, 1500ull);
  ASSERT_TRUE(parseByteSize("123", bytes));
  EXPECT_EQ(bytes, 123ull);
  for (const char *bad : {"", "GB", "5 GB", "0", "-1MB", "5gb", "1e3", "5XB"})
    EXPECT_FALSE(parseByteSize(bad, bytes)) << bad;
}

/// One rank of a tensor-parallel group, for initialisation only (which
/// makes no collective call).
class FakeRank final : public Communicator {
public:
  FakeRank(int rank, int size) : myRank(rank), mySize(size) {}
  int rank() const override { return myRank; }
  int size() const override { return mySize; }
  void allReduce(void *, int64_t, DType, ReduceOp, Stream) override {
    ADD_FAILURE();
  }
  void allGather(const void *, void *, int64_t, DType, Stream) override {
    ADD_FAILURE();
  }
  void reduceScatter(const void *, void *, int64_t, DType, Stream) override {
    ADD_FAILURE();
  }
  void broadcast(void *, int64_t, int, Stream) override { ADD_FAILURE(); }

private:
  int myRank, mySize;
};

// Each rank of a tp 2 job draws only its block, and the blocks are the
// one-process model's, bit for bit: a weight depends on (seed, name, index).
TEST(Initialisation, EveryTensorParallelRankDrawsItsBlockOfOneModel) {
  auto whole = tinyTrainer(11);
  ASSERT_TRUE(whole);
  std::ifstream in(std::string(SLAPO_SOURCE_DIR) + "/schedules/gpt2-tp.sched");
  std::string schedule((std::istreambuf_iterator<char>(in)),
                       std::istreambuf_iterator<char>());
  std::vector<uint8_t> bytes =
      test::compileToSplan(kTinyGPT2, 2, 4, "sgd", schedule, 2);
  ASSERT_FALSE(bytes.empty());
  std::map<std::string, std::vector<float>> assembled;
  for (int rank = 0; rank < 2; ++rank) {
    std::string error;
    auto plan = loadPlanFromBuffer(bytes.data(), bytes.size(), "tp2", error);
    ASSERT_TRUE(plan) << error;
    FakeRank tp(rank, 2);
    SelfCommunicator dp;
    auto trainer = Trainer::create(std::move(plan), {&tp, &dp}, error);
    ASSERT_TRUE(trainer) << error;
    trainer->initialize(11);
    for (const ParamInfo &param : trainer->plan().params) {
      ShardLayout layout = trainer->layoutOf(param);
      std::vector<float> &full = assembled[param.name];
      full.resize(size_t(layout.fullNumel()));
      layout.insert(trainer->data(param.tensor), full.data(), rank);
    }
  }
  auto expected = weights(*whole);
  ASSERT_EQ(assembled.size(), expected.size());
  for (auto &[name, values] : expected)
    EXPECT_EQ(assembled[name], values) << name;
}

TEST(Initialisation, NormalAndUniformHaveTheirMoments) {
  auto trainer = tinyTrainer(12);
  ASSERT_TRUE(trainer);
  for (const ParamInfo &param : trainer->plan().params) {
    if (param.init != Init::Normal)
      continue;
    std::vector<float> w = trainer->fullParameter(param);
    double sum = 0.0, squares = 0.0;
    for (float x : w) {
      sum += x;
      squares += double(x) * x;
    }
    double n = double(w.size()), mean = sum / n;
    double sd = std::sqrt(squares / n - mean * mean);
    // 256 or more draws: the sample sd is within 15% of the initializer's.
    EXPECT_NEAR(sd, param.std, 0.15 * param.std) << param.name;
    EXPECT_NEAR(mean, 0.0, 4.0 * param.std / std::sqrt(n)) << param.name;
  }
  // Another seed: other weights.
  auto other = tinyTrainer(13);
  EXPECT_NE(weights(*trainer).at("transformer.wte.weight"),
            weights(*other).at("transformer.wte.weight"));
}

} // namespace
