//===- MpiCommunicator.cpp - collectives on CPU buffers over MPI ----------===//

#include "slapo/Runtime/Mpi.h"

#include <algorithm>
#include <chrono>
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

  void allReduce(float *data, int64_t count, ReduceOp op) override {
    Stopwatch watch(spent);
    forEachChunk(count, [&](int64_t first, int n) {
      MPI_Allreduce(MPI_IN_PLACE, data + first, n, MPI_FLOAT, toMpi(op), comm);
    });
  }
  void allReduce(int64_t *data, int64_t count, ReduceOp op) override {
    Stopwatch watch(spent);
    forEachChunk(count, [&](int64_t first, int n) {
      MPI_Allreduce(MPI_IN_PLACE, data + first, n, MPI_INT64_T, toMpi(op),
                    comm);
    });
  }
  void allGather(const float *in, float *out, int64_t count) override {
    Stopwatch watch(spent);
    if (count <= maxCount) {
      MPI_Allgather(in, int(count), MPI_FLOAT, out, int(count), MPI_FLOAT,
                    comm);
      return;
    }
    // Chunk c of every rank arrives side by side; each goes to its block.
    std::vector<float> gathered;
    forEachChunk(count, [&](int64_t first, int n) {
      gathered.resize(size_t(n) * mySize);
      MPI_Allgather(in + first, n, MPI_FLOAT, gathered.data(), n, MPI_FLOAT,
                    comm);
      for (int r = 0; r < mySize; ++r)
        std::copy_n(gathered.data() + int64_t(r) * n, n,
                    out + r * count + first);
    });
  }
  void reduceScatter(const float *in, float *out, int64_t count) override {
    Stopwatch watch(spent);
    if (count <= maxCount) {
      MPI_Reduce_scatter_block(in, out, int(count), MPI_FLOAT, MPI_SUM, comm);
      return;
    }
    std::vector<float> packed;
    forEachChunk(count, [&](int64_t first, int n) {
      packed.resize(size_t(n) * mySize);
      for (int r = 0; r < mySize; ++r)
        std::copy_n(in + r * count + first, n, packed.data() + int64_t(r) * n);
      MPI_Reduce_scatter_block(packed.data(), out + first, n, MPI_FLOAT,
                               MPI_SUM, comm);
    });
  }
  void broadcast(void *data, int64_t bytes, int root) override {
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
    for (int64_t first = 0; first < count; first += maxCount)
      call(first, int(std::min(maxCount, count - first)));
  }

  MPI_Comm comm;
  bool owned;
  int myRank = 0, mySize = 1;
  int64_t maxCount = std::numeric_limits<int>::max();
};

} // namespace

bool launchedByLauncher() {
  for (const char *variable :
       {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(variable))
      return true;
  return false;
}

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
