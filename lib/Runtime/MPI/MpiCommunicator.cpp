//===- MpiCommunicator.cpp - collectives on CPU buffers over MPI ----------===//

#include "slapo/Runtime/Mpi.h"

#include <chrono>
#include <cstdlib>
#include <mpi.h>

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
    MPI_Allreduce(MPI_IN_PLACE, data, int(count), MPI_FLOAT, toMpi(op), comm);
  }
  void allReduce(int64_t *data, int64_t count, ReduceOp op) override {
    Stopwatch watch(spent);
    MPI_Allreduce(MPI_IN_PLACE, data, int(count), MPI_INT64_T, toMpi(op), comm);
  }
  void allGather(const float *in, float *out, int64_t count) override {
    Stopwatch watch(spent);
    MPI_Allgather(in, int(count), MPI_FLOAT, out, int(count), MPI_FLOAT, comm);
  }
  void reduceScatter(const float *in, float *out, int64_t count) override {
    Stopwatch watch(spent);
    MPI_Reduce_scatter_block(in, out, int(count), MPI_FLOAT, MPI_SUM, comm);
  }
  void broadcast(void *data, int64_t bytes, int root) override {
    Stopwatch watch(spent);
    MPI_Bcast(data, int(bytes), MPI_BYTE, root, comm);
  }

  MPI_Comm handle() const { return comm; }

private:
  MPI_Comm comm;
  bool owned;
  int myRank = 0, mySize = 1;
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

void abortAll(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

} // namespace slapo::rt::mpi
