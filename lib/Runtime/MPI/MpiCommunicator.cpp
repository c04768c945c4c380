//===- MpiCommunicator.cpp - collectives on CPU buffers over MPI ----------===//

#include "slapo/Runtime/Mpi.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mpi.h>
#include <sched.h>
#include <string>
#include <thread>
#include <vector>

namespace slapo::rt::mpi {

namespace {

MPI_Op toMpi(ReduceOp op) {
  switch (op) {
  case ReduceOp::Sum:
    return MPI_SUM;
  case ReduceOp::Max:
    return MPI_MAX;
  case ReduceOp::Min:
    return MPI_MIN;
  }
  return MPI_SUM;
}

MPI_Datatype toMpi(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return MPI_FLOAT;
  case DType::I64:
    return MPI_INT64_T;
  case DType::I32:
    return MPI_INT32_T;
  case DType::I8:
    return MPI_INT8_T;
  case DType::U8:
    return MPI_UINT8_T;
  case DType::BF16:
  case DType::F16:
    break; // MPI has no 16-bit floats: NCCL carries those on GPUs
  }
  std::fprintf(stderr, "slapo-run: internal error: MPI cannot reduce %s\n",
               dtypeName(dtype));
  std::abort();
}

/// Seconds a collective waits for the other ranks (setCollectiveTimeout).
double collectiveTimeout = 300.0;

/// Waits for a non-blocking collective on `comm`. MPI moves it on inside
/// MPI_Test, so the wait polls: back to back for the first millisecond
/// (where most of a step's collectives end), then yielding the core, and
/// after 50 ms in naps of 1 ms, so a rank that waits for minutes costs
/// next to no CPU. Past the timeout the rank says which collective did not
/// complete (`what`, of `count` elements of `dtype`, or of `count` bytes
/// where `dtype` is null; no size where `count` < 0) and ends the job: a
/// stopped, hung or dead rank never leaves the others waiting forever.
void complete(MPI_Request request, MPI_Comm comm, const char *what,
              int64_t count = -1, const char *dtype = nullptr) {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now(), last = start;
  for (int done = 0;;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done)
      return;
    // A gap between two polls is time this rank was stopped itself (a
    // suspended job, SIGSTOP): not time spent waiting for the others.
    Clock::time_point now = Clock::now();
    if (now - last > std::chrono::seconds(1))
      start += now - last;
    last = now;
    double waited = std::chrono::duration<double>(now - start).count();
    if (waited > collectiveTimeout)
      break;
    if (waited > 0.05)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    else if (waited > 0.001)
      sched_yield();
  }
  int rank = 0, size = 1, groupSize = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_size(comm, &groupSize);
  std::string call = what;
  if (count >= 0)
    call += " of " + std::to_string(count) +
            (dtype ? " " + std::string(dtype) + " element" : " byte") +
            (count == 1 ? "" : "s");
  if (groupSize != size)
    call += " among " + std::to_string(groupSize) + " ranks";
  std::fprintf(stderr,
               "slapo-run: error: rank %d of %d: %s did not complete within "
               "%g s (another rank stopped, hung or died); ending the job "
               "(--timeout sets the limit)\n",
               rank, size, call.c_str(), collectiveTimeout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

/// Adds the time of one collective to a communicator's total.
class Stopwatch {
public:
  explicit Stopwatch(double &total)
      : total(total), start(std::chrono::steady_clock::now()) {}
  ~Stopwatch() {
    total +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }

private:
  double &total;
  std::chrono::steady_clock::time_point start;
};

/// MPI counts are `int`: a collective on more elements is made of calls on
/// at most `maxCount` each.
class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator(MPI_Comm comm, bool owned) : comm(comm), owned(owned) {
    MPI_Comm_rank(comm, &myRank);
    MPI_Comm_size(comm, &mySize);
  }
  ~MpiCommunicator() override {
    if (owned)
      MPI_Comm_free(&comm);
  }

  int rank() const override { return myRank; }
  int size() const override { return mySize; }

  using Communicator::allGather;
  using Communicator::allReduce;
  using Communicator::broadcast;
  using Communicator::reduceScatter;

  void allReduce(void *data, int64_t count, DType dtype, ReduceOp op,
                 Stream) override {
    Stopwatch watch(spent);
    char *base = static_cast<char *>(data);
    int64_t size = dtypeBytes(dtype);
    forEachChunk(count, [&](int64_t first, int n) {
      MPI_Request request;
      MPI_Iallreduce(MPI_IN_PLACE, base + first * size, n, toMpi(dtype),
                     toMpi(op), comm, &request);
      complete(request, comm, "allreduce", count, dtypeName(dtype));
    });
  }
  void allGather(const void *in, void *out, int64_t count, DType dtype,
                 Stream) override {
    Stopwatch watch(spent);
    MPI_Datatype type = toMpi(dtype);
    auto gather = [&](const void *from, void *to, int n) {
      MPI_Request request;
      MPI_Iallgather(from, n, type, to, n, type, comm, &request);
      complete(request, comm, "allgather", count, dtypeName(dtype));
    };
    if (count <= maxCount) {
      gather(in, out, int(count));
      return;
    }
    // Chunk c of every rank arrives side by side; each goes to its block.
    int64_t size = dtypeBytes(dtype);
    const char *from = static_cast<const char *>(in);
    char *to = static_cast<char *>(out);
    std::vector<char> gathered;
    forEachChunk(count, stagedLimit(dtype), [&](int64_t first, int n) {
      gathered.resize(size_t(n * size) * mySize);
      gather(from + first * size, gathered.data(), n);
      for (int r = 0; r < mySize; ++r)
        std::copy_n(gathered.data() + int64_t(r) * n * size, n * size,
                    to + (r * count + first) * size);
    });
  }
  void reduceScatter(const void *in, void *out, int64_t count, DType dtype,
                     Stream) override {
    Stopwatch watch(spent);
    MPI_Datatype type = toMpi(dtype);
    auto scatter = [&](const void *from, void *to, int n) {
      MPI_Request request;
      MPI_Ireduce_scatter_block(from, to, n, type, MPI_SUM, comm, &request);
      complete(request, comm, "reduce-scatter", count, dtypeName(dtype));
    };
    if (count <= maxCount) {
      scatter(in, out, int(count));
      return;
    }
    int64_t size = dtypeBytes(dtype);
    const char *from = static_cast<const char *>(in);
    char *to = static_cast<char *>(out);
    std::vector<char> packed;
    forEachChunk(count, stagedLimit(dtype), [&](int64_t first, int n) {
      packed.resize(size_t(n * size) * mySize);
      for (int r = 0; r < mySize; ++r)
        std::copy_n(from + (r * count + first) * size, n * size,
                    packed.data() + int64_t(r) * n * size);
      scatter(packed.data(), to + first * size, n);
    });
  }
  void broadcast(void *data, int64_t bytes, int root, Stream) override {
    Stopwatch watch(spent);
    auto *base = static_cast<char *>(data);
    forEachChunk(bytes, [&](int64_t first, int n) {
      MPI_Request request;
      MPI_Ibcast(base + first, n, MPI_BYTE, root, comm, &request);
      complete(request, comm, "broadcast", bytes, nullptr);
    });
  }

  MPI_Comm handle() const { return comm; }
  void setMaxCount(int64_t count) { maxCount = count; }

private:
  template <typename Call> void forEachChunk(int64_t count, Call call) const {
    forEachChunk(count, maxCount, call);
  }
  template <typename Call>
  void forEachChunk(int64_t count, int64_t limit, Call call) const {
    for (int64_t first = 0; first < count; first += limit)
      call(first, int(std::min(limit, count - first)));
  }
  /// Elements a chunk of a split gather or scatter carries: it is staged
  /// for every rank, so at most 64 MiB in all.
  int64_t stagedLimit(DType dtype) const {
    int64_t fit = (int64_t(64) << 20) / (dtypeBytes(dtype) * mySize);
    return std::max<int64_t>(1, std::min(maxCount, fit));
  }

  MPI_Comm comm;
  bool owned;
  int myRank = 0, mySize = 1;
  int64_t maxCount = std::numeric_limits<int>::max();
};

} // namespace

bool initialize(int *argc, char ***argv, std::string &error) {
  // Open MPI's non-blocking all-reduce (libnbc) takes, below 4 ranks or in
  // place, a binomial tree: 1.3 to 1.7 times the blocking call's time from
  // 100k floats up. Rabenseifner's algorithm (3) is within 20% of it. A
  // choice made in the environment (mpirun --mca ...) stays.
  setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", /*overwrite=*/0);
  if (MPI_Init(argc, argv) != MPI_SUCCESS) {
    error = "MPI_Init failed";
    return false;
  }
  return true;
}

void finalize() {
  // MPI_Finalize waits for every rank, with no timeout of its own.
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  complete(request, MPI_COMM_WORLD, "the barrier before MPI_Finalize");
  MPI_Finalize();
}

std::unique_ptr<Communicator> world() {
  return std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, false);
}

std::unique_ptr<Communicator> split(Communicator &parent, int color, int key) {
  MPI_Comm from = static_cast<MpiCommunicator &>(parent).handle(), comm;
  // MPI_Comm_split has no timeout and no non-blocking form: a barrier
  // first, with the timeout, sees that every rank came.
  MPI_Request request;
  MPI_Ibarrier(from, &request);
  complete(request, from, "the barrier before MPI_Comm_split");
  MPI_Comm_split(from, color, key, &comm);
  return std::make_unique<MpiCommunicator>(comm, true);
}

void setCollectiveTimeout(double seconds) { collectiveTimeout = seconds; }

void setMaxCountPerCall(Communicator &communicator, int64_t count) {
  static_cast<MpiCommunicator &>(communicator).setMaxCount(count);
}

void abortAll(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

} // namespace slapo::rt::mpi
