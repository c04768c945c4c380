//===- NcclCommunicator.cpp - collectives on GPU buffers over NCCL --------===//

#include "slapo/Runtime/Nccl.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>
#include <nccl.h>

namespace slapo::rt::nccl {

namespace {

ncclRedOp_t toNccl(ReduceOp op) {
  switch (op) {
  case ReduceOp::Sum:
    return ncclSum;
  case ReduceOp::Max:
    return ncclMax;
  case ReduceOp::Min:
    return ncclMin;
  }
  return ncclSum;
}

/// A collective that fails mid-run cannot be recovered: say so and end
/// this rank; the launcher ends the others.
void check(ncclResult_t result, const char *what) {
  if (result == ncclSuccess)
    return;
  std::fprintf(stderr, "slapo-run: error: NCCL %s failed: %s\n", what,
               ncclGetErrorString(result));
  std::exit(1);
}

void check(cudaError_t result, const char *what) {
  if (result == cudaSuccess)
    return;
  std::fprintf(stderr, "slapo-run: error: CUDA %s failed: %s\n", what,
               cudaGetErrorString(result));
  std::exit(1);
}

class NcclCommunicator final : public Communicator {
public:
  NcclCommunicator(ncclComm_t comm, cudaStream_t stream, int rank, int size)
      : comm(comm), stream(stream), myRank(rank), mySize(size) {}
  ~NcclCommunicator() override {
    ncclCommDestroy(comm);
    cudaStreamDestroy(stream);
  }

  int rank() const override { return myRank; }
  int size() const override { return mySize; }

  void allReduce(float *data, int64_t count, ReduceOp op) override {
    timed([&] {
      check(ncclAllReduce(data, data, size_t(count), ncclFloat32, toNccl(op),
                          comm, stream),
            "all_reduce");
    });
  }
  void allReduce(int64_t *data, int64_t count, ReduceOp op) override {
    timed([&] {
      check(ncclAllReduce(data, data, size_t(count), ncclInt64, toNccl(op),
                          comm, stream),
            "all_reduce");
    });
  }
  void allGather(const float *in, float *out, int64_t count) override {
    timed([&] {
      check(ncclAllGather(in, out, size_t(count), ncclFloat32, comm, stream),
            "all_gather");
    });
  }
  void reduceScatter(const float *in, float *out, int64_t count) override {
    timed([&] {
      check(ncclReduceScatter(in, out, size_t(count), ncclFloat32, ncclSum,
                              comm, stream),
            "reduce_scatter");
    });
  }
  void broadcast(void *data, int64_t bytes, int root) override {
    timed([&] {
      check(ncclBroadcast(data, data, size_t(bytes), ncclUint8, root, comm,
                          stream),
            "broadcast");
    });
  }

private:
  template <typename F> void timed(F launch) {
    auto start = std::chrono::steady_clock::now();
    launch();
    check(cudaStreamSynchronize(stream), "stream synchronize");
    spent +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }

  ncclComm_t comm;
  cudaStream_t stream;
  int myRank, mySize;
};

} // namespace

int deviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess)
    return 0;
  return count;
}

std::unique_ptr<Communicator> create(Communicator &bootstrap, int device,
                                     std::string &error) {
  auto failed = [&](const std::string &what, const char *why) {
    error = what + ": " + why;
    return nullptr;
  };
  // Every rank must reach the unique id's broadcast, or say why not: a
  // rank that failed before it would leave the others waiting forever.
  bool ok = true;
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) {
    ok = false;
    error = "cudaSetDevice(" + std::to_string(device) +
            "): " + cudaGetErrorString(e);
  }
  ncclUniqueId id{};
  if (ok && bootstrap.rank() == 0)
    if (ncclResult_t e = ncclGetUniqueId(&id); e != ncclSuccess) {
      ok = false;
      error = std::string("ncclGetUniqueId: ") + ncclGetErrorString(e);
    }
  if (!agreeAcross(bootstrap, ok, error))
    return nullptr;
  bootstrap.broadcast(&id, sizeof id, 0);
  cudaStream_t stream;
  if (cudaError_t e = cudaStreamCreate(&stream); e != cudaSuccess)
    return failed("cudaStreamCreate", cudaGetErrorString(e));
  ncclComm_t comm;
  if (ncclResult_t e =
          ncclCommInitRank(&comm, bootstrap.size(), id, bootstrap.rank());
      e != ncclSuccess) {
    cudaStreamDestroy(stream);
    return failed("ncclCommInitRank", ncclGetErrorString(e));
  }
  return std::make_unique<NcclCommunicator>(comm, stream, bootstrap.rank(),
                                            bootstrap.size());
}

} // namespace slapo::rt::nccl
