//===- FiniteDifferenceTest.cpp - autodiff against finite differences ----===//
//
// For each family, a whole compiled training step: the gradient slapo
// computes must predict how the loss changes along a direction, as a
// central finite difference measures it (in double the loss would be exact;
// in float32 we use steps large enough to resolve the change).
//
//===----------------------------------------------------------------------===//

#include "CompiledModel.h"
#include "slapo/Runtime/Trainer.h"

#include "gtest/gtest.h"

#include <cmath>
#include <random>

using namespace slapo;

namespace {

struct FiniteDifference {
  double predicted = 0.0; // g . u
  double measured = 0.0;  // (L(w + e u) - L(w - e u)) / 2e
};

class Harness {
public:
  explicit Harness(const std::string &config, const std::string &schedule) {
    std::vector<uint8_t> bytes =
        test::compileToSplan(config, 2, 6, "sgd", schedule);
    std::string error;
    auto plan = rt::loadPlanFromBuffer(bytes.data(), bytes.size(), "p", error);
    EXPECT_TRUE(plan) << error;
    if (!plan)
      return;
    trainer = rt::Trainer::create(std::move(plan), error);
    trainer->initialize(11);
    std::mt19937 random(3);
    int64_t n = 2 * 6;
    for (int64_t i = 0; i < n; ++i) {
      trainer->inputIds()[i] = random() % trainer->plan().vocabSize;
      trainer->targets()[i] = random() % trainer->plan().vocabSize;
    }
    weights = snapshot();
    // One SGD step with lr L: the gradient is (w0 - w1) / L.
    constexpr double kLr = 1000.0;
    trainer->step(kLr);
    std::vector<float> after = snapshot();
    for (size_t i = 0; i < after.size(); ++i)
      gradient.push_back((double(weights[i]) - after[i]) / kLr);
    // Frozen parameters never move, so directions must leave them alone.
    for (const rt::ParamInfo &p : trainer->plan().params)
      trainable.insert(trainable.end(),
                       trainer->plan().tensors[p.tensor].numel(), p.trainable);
  }

  bool ok() const { return trainer != nullptr; }

  /// The loss at w0 + e u (lr 0 leaves the weights where they are), always
  /// as step 1, so that dropout draws the masks the gradient was taken with.
  double lossAt(const std::vector<double> &u, double e) {
    restore(weights, u, e);
    trainer->setCompletedSteps(0);
    return trainer->step(0.0);
  }

  FiniteDifference along(const std::vector<double> &u, double e) {
    FiniteDifference fd;
    for (size_t i = 0; i < u.size(); ++i)
      fd.predicted += gradient[i] * u[i];
    fd.measured = (lossAt(u, e) - lossAt(u, -e)) / (2 * e);
    return fd;
  }

  std::vector<double> gradient;
  std::vector<bool> trainable; // per element, in gradient order

private:
  std::vector<float> snapshot() const {
    std::vector<float> all;
    for (const rt::ParamInfo &p : trainer->plan().params) {
      const float *data = trainer->data(p.tensor);
      all.insert(all.end(), data,
                 data + trainer->plan().tensors[p.tensor].numel());
    }
    return all;
  }

  void restore(const std::vector<float> &base, const std::vector<double> &u,
               double e) {
    size_t at = 0;
    for (const rt::ParamInfo &p : trainer->plan().params) {
      float *data = trainer->data(p.tensor);
      int64_t n = trainer->plan().tensors[p.tensor].numel();
      for (int64_t i = 0; i < n; ++i, ++at)
        data[i] = float(base[at] + e * u[at]);
    }
  }

  std::unique_ptr<rt::Trainer> trainer;
  std::vector<float> weights;
};

std::vector<double> normalised(std::vector<double> v) {
  double norm = 0.0;
  for (double x : v)
    norm += x * x;
  norm = std::sqrt(norm);
  for (double &x : v)
    x /= norm;
  return v;
}

void checkFamily(const std::string &config, const std::string &schedule = "") {
  Harness h(config, schedule);
  ASSERT_TRUE(h.ok());
  // Along the gradient itself, and along a random direction.
  std::vector<double> random(h.gradient.size());
  std::mt19937 generator(5);
  std::normal_distribution<double> normal;
  for (size_t i = 0; i < random.size(); ++i)
    random[i] = h.trainable[i] ? normal(generator) : 0.0;
  for (const auto &u : {normalised(h.gradient), normalised(random)}) {
    FiniteDifference fd = h.along(u, 1e-2);
    double scale = std::max(std::abs(fd.predicted), 1e-2);
    EXPECT_NEAR(fd.measured, fd.predicted, 0.02 * scale)
        << "directional derivative: predicted " << fd.predicted
        << ", finite difference " << fd.measured;
    EXPECT_NE(fd.predicted, 0.0);
  }
}

TEST(FiniteDifference, GPT2) {
  checkFamily(R"({"model_type": "gpt2", "vocab_size": 32, "n_positions": 16,
    "n_embd": 16, "n_layer": 2, "n_head": 2, "resid_pdrop": 0.0,
    "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": 0.2})");
}

// Dropout (residual and attention): the backward pass must use the very
// masks of the forward pass, or the gradient does not predict the loss.
TEST(FiniteDifference, GPT2WithDropout) {
  checkFamily(R"({"model_type": "gpt2", "vocab_size": 32, "n_positions": 16,
    "n_embd": 16, "n_layer": 2, "n_head": 2, "resid_pdrop": 0.2,
    "embd_pdrop": 0.1, "attn_pdrop": 0.3, "initializer_range": 0.2})");
}

// LoRA on the attention and MLP projections with everything else frozen and
// dropout on the adapter input; B starts at zero, so A's gradient is zero and
// the check rests on B's and on the rest of the chain.
TEST(FiniteDifference, GPT2LoRA) {
  checkFamily(R"({"model_type": "gpt2", "vocab_size": 32, "n_positions": 16,
    "n_embd": 16, "n_layer": 2, "n_head": 2, "resid_pdrop": 0.0,
    "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": 0.2})",
              "freeze **\n"
              "lora transformer.h.*.attn.c_attn rank=4 alpha=8 dropout=0.1\n"
              "lora transformer.h.*.mlp.c_fc rank=2 alpha=4\n");
}

TEST(FiniteDifference, OPTPostLayerNormWithProjections) {
  checkFamily(R"({"model_type": "opt", "vocab_size": 32, "hidden_size": 16,
    "num_hidden_layers": 2, "num_attention_heads": 2, "ffn_dim": 32,
    "max_position_embeddings": 16, "word_embed_proj_dim": 8,
    "do_layer_norm_before": false, "dropout": 0.0, "init_std": 0.2})");
}

TEST(FiniteDifference, LlamaGroupedQuery) {
  checkFamily(R"({"model_type": "llama", "vocab_size": 32, "hidden_size": 16,
    "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "max_position_embeddings": 16,
    "initializer_range": 0.2})");
}

} // namespace
