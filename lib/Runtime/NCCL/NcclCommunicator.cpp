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

ncclDataType_t toNccl(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return ncclFloat32;
  case DType::BF16:
    return ncclBfloat16;
  case DType::F16:
    return ncclFloat16;
  case DType::I64:
    return ncclInt64;
  case DType::I32:
    return ncclInt32;
  case DType::I8:
    return ncclInt8;
  case DType::U8:
    return ncclUint8;
  }
  return ncclUint8;
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

  using Communicator::allGather;
  using Communicator::allReduce;
  using Communicator::broadcast;
  using Communicator::reduceScatter;

  // A null stream is the communicator's own.
  void allReduce(void *data, int64_t count, DType dtype, ReduceOp op,
                 Stream on) override {
    timed(on, [&](cudaStream_t s) {
      check(ncclAllReduce(data, data, size_t(count), toNccl(dtype), toNccl(op),
                          comm, s),
            "all_reduce");
    });
  }
  void allGather(const void *in, void *out, int64_t count, DType dtype,
                 Stream on) override {
    timed(on, [&](cudaStream_t s) {
      check(ncclAllGather(in, out, size_t(count), toNccl(dtype), comm, s),
            "all_gather");
    });
  }
  void reduceScatter(const void *in, void *out, int64_t count, DType dtype,
                     Stream on) override {
    timed(on, [&](cudaStream_t s) {
      check(ncclReduceScatter(in, out, size_t(count), toNccl(dtype), ncclSum,
                              comm, s),
            "reduce_scatter");
    });
  }
  void broadcast(void *data, int64_t bytes, int root, Stream on) override {
    timed(on, [&](cudaStream_t s) {
      check(ncclBroadcast(data, data, size_t(bytes), ncclUint8, root, comm, s),
            "broadcast");
    });
  }

private:
  template <typename F> void timed(Stream on, F launch) {
    auto start = std::chrono::steady_clock::now();
    cudaStream_t s = on ? static_cast<cudaStream_t>(on) : stream;
    launch(s);
    check(cudaStreamSynchronize(s), "stream synchronize");
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
  cudaStream_t stream = nullptr;
  if (ok)
    if (cudaError_t e = cudaStreamCreate(&stream); e != cudaSuccess) {
      ok = false;
      error = std::string("cudaStreamCreate: ") + cudaGetErrorString(e);
    }
  if (!agreeAcross(bootstrap, ok, error)) {
    if (stream)
      cudaStreamDestroy(stream);
    return nullptr;
  }
  bootstrap.broadcast(&id, sizeof id, 0);
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
