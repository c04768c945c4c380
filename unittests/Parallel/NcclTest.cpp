//===- NcclTest.cpp - the NCCL backend against the MPI one ----------------===//
//
// Run under mpirun, one CUDA device per rank (NCCL refuses two ranks on one
// device): each collective on device buffers must give what the MPI
// backend gives on the same host values. Skips, saying why, where there
// are fewer devices than ranks.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Nccl.h"
#include "JobTestMain.h"
#include "slapo/Runtime/Job.h"

#include "gtest/gtest.h"

#include <chrono>
#include <cuda_runtime.h>
#include <nccl.h>
#include <vector>

using namespace slapo::rt;

namespace {

Job *theJob = nullptr;

/// Host values in device memory, and back.
struct DeviceBuffer {
  float *device = nullptr;
  size_t count;
  explicit DeviceBuffer(const std::vector<float> &host) : count(host.size()) {
    cudaMalloc(&device, count * sizeof(float));
    cudaMemcpy(device, host.data(), count * sizeof(float),
               cudaMemcpyHostToDevice);
  }
  explicit DeviceBuffer(size_t n) : count(n) {
    cudaMalloc(&device, count * sizeof(float));
  }
  ~DeviceBuffer() { cudaFree(device); }
  std::vector<float> host() const {
    std::vector<float> out(count);
    cudaMemcpy(out.data(), device, count * sizeof(float),
               cudaMemcpyDeviceToHost);
    return out;
  }
};

// A rank that fails before the unique id's broadcast (here: a device that
// does not exist) must end every rank's create() with its message, not
// leave rank 0 waiting in the broadcast.
TEST(Nccl, BootstrapFailureOnOneRankEndsEveryRank) {
  Communicator &mpi = theJob->world();
  if (mpi.size() < 2)
    GTEST_SKIP() << "needs two ranks";
  if (nccl::deviceCount() < 1)
    GTEST_SKIP() << "needs a CUDA device for rank 0, none here";
  std::string error;
  std::unique_ptr<Communicator> gpu =
      nccl::create(mpi, mpi.rank() == 1 ? -1 : 0, error);
  EXPECT_FALSE(gpu);
  EXPECT_NE(error.find("cudaSetDevice(-1)"), std::string::npos) << error;
}

// A rank that fails inside NCCL's init leaves the others' inits
// unfinished: they must give up at the deadline and report that rank's
// failure. Rank 1 plays such a rank: it takes part in create()'s protocol
// up to the unique id, never joins NCCL, and reports a failure.
TEST(Nccl, InitFailureOnOneRankEndsEveryRank) {
  Communicator &mpi = theJob->world();
  if (mpi.size() != 2)
    GTEST_SKIP() << "needs exactly two ranks";
  if (nccl::deviceCount() < 1)
    GTEST_SKIP() << "needs a CUDA device for rank 0, none here";
  std::string error;
  if (mpi.rank() == 1) {
    ASSERT_TRUE(agreeAcross(mpi, true, error));
    ncclUniqueId id;
    mpi.broadcast(&id, sizeof id, 0);
    error = "failed inside its NCCL init";
    EXPECT_FALSE(agreeAcross(mpi, false, error));
    return;
  }
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Communicator> gpu =
      nccl::create(mpi, 0, error, /*initTimeoutSeconds=*/5);
  double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_FALSE(gpu);
  EXPECT_EQ(error, "rank 1 of 2: failed inside its NCCL init");
  EXPECT_LT(waited, 60);
}

TEST(Nccl, CollectivesMatchMpi) {
  Communicator &mpi = theJob->world();
  int devices = nccl::deviceCount();
  if (devices < mpi.size())
    GTEST_SKIP() << "NCCL needs one CUDA device per rank: " << mpi.size()
                 << " ranks, " << devices << " device(s) here";
  std::string error;
  std::unique_ptr<Communicator> gpu =
      nccl::create(mpi, mpi.rank() % devices, error);
  ASSERT_TRUE(gpu) << error;
  ASSERT_EQ(gpu->rank(), mpi.rank());
  int p = mpi.size(), r = mpi.rank();
  const size_t n = 1000;
  std::vector<float> values(n * p);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = float((i * 7 + size_t(r) * 13) % 101) * 0.5f - 20.0f;

  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max}) {
    std::vector<float> want = values;
    mpi.allReduce(want.data(), int64_t(want.size()), op);
    DeviceBuffer buffer(values);
    gpu->allReduce(buffer.device, int64_t(buffer.count), op);
    EXPECT_EQ(buffer.host(), want);
  }
  std::vector<float> gathered(n * p * p);
  mpi.allGather(values.data(), gathered.data(), int64_t(n * p));
  DeviceBuffer in(values), out(gathered.size());
  gpu->allGather(in.device, out.device, int64_t(n * p));
  EXPECT_EQ(out.host(), gathered);

  std::vector<float> scattered(n);
  mpi.reduceScatter(values.data(), scattered.data(), int64_t(n));
  DeviceBuffer block(n);
  gpu->reduceScatter(in.device, block.device, int64_t(n));
  EXPECT_EQ(block.host(), scattered);

  std::vector<float> root = values;
  mpi.broadcast(root.data(), int64_t(root.size() * sizeof(float)), p - 1);
  DeviceBuffer shared(values);
  gpu->broadcast(shared.device, int64_t(shared.count * sizeof(float)), p - 1);
  EXPECT_EQ(shared.host(), root);
  EXPECT_GT(gpu->seconds(), 0.0);
}

} // namespace

int main(int argc, char **argv) {
  // Run under mpirun.
  return slapo::test::runUnderJob(argc, argv, theJob, [](int) { return true; });
}
