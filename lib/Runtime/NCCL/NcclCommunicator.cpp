//===- NcclCommunicator.cpp - collectives on GPU buffers over NCCL --------===//

#include "slapo/Runtime/Nccl.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>
#include <nccl.h>
#include <thread>

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

/// The communicator is non-blocking (so that a failed init can be
/// abandoned): any call may answer "in progress"; wait until it is done.
ncclResult_t settle(ncclComm_t comm, ncclResult_t result) {
  while (result == ncclInProgress) {
    std::this_thread::yield();
    if (ncclResult_t e = ncclCommGetAsyncError(comm, &result); e != ncclSuccess)
      return e;
  }
  return result;
}

/// Joins the communicator, waiting at most `timeoutSeconds`: a rank that
/// failed inside its own init leaves the others' inits unfinished, never
/// failed. Null, with `error`, on failure or timeout (`timedOut`; the
/// half-made communicator is aborted).
ncclComm_t joinCommunicator(const ncclUniqueId &id, int size, int rank,
                            double timeoutSeconds, std::string &error,
                            bool &timedOut) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ncclResult_t state = ncclCommInitRankConfig(&comm, size, id, rank, &config);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration<double>(timeoutSeconds);
  while (state == ncclInProgress &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (ncclResult_t e = ncclCommGetAsyncError(comm, &state); e != ncclSuccess)
      state = e;
  }
  if (state == ncclSuccess)
    return comm;
  timedOut = state == ncclInProgress;
  if (timedOut)
    error = "ncclCommInitRank did not finish in " +
            std::to_string(int(timeoutSeconds)) +
            " s (did another rank fail in its init?)";
  else
    error = std::string("ncclCommInitRank: ") + ncclGetErrorString(state);
  if (comm)
    ncclCommAbort(comm);
  return nullptr;
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
    settle(comm, ncclCommDestroy(comm));
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
      check(settle(comm, ncclAllReduce(data, data, size_t(count), toNccl(dtype),
                                       toNccl(op), comm, s)),
            "all_reduce");
    });
  }
  void allGather(const void *in, void *out, int64_t count, DType dtype,
                 Stream on) override {
    timed(on, [&](cudaStream_t s) {
      check(settle(comm, ncclAllGather(in, out, size_t(count), toNccl(dtype),
                                       comm, s)),
            "all_gather");
    });
  }
  void reduceScatter(const void *in, void *out, int64_t count, DType dtype,
                     Stream on) override {
    timed(on, [&](cudaStream_t s) {
      check(settle(comm, ncclReduceScatter(in, out, size_t(count),
                                           toNccl(dtype), ncclSum, comm, s)),
            "reduce_scatter");
    });
  }
  void broadcast(void *data, int64_t bytes, int root, Stream on) override {
    timed(on, [&](cudaStream_t s) {
      check(settle(comm, ncclBroadcast(data, data, size_t(bytes), ncclUint8,
                                       root, comm, s)),
            "broadcast");
    });
  }

private:
  template <typename F> void timed(Stream on, F launch) {
    auto start = std::chrono::steady_clock::now();
    cudaStream_t s = on ? static_cast<cudaStream_t>(on) : stream;
    launch(s);
    // A stream being captured into a graph (the CUDA backend's step) may
    // not be waited for: the collective is then ordered on it, as the
    // graph's kernels are.
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    check(cudaStreamIsCapturing(s, &capturing), "capture query");
    if (capturing == cudaStreamCaptureStatusNone)
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
                                     std::string &error,
                                     double initTimeoutSeconds) {
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
  // A rank whose init fails stops waiting at once, the others at the
  // deadline. The ranks then agree twice, so that the failure itself is
  // what every rank reports, not the timeouts it caused.
  bool timedOut = false;
  ncclComm_t comm = joinCommunicator(id, bootstrap.size(), bootstrap.rank(),
                                     initTimeoutSeconds, error, timedOut);
  if (!agreeAcross(bootstrap, comm || timedOut, error) ||
      !agreeAcross(bootstrap, comm != nullptr, error)) {
    if (comm)
      settle(comm, ncclCommDestroy(comm));
    cudaStreamDestroy(stream);
    return nullptr;
  }
  return std::make_unique<NcclCommunicator>(comm, stream, bootstrap.rank(),
                                            bootstrap.size());
}

} // namespace slapo::rt::nccl
