//===- CollectivesTest.cpp - MPI collectives and tensor-parallel kernels --===//
//
// Run under a launcher (ctest runs `mpirun -np 2` and `-np 4`): every rank
// runs every test. The communicator's collectives against sums computed
// locally; each `sync` kind against the whole tensor it is a block of; the
// vocab-parallel embedding and cross-entropy (and its gradient) on column
// blocks against the one-rank kernels on the whole logits.
//
//===----------------------------------------------------------------------===//

#include "JobTestMain.h"
#include "slapo/Runtime/Backend.h"
#include "slapo/Runtime/Job.h"
#include "slapo/Runtime/Kernels.h"
#include "slapo/Runtime/Mpi.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace slapo::rt;

namespace {

Job *theJob = nullptr;

Communicator &world() { return theJob->world(); }

/// A kernel call over tensors held in vectors.
struct Call {
  KernelCall call;
  std::vector<TensorInfo> infos;
  std::vector<std::vector<float>> floats;
  std::vector<std::vector<int64_t>> ints;
  KernelContext context;

  explicit Call(const std::string &kernel) {
    call.name = kernel;
    call.kind = findKernelSpec(kernel);
    infos.reserve(8);
  }
  void attr(const std::string &key, const std::string &s) {
    call.attrs[key].s = s;
  }
  void attr(const std::string &key, int64_t i) { call.attrs[key].i = i; }
  View tensor(std::vector<int64_t> shape, DType dtype) {
    infos.push_back({"t", dtype, shape});
    int64_t n = infos.back().numel();
    if (dtype == DType::I64) {
      ints.emplace_back(size_t(n));
      return {ints.back().data(), &infos.back()};
    }
    floats.emplace_back(size_t(n));
    return {floats.back().data(), &infos.back()};
  }
  void run(std::vector<View> ins, std::vector<View> outs, Communicator &tp) {
    context.call = &call;
    context.ins = std::move(ins);
    context.outs = std::move(outs);
    context.tp = &tp;
    std::vector<DType> dtypes;
    for (const std::vector<View> *views : {&context.ins, &context.outs})
      for (const View &view : *views)
        dtypes.push_back(view.dtype());
    std::string error;
    std::unique_ptr<Backend> cpu = createBackend("cpu", error);
    KernelFn fn = cpu->findKernel(call.name, dtypes);
    ASSERT_TRUE(fn) << call.name;
    fn(context);
  }
};

// MPI counts are int: a collective over more elements than one MPI call
// carries is split into calls. The same split, at a limit of 1000, must give
// every collective's whole result.
TEST(Communicator, SplitsCollectivesLargerThanOneMpiCall) {
  std::unique_ptr<Communicator> group = mpi::split(world(), 0, world().rank());
  mpi::setMaxCountPerCall(*group, 1000);
  int p = group->size(), r = group->rank();
  const int64_t n = 2500;
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i)
    x[i] = float(i % 97) + float(r);
  group->allReduce(x.data(), n, ReduceOp::Sum);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(x[i], float(p * (i % 97)) + float(p * (p - 1) / 2)) << i;
  std::vector<int64_t> counts(n, r + 1);
  group->allReduce(counts.data(), n, ReduceOp::Max);
  EXPECT_EQ(counts.front(), p);
  EXPECT_EQ(counts.back(), p);

  std::vector<float> mine(n), all(n * p);
  for (int64_t i = 0; i < n; ++i)
    mine[i] = float(r * n + i);
  group->allGather(mine.data(), all.data(), n);
  for (int64_t i = 0; i < n * p; ++i)
    ASSERT_EQ(all[i], float(i)) << i;

  std::vector<float> blocks(n * p), block(n);
  for (int64_t i = 0; i < n * p; ++i)
    blocks[i] = float(i);
  group->reduceScatter(blocks.data(), block.data(), n);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(block[i], float(p) * float(r * n + i)) << i;

  std::vector<char> bytes(n, char(r == 0 ? 7 : 0));
  group->broadcast(bytes.data(), n, 0);
  EXPECT_EQ(std::count(bytes.begin(), bytes.end(), char(7)), n);
}

TEST(Communicator, ReducesGathersScattersBroadcasts) {
  int p = world().size(), r = world().rank();
  std::vector<float> x = {float(r + 1), float(-r), 0.5f};
  world().allReduce(x.data(), 3, ReduceOp::Sum);
  EXPECT_EQ(x[0], float(p * (p + 1) / 2));
  EXPECT_EQ(x[1], -float(p * (p - 1) / 2));
  EXPECT_EQ(x[2], 0.5f * p);
  int64_t big = r, small = r;
  world().allReduce(&big, 1, ReduceOp::Max);
  world().allReduce(&small, 1, ReduceOp::Min);
  EXPECT_EQ(big, p - 1);
  EXPECT_EQ(small, 0);

  std::vector<float> mine = {float(r), float(10 * r)}, all(2 * p);
  world().allGather(mine.data(), all.data(), 2);
  for (int q = 0; q < p; ++q) {
    EXPECT_EQ(all[2 * q], float(q));
    EXPECT_EQ(all[2 * q + 1], float(10 * q));
  }
  std::vector<float> contribution(2 * p), block(2);
  for (int q = 0; q < 2 * p; ++q)
    contribution[q] = float(q + r);
  world().reduceScatter(contribution.data(), block.data(), 2);
  float ranks = float(p * (p - 1) / 2);
  EXPECT_EQ(block[0], float(2 * r) * p + ranks);
  EXPECT_EQ(block[1], float(2 * r + 1) * p + ranks);

  char text[8] = "rank x";
  text[5] = char('0' + r);
  world().broadcast(text, sizeof text, p - 1);
  EXPECT_EQ(text[5], char('0' + p - 1));
}

TEST(Job, SplitsIntoTensorAndDataParallelGroups) {
  int p = world().size();
  std::string error;
  ASSERT_TRUE(theJob->formGroups(2, error)) << error;
  ProcessGroups groups = theJob->groups();
  EXPECT_EQ(groups.tp->size(), 2);
  EXPECT_EQ(groups.dp->size(), p / 2);
  EXPECT_EQ(groups.tp->rank(), world().rank() % 2);
  EXPECT_EQ(groups.dp->rank(), world().rank() / 2);
  // A tp group sums its two neighbours only.
  float x = float(world().rank());
  groups.tp->allReduce(&x, 1, ReduceOp::Sum);
  EXPECT_EQ(x, float(4 * groups.dp->rank() + 1));
  EXPECT_FALSE(theJob->formGroups(p + 1, error));
  EXPECT_NE(error.find("do not split into tensor-parallel groups"),
            std::string::npos);
}

/// The whole [2, 4p, 3] tensor every rank can compute.
float wholeAt(int64_t i) { return float(i % 97) * 0.25f - 3.0f; }

TEST(SyncKernel, EveryCollectiveMatchesTheWholeTensor) {
  Communicator &group = world();
  int p = group.size(), r = group.rank();
  std::vector<int64_t> full = {2, 4 * p, 3}, local = {2, 4, 3};
  auto blockIndex = [&](int64_t i) { // local element i -> whole element
    int64_t o = i / 12, rest = i % 12;
    return o * 12 * p + r * 12 + rest;
  };
  for (std::string kind : {"split", "all_gather", "reduce_scatter"}) {
    Call sync("sync");
    sync.attr("forward", kind);
    sync.attr("axis", 1);
    bool gathers = kind == "all_gather";
    View in = sync.tensor(gathers ? local : full, DType::F32);
    View out = sync.tensor(gathers ? full : local, DType::F32);
    for (int64_t i = 0; i < in.numel(); ++i)
      in.f32()[i] = gathers ? wholeAt(blockIndex(i)) : wholeAt(i);
    sync.run({in}, {out}, group);
    for (int64_t i = 0; i < out.numel(); ++i) {
      float want = gathers ? wholeAt(i) : wholeAt(blockIndex(i));
      if (kind == "reduce_scatter")
        want *= float(p);
      ASSERT_EQ(out.f32()[i], want) << kind << " element " << i;
    }
  }
  Call sum("sync");
  sum.attr("forward", "all_reduce");
  View in = sum.tensor({5}, DType::F32), out = sum.tensor({5}, DType::F32);
  std::fill(in.f32(), in.f32() + 5, float(r + 1));
  sum.run({in}, {out}, group);
  EXPECT_EQ(out.f32()[4], float(p * (p + 1) / 2));
}

TEST(VocabParallel, EmbeddingRowsSumToTheWholeTable) {
  Communicator &group = world();
  int p = group.size(), r = group.rank();
  int64_t rows = 3, dim = 4, vocab = rows * p;
  Call embed("embedding");
  embed.attr("vocab_parallel", vocab);
  View ids = embed.tensor({2, 3}, DType::I64);
  View table = embed.tensor({rows, dim}, DType::F32);
  View out = embed.tensor({2, 3, dim}, DType::F32);
  for (int64_t i = 0; i < 6; ++i)
    ids.i64()[i] = (i * 5) % vocab;
  for (int64_t i = 0; i < rows * dim; ++i)
    table.f32()[i] = float((r * rows + i / dim) * 100 + i % dim);
  embed.run({ids, table}, {out}, group);
  group.allReduce(out.f32(), out.numel(), ReduceOp::Sum);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t d = 0; d < dim; ++d)
      EXPECT_EQ(out.f32()[i * dim + d], float(ids.i64()[i] * 100 + d));
}

/// The vocab-parallel cross-entropy and its gradient on this rank's
/// [rows, v] block against the one-rank kernels on the whole [rows, vocab]
/// logits; columns at `vocab` and beyond are padding, filled with a large
/// value that must not count.
void checkCrossEntropy(int64_t v, int64_t vocab) {
  Communicator &group = world();
  SelfCommunicator alone;
  int r = group.rank();
  int64_t rows = 5;
  auto logit = [](int64_t row, int64_t col) {
    return std::sin(float(row * 31 + col * 7)) * 4.0f;
  };
  Call wholeLoss("cross_entropy"), wholeGrad("cross_entropy_grad");
  View logits = wholeLoss.tensor({rows, vocab}, DType::F32);
  View targets = wholeLoss.tensor({rows}, DType::I64);
  View loss = wholeLoss.tensor({}, DType::F32);
  View grad = wholeGrad.tensor({rows, vocab}, DType::F32);
  for (int64_t i = 0; i < rows; ++i) {
    targets.i64()[i] = i == 2 ? -100 : (i * 11 + vocab - 1) % vocab;
    for (int64_t j = 0; j < vocab; ++j)
      logits.f32()[i * vocab + j] = logit(i, j);
  }
  wholeLoss.run({logits, targets}, {loss}, alone);
  wholeGrad.run({logits, targets}, {grad}, alone);

  Call blockLoss("cross_entropy"), blockGrad("cross_entropy_grad");
  blockLoss.attr("vocab_parallel", vocab);
  blockGrad.attr("vocab_parallel", vocab);
  View mine = blockLoss.tensor({rows, v}, DType::F32);
  View myLoss = blockLoss.tensor({}, DType::F32);
  View myGrad = blockGrad.tensor({rows, v}, DType::F32);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < v; ++j)
      mine.f32()[i * v + j] = r * v + j < vocab ? logit(i, r * v + j) : 100.0f;
  blockLoss.run({mine, targets}, {myLoss}, group);
  blockGrad.run({mine, targets}, {myGrad}, group);
  EXPECT_NEAR(myLoss.f32()[0], loss.f32()[0], 1e-6 * loss.f32()[0]);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < v; ++j) {
      int64_t column = r * v + j;
      float want = column < vocab ? grad.f32()[i * vocab + column] : 0.0f;
      EXPECT_NEAR(myGrad.f32()[i * v + j], want, 1e-7)
          << "row " << i << " column " << column << " of " << vocab;
    }
}

TEST(VocabParallel, CrossEntropyOnColumnBlocksMatchesTheWholeLogits) {
  checkCrossEntropy(7, 7 * world().size());
}

// A vocabulary the ranks do not divide: the last rank's block ends in 3
// columns of padding.
TEST(VocabParallel, CrossEntropyMasksThePaddedVocabulary) {
  checkCrossEntropy(7, 7 * world().size() - 3);
}

} // namespace

int main(int argc, char **argv) {
  // Run under mpirun -np 2 or -np 4.
  return slapo::test::runUnderJob(argc, argv, theJob, [](int ranks) {
    return ranks >= 2 && ranks % 2 == 0;
  });
}
