//===- MpiCommunicator.cpp - collectives on CPU buffers over MPI ----------===//

#include "slapo/Runtime/Mpi.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mpi.h>
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
      MPI_Allreduce(MPI_IN_PLACE, base + first * size, n, toMpi(dtype),
                    toMpi(op), comm);
    });
  }
  void allGather(const void *in, void *out, int64_t count, DType dtype,
                 Stream) override {
    Stopwatch watch(spent);
    MPI_Datatype type = toMpi(dtype);
    if (count <= maxCount) {
      MPI_Allgather(in, int(count), type, out, int(count), type, comm);
      return;
    }
    // Chunk c of every rank arrives side by side; each goes to its block.
    int64_t size = dtypeBytes(dtype);
    const char *from = static_cast<const char *>(in);
    char *to = static_cast<char *>(out);
    std::vector<char> gathered;
    forEachChunk(count, stagedLimit(dtype), [&](int64_t first, int n) {
      gathered.resize(size_t(n * size) * mySize);
      MPI_Allgather(from + first * size, n, type, gathered.data(), n, type,
                    comm);
      for (int r = 0; r < mySize; ++r)
        std::copy_n(gathered.data() + int64_t(r) * n * size, n * size,
                    to + (r * count + first) * size);
    });
  }
  void reduceScatter(const void *in, void *out, int64_t count, DType dtype,
                     Stream) override {
    Stopwatch watch(spent);
    MPI_Datatype type = toMpi(dtype);
    if (count <= maxCount) {
      MPI_Reduce_scatter_block(in, out, int(count), type, MPI_SUM, comm);
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
      MPI_Reduce_scatter_block(packed.data(), to + first * size, n, type,
                               MPI_SUM, comm);
    });
  }
  void broadcast(void *data, int64_t bytes, int root, Stream) override {
    Stopwatch watch(spent);
    auto *base = static_cast<char *>(data);
    forEachChunk(bytes, [&](int64_t first, int n) {
      MPI_Bcast(base + first, n, MPI_BYTE, root, comm);
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
  if (MPI_Init(argc, argv) != MPI_SUCCESS) {
    error = "MPI_Init failed";
    return false;
  }
  return true;
}

void finalize() { MPI_Finalize(); }

std::unique_ptr<Communicator> world() {
  return std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, false);
}

std::unique_ptr<Communicator> split(Communicator &parent, int color, int key) {
  MPI_Comm comm;
  MPI_Comm_split(static_cast<MpiCommunicator &>(parent).handle(), color, key,
                 &comm);
  return std::make_unique<MpiCommunicator>(comm, true);
}

void setMaxCountPerCall(Communicator &communicator, int64_t count) {
  static_cast<MpiCommunicator &>(communicator).setMaxCount(count);
}

void abortAll(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

} // namespace slapo::rt::mpi
