//===- Communicator.h - collectives over a group of ranks ------*- C++ -*-===//
//
// The runtime's view of a process group. A tensor-parallel plan's `sync`
// kernels and vocab-parallel kernels talk to the tensor-parallel group; the
// trainer reduces gradients over the data-parallel group. Backends:
// `SelfCommunicator` (one rank, below), MPI (lib/Runtime/MPI) and NCCL
// (lib/Runtime/NCCL, device buffers).
//
// Every call is collective: all ranks of the group make it, in the same
// order, with the same counts. Buffers are in the memory space of the
// communicator's backend (host memory for MPI, device memory for NCCL).
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_COMMUNICATOR_H
#define SLAPO_RUNTIME_COMMUNICATOR_H

#include "slapo/Runtime/DType.h"

#include <cstdint>
#include <cstring>
#include <string>

namespace slapo::rt {

enum class ReduceOp { Sum, Max, Min };

/// A backend's stream or queue (a cudaStream_t on CUDA); null on the CPU.
using Stream = void *;

class Communicator {
public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  /// In place: every rank ends with the element-wise reduction of `count`
  /// elements of `dtype` at `data`, ordered on `stream`.
  virtual void allReduce(void *data, int64_t count, DType dtype, ReduceOp op,
                         Stream stream) = 0;
  /// `out` (size() * count) is every rank's `in` (count), in rank order.
  virtual void allGather(const void *in, void *out, int64_t count, DType dtype,
                         Stream stream) = 0;
  /// `in` (size() * count) is reduced by sum; rank r receives block r.
  virtual void reduceScatter(const void *in, void *out, int64_t count,
                             DType dtype, Stream stream) = 0;
  /// Rank `root`'s `bytes` bytes at `data` reach every rank.
  virtual void broadcast(void *data, int64_t bytes, int root,
                         Stream stream) = 0;

  // Typed forms, on the default stream.
  void allReduce(float *data, int64_t count, ReduceOp op) {
    allReduce(data, count, DType::F32, op, nullptr);
  }
  void allReduce(int64_t *data, int64_t count, ReduceOp op) {
    allReduce(data, count, DType::I64, op, nullptr);
  }
  void allGather(const float *in, float *out, int64_t count) {
    allGather(in, out, count, DType::F32, nullptr);
  }
  void reduceScatter(const float *in, float *out, int64_t count) {
    reduceScatter(in, out, count, DType::F32, nullptr);
  }
  void broadcast(void *data, int64_t bytes, int root) {
    broadcast(data, bytes, root, nullptr);
  }

  /// Seconds spent inside collectives so far.
  double seconds() const { return spent; }

protected:
  double spent = 0.0;
};

/// A group of one: every collective returns its input.
class SelfCommunicator final : public Communicator {
public:
  using Communicator::allGather;
  using Communicator::allReduce;
  using Communicator::broadcast;
  using Communicator::reduceScatter;
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allReduce(void *, int64_t, DType, ReduceOp, Stream) override {}
  void allGather(const void *in, void *out, int64_t count, DType dtype,
                 Stream) override {
    if (in != out)
      std::memmove(out, in, size_t(count * dtypeBytes(dtype)));
  }
  void reduceScatter(const void *in, void *out, int64_t count, DType dtype,
                     Stream stream) override {
    allGather(in, out, count, dtype, stream);
  }
  void broadcast(void *, int64_t, int, Stream) override {}
};

/// Makes a check that may fail on some ranks collective: every rank of
/// `group` passes `ok`; if any failed, all return false and `error` becomes
/// the first failing rank's message (prefixed "rank r of n: " where others
/// passed). Never leaves one rank waiting in a later collective that a
/// failed rank skips.
bool agreeAcross(Communicator &group, bool ok, std::string &error);

/// The two groups a rank belongs to. Ranks are numbered dp-major: world
/// rank = dp rank * tp + tp rank, so a tensor-parallel group is `tp`
/// neighbouring ranks (on one node, where the fast links are).
struct ProcessGroups {
  Communicator *tp = nullptr;
  Communicator *dp = nullptr;
};

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_COMMUNICATOR_H
