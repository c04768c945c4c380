//===- BackendTest.cpp - the seam between the runtime core and a backend --===//
//
// Kernels bind by name and operand dtypes when an executor is made, and the
// Trainer moves and accumulates tensor memory only through its backend: a
// wrapper backend that records every call sees all of it.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Backend.h"
#include "CompiledModel.h"
#include "slapo/Runtime/Trainer.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace slapo;
using namespace slapo::rt;

namespace {

constexpr const char *kTinyGPT2 = R"({"model_type": "gpt2", "vocab_size": 32,
  "n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 2,
  "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0})";

std::unique_ptr<Backend> cpu() {
  std::string error;
  std::unique_ptr<Backend> backend = createBackend("cpu", error);
  EXPECT_TRUE(backend) << error;
  return backend;
}

TEST(Backend, FindsKernelsByNameAndOperandDTypes) {
  auto backend = cpu();
  EXPECT_TRUE(
      backend->findKernel("linear", {DType::F32, DType::F32, DType::F32}));
  EXPECT_TRUE(
      backend->findKernel("embedding", {DType::I64, DType::F32, DType::F32}));
  // bf16 activations (parameters stay f32: no bf16 optimizer), no f16
  // kernels, no such kernel at all.
  EXPECT_TRUE(
      backend->findKernel("linear", {DType::BF16, DType::BF16, DType::BF16}));
  EXPECT_TRUE(backend->findKernel("cross_entropy",
                                  {DType::BF16, DType::I64, DType::F32}));
  EXPECT_NE(
      backend->findKernel("linear", {DType::BF16, DType::BF16, DType::BF16}),
      backend->findKernel("linear", {DType::F32, DType::F32, DType::F32}));
  EXPECT_FALSE(backend->findKernel(
      "adamw_update", {DType::BF16, DType::BF16, DType::BF16, DType::BF16}));
  EXPECT_FALSE(
      backend->findKernel("linear", {DType::F16, DType::F16, DType::F16}));
  EXPECT_FALSE(backend->findKernel("no_such_kernel", {DType::F32}));
  // Every kernel of the catalog exists on the CPU in f32.
  for (const KernelSpec &spec : kernelCatalog())
    EXPECT_TRUE(backend->findKernel(spec.name, {DType::F32})) << spec.name;
}

TEST(Backend, NamesTheBackendsItHas) {
  std::string error;
  EXPECT_FALSE(createBackend("tpu", error));
  std::string built;
  for (const std::string &name : backendNames())
    built += " " + name;
  EXPECT_EQ(error, "--device tpu: no such backend in this slapo-run (it "
                   "has:" +
                       built + ")");
  EXPECT_EQ(backendNames().front(), "cpu");
}

TEST(Backend, CpuMemoryOperations) {
  auto backend = cpu();
  std::string error;
  auto *x = static_cast<float *>(backend->allocate(4 * sizeof(float), error));
  auto *y = static_cast<float *>(backend->allocate(4 * sizeof(float), error));
  ASSERT_TRUE(x && y) << error;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x) % 64, 0u);
  const float host[4] = {1, 2, 3, 4};
  backend->copyFromHost(x, host, sizeof host);
  backend->zero(y, 4 * sizeof(float));
  backend->accumulate(y, x, 4, DType::F32, 0.5f);
  backend->accumulate(y, x, 4, DType::F32, 2.0f);
  float back[4];
  backend->copyToHost(back, y, sizeof back);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(back[i], 2.5f * host[i]);
  EXPECT_EQ(backend->sumOfSquares(x, 4, DType::F32), 30.0);
  backend->scale(y, 3, DType::F32, -2.0f);
  backend->copyToHost(back, y, sizeof back);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(back[i], (i < 3 ? -5.0f : 2.5f) * host[i]);
  // Above the threads' threshold too (1 << 17 elements of 0.5: 32768).
  const int64_t n = 1 << 17;
  auto *big = static_cast<float *>(backend->allocate(n * sizeof(float), error));
  ASSERT_TRUE(big) << error;
  std::vector<float> halves(size_t(n), 0.5f);
  backend->copyFromHost(big, halves.data(), n * sizeof(float));
  EXPECT_EQ(backend->sumOfSquares(big, n, DType::F32), 32768.0);
  backend->release(big);
  backend->release(x);
  backend->release(y);
}

/// The CPU backend, recording what the executor asks of it, and able to
/// lack one kernel.
class Recording final : public Backend {
public:
  Recording(std::unique_ptr<Backend> inner, std::string missing = "")
      : inner(std::move(inner)), missing(std::move(missing)) {}
  const char *name() const override { return "recording"; }
  MemorySpace space() const override { return inner->space(); }
  void *allocate(uint64_t bytes, std::string &error) override {
    ++allocations;
    return inner->allocate(bytes, error);
  }
  void release(void *memory) override { inner->release(memory); }
  void copyFromHost(void *to, const void *host, uint64_t bytes) override {
    ++copiesIn;
    inner->copyFromHost(to, host, bytes);
  }
  void copyToHost(void *host, const void *from, uint64_t bytes) override {
    ++copiesOut;
    inner->copyToHost(host, from, bytes);
  }
  void copy(void *to, const void *from, uint64_t bytes) override {
    ++copies;
    inner->copy(to, from, bytes);
  }
  void zero(void *memory, uint64_t bytes) override {
    inner->zero(memory, bytes);
  }
  void accumulate(void *y, const void *x, int64_t count, DType dtype,
                  float alpha) override {
    ++accumulations;
    inner->accumulate(y, x, count, dtype, alpha);
  }
  double sumOfSquares(const void *x, int64_t count, DType dtype) override {
    return inner->sumOfSquares(x, count, dtype);
  }
  void scale(void *x, int64_t count, DType dtype, float factor) override {
    inner->scale(x, count, dtype, factor);
  }
  void fill(float *to, int64_t count, float value) override {
    inner->fill(to, count, value);
  }
  void drawParameter(float *to, int64_t count, uint64_t key, int64_t first,
                     bool uniform, double scale) override {
    ++draws;
    inner->drawParameter(to, count, key, first, uniform, scale);
  }
  const StepScalars *setScalars(const StepScalars &values) override {
    scalars.push_back(values);
    return inner->setScalars(values);
  }
  void run(uint64_t key, const std::function<void()> &issue) override {
    runs.push_back({key, scalars.size()});
    inner->run(key, issue);
  }
  Stream stream() override { return inner->stream(); }
  void synchronize() override { inner->synchronize(); }
  KernelFn findKernel(const std::string &kernel,
                      const std::vector<DType> &operands) const override {
    return kernel == missing ? nullptr : inner->findKernel(kernel, operands);
  }

  std::unique_ptr<Backend> inner;
  std::string missing;
  int allocations = 0, copiesIn = 0, copiesOut = 0, copies = 0,
      accumulations = 0, draws = 0;
  std::vector<StepScalars> scalars;
  /// Each run's key and how many setScalars calls preceded it.
  std::vector<std::pair<uint64_t, size_t>> runs;
};

std::unique_ptr<Plan> tinyPlan() {
  static std::vector<uint8_t> bytes =
      test::compileToSplan(kTinyGPT2, 2, 4, "sgd");
  std::string error;
  auto plan = loadPlanFromBuffer(bytes.data(), bytes.size(), "tiny", error);
  EXPECT_TRUE(plan) << error;
  return plan;
}

TEST(Backend, KernelsBindWhenTheExecutorIsMade) {
  std::string error;
  auto trainer =
      Trainer::create(tinyPlan(), std::make_unique<Recording>(cpu(), "gelu"),
                      ProcessGroups{}, error);
  EXPECT_FALSE(trainer);
  EXPECT_EQ(error, "the recording backend has no 'gelu' kernel for operands "
                   "(f32, f32)");
}

// Gradient accumulation over micro-batches is the backend's: one
// accumulate per gradient and micro-batch, no host loop over its memory.
TEST(Backend, TheTrainerAccumulatesThroughItsBackend) {
  auto recording = std::make_unique<Recording>(cpu());
  Recording *calls = recording.get();
  std::string error;
  auto trainer =
      Trainer::create(tinyPlan(), std::move(recording), ProcessGroups{}, error);
  ASSERT_TRUE(trainer) << error;
  trainer->initialize(1);
  // Weights are drawn in the backend's memory, one call per random
  // parameter (none is split here): nothing is uploaded.
  int drawn = 0;
  for (const ParamInfo &param : trainer->plan().params)
    drawn += param.init == Init::Normal || param.init == Init::Uniform;
  EXPECT_GT(drawn, 0);
  EXPECT_EQ(calls->draws, drawn);
  EXPECT_EQ(calls->copiesIn, 0);
  std::vector<int64_t> ids(4 * 4), targets(4 * 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i] = int64_t(i % 32);
    targets[i] = int64_t((i + 1) % 32);
  }
  // Four rows on a two-row plan: two micro-batches.
  ASSERT_TRUE(trainer->checkGlobalBatch(4, error)) << error;
  float loss = trainer->step(ids.data(), targets.data(), 4, 0.1);
  EXPECT_TRUE(std::isfinite(loss));
  int gradients = 0;
  for (const KernelCall &call : trainer->plan().kernels)
    gradients += call.name == "sgd_update";
  EXPECT_EQ(calls->accumulations, 2 * gradients);
  EXPECT_EQ(calls->copies, gradients); // the sums back into the gradients
}

// What lets a device backend capture a step once and replay it: every
// kernel range runs through Backend::run with a key that is the same for
// the same range (each micro-batch's forward and backward, the updates,
// evaluation), and the scalars that change between runs reach the backend
// through setScalars just before each run.
TEST(Backend, RangesRunUnderStableKeysWithTheirScalarsSetFirst) {
  auto recording = std::make_unique<Recording>(cpu());
  Recording *calls = recording.get();
  std::string error;
  auto trainer =
      Trainer::create(tinyPlan(), std::move(recording), ProcessGroups{}, error);
  ASSERT_TRUE(trainer) << error;
  trainer->initialize(7);
  std::vector<int64_t> ids(4 * 4), targets(4 * 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i] = int64_t(i % 32);
    targets[i] = int64_t((i + 3) % 32);
  }
  // Two steps of two micro-batches, then an evaluation.
  for (double lr : {0.1, 0.05})
    trainer->step(ids.data(), targets.data(), 4, lr);
  trainer->evaluate(ids.data(), targets.data(), 4);
  const auto &runs = calls->runs;
  const auto &scalars = calls->scalars;
  // Per step: micro-batch 0, micro-batch 1, the updates; then the eval's
  // two micro-batches.
  ASSERT_EQ(runs.size(), 8u);
  ASSERT_EQ(scalars.size(), runs.size());
  for (size_t r = 0; r < runs.size(); ++r)
    EXPECT_EQ(runs[r].second, r + 1) << "run " << r << " had no fresh scalars";
  uint64_t forward = runs[0].first, update = runs[2].first;
  EXPECT_NE(forward, update);
  for (size_t r : {0u, 1u, 3u, 4u})
    EXPECT_EQ(runs[r].first, forward) << r;
  EXPECT_EQ(runs[5].first, update);
  EXPECT_NE(runs[6].first, forward); // evaluation: its own range
  EXPECT_EQ(runs[7].first, runs[6].first);
  // The scalars are the step's: its number, learning rate, micro-batch.
  EXPECT_EQ(scalars[0].step, 1);
  EXPECT_EQ(scalars[1].microBatch, 1);
  EXPECT_EQ(scalars[0].microBatch, 0);
  EXPECT_DOUBLE_EQ(scalars[2].learningRate, 0.1);
  EXPECT_EQ(scalars[3].step, 2);
  EXPECT_DOUBLE_EQ(scalars[5].learningRate, 0.05);
  EXPECT_EQ(scalars[0].seed, 7u);
  EXPECT_EQ(scalars[0].training, 1);
  EXPECT_EQ(scalars[6].training, 0); // evaluation runs without dropout
}

} // namespace
