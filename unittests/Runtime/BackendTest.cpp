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
  StepScalars scalars;
  scalars.gradientWeight = 1.5f;
  backend->setScalars(scalars);
  backend->accumulateWeighted(y, x, 4, DType::F32); // the scalars' weight
  scalars.gradientWeight = 0.5f;
  backend->setScalars(scalars);
  backend->accumulateWeighted(y, x, 4, DType::F32);
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
  void accumulateWeighted(void *y, const void *x, int64_t count,
                          DType dtype) override {
    ++accumulations;
    inner->accumulateWeighted(y, x, count, dtype);
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

/// Four rows of ids and targets (targets `shift` tokens on).
struct Rows {
  std::vector<int64_t> ids, targets;
  explicit Rows(int64_t shift) : ids(4 * 4), targets(4 * 4) {
    for (size_t i = 0; i < ids.size(); ++i) {
      ids[i] = int64_t(i % 32);
      targets[i] = int64_t((i + size_t(shift)) % 32);
    }
  }
};

/// The number of optimizer updates (one per trainable gradient).
int updatesOf(const Trainer &trainer) {
  int updates = 0;
  for (const KernelCall &call : trainer.plan().kernels)
    updates += call.name == "sgd_update";
  return updates;
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
  Rows rows(1);
  // Four rows on a two-row plan: two micro-batches.
  ASSERT_TRUE(trainer->checkGlobalBatch(4, error)) << error;
  float loss = trainer->step(rows.ids.data(), rows.targets.data(), 4, 0.1);
  EXPECT_TRUE(std::isfinite(loss));
  int gradients = updatesOf(*trainer);
  EXPECT_EQ(calls->accumulations, 2 * gradients);
  EXPECT_EQ(calls->copies, gradients); // the sums back into the gradients
}

// What lets a device backend capture a step once and replay it: every
// kernel range runs through Backend::run with a key that is the same for
// the same work (a micro-batch's forward and backward, the last one's with
// the gradient accumulation and reduction woven in, the updates,
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
  Rows rows(3);
  // The second micro-batch counts half its targets in the second step.
  Rows masked = rows;
  for (size_t i = 12; i < 16; ++i)
    masked.targets[i] = -100;
  // Two steps of two micro-batches, then an evaluation.
  trainer->step(rows.ids.data(), rows.targets.data(), 4, 0.1);
  trainer->step(masked.ids.data(), masked.targets.data(), 4, 0.05);
  trainer->evaluate(rows.ids.data(), rows.targets.data(), 4);
  const auto &runs = calls->runs;
  const auto &scalars = calls->scalars;
  // Per step: micro-batch 0, micro-batch 1, the updates; then the eval's
  // two micro-batches.
  ASSERT_EQ(runs.size(), 8u);
  ASSERT_EQ(scalars.size(), runs.size());
  for (size_t r = 0; r < runs.size(); ++r)
    EXPECT_EQ(runs[r].second, r + 1) << "run " << r << " had no fresh scalars";
  // The last micro-batch also adds each gradient, and sends its buckets,
  // as soon as they are complete: other work, so another key.
  uint64_t forward = runs[0].first, last = runs[1].first,
           update = runs[2].first;
  EXPECT_NE(forward, last);
  EXPECT_NE(forward, update);
  EXPECT_NE(last, update);
  EXPECT_EQ(runs[3].first, forward);
  EXPECT_EQ(runs[4].first, last);
  EXPECT_EQ(runs[5].first, update);
  EXPECT_NE(runs[6].first, forward); // evaluation: its own range
  EXPECT_NE(runs[6].first, last);
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
  // Each micro-batch's gradients are accumulated with its share of the
  // counted tokens, read from the scalars: half each, then 8 and 4 of 12
  // (a replayed graph must not keep the first step's weights).
  EXPECT_FLOAT_EQ(scalars[0].gradientWeight, 0.5f);
  EXPECT_FLOAT_EQ(scalars[1].gradientWeight, 0.5f);
  EXPECT_FLOAT_EQ(scalars[3].gradientWeight, 8.0f / 12.0f);
  EXPECT_FLOAT_EQ(scalars[4].gradientWeight, 4.0f / 12.0f);
}

/// Rank 0 of a data-parallel group of two whose other rank computed the
/// same gradients: an all-reduce doubles. Records, at each all-reduce of
/// more than one value, how many accumulations the backend had made.
class TwinGroup final : public Communicator {
public:
  explicit TwinGroup(const Recording &backend) : backend(backend) {}
  using Communicator::allGather;
  using Communicator::allReduce;
  using Communicator::broadcast;
  using Communicator::reduceScatter;
  int rank() const override { return 0; }
  int size() const override { return 2; }
  void allReduce(void *data, int64_t count, DType dtype, ReduceOp,
                 Stream) override {
    ASSERT_EQ(dtype, DType::F32);
    float *values = static_cast<float *>(data);
    for (int64_t i = 0; i < count; ++i)
      values[i] *= 2.0f;
    if (count > 2)
      accumulationsAtReduce.push_back(backend.accumulations);
  }
  void allGather(const void *, void *, int64_t, DType, Stream) override {
    FAIL() << "no all_gather on a data-parallel group";
  }
  void reduceScatter(const void *, void *, int64_t, DType, Stream) override {
    FAIL() << "no reduce_scatter on a data-parallel group";
  }
  void broadcast(void *, int64_t, int, Stream) override {}

  const Recording &backend;
  std::vector<int> accumulationsAtReduce;
};

// The data-parallel gradient all-reduce overlaps the backward pass: each
// bucket goes out as soon as the gradients it holds are complete, while
// later gradients are still to come (on a GPU, on the side stream).
TEST(Backend, BucketsAreReducedAsSoonAsTheirGradientsAreComplete) {
  auto recording = std::make_unique<Recording>(cpu());
  Recording *calls = recording.get();
  TwinGroup dp(*calls);
  SelfCommunicator tp;
  std::string error;
  auto trainer = Trainer::create(tinyPlan(), std::move(recording),
                                 ProcessGroups{&tp, &dp}, error);
  ASSERT_TRUE(trainer) << error;
  trainer->initialize(3);
  trainer->setBucketBytes(2048); // many buckets
  Rows rows(5);
  // Four rows over two ranks: this rank's one micro-batch of two.
  ASSERT_TRUE(trainer->checkGlobalBatch(4, error)) << error;
  float loss = trainer->step(rows.ids.data(), rows.targets.data(), 4, 0.1);
  EXPECT_TRUE(std::isfinite(loss));
  int gradients = updatesOf(*trainer);
  EXPECT_EQ(calls->accumulations, gradients);
  const std::vector<int> &at = dp.accumulationsAtReduce;
  ASSERT_GT(at.size(), 2u);
  // The first bucket left before the last gradient was added; the last
  // bucket after every one was.
  EXPECT_LT(at.front(), gradients);
  EXPECT_EQ(at.back(), gradients);
  EXPECT_TRUE(std::is_sorted(at.begin(), at.end()));
}

} // namespace
