//===- Backend.h - where a plan runs: memory, stream, kernels ---*- C++ -*-===//
//
// The runtime's device seam, shaped like IREE's HAL: a backend owns memory
// in its space (the arena and any buffer the executor needs), copies
// between that space and the host, its stream, and its kernel table, in
// which kernels are found by name and operand dtypes. The core (plan,
// loader, Trainer, shards, checkpoints) only calls this interface, so it
// never runs loops over tensor memory itself. Backends: lib/Runtime/CPU
// ("cpu") and, where the CUDA toolkit is present, lib/Runtime/CUDA
// ("cuda").
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_BACKEND_H
#define SLAPO_RUNTIME_BACKEND_H

#include "slapo/Runtime/Kernels.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace slapo::rt {

class Backend {
public:
  virtual ~Backend() = default;

  /// The name --device gives it ("cpu").
  virtual const char *name() const = 0;
  virtual MemorySpace space() const = 0;

  /// `bytes` bytes of the backend's memory, 64-byte aligned; null with
  /// `error` when they cannot be had.
  virtual void *allocate(uint64_t bytes, std::string &error) = 0;
  virtual void release(void *memory) = 0;
  virtual void copyFromHost(void *to, const void *host, uint64_t bytes) = 0;
  virtual void copyToHost(void *host, const void *from, uint64_t bytes) = 0;
  /// Within the backend's memory.
  virtual void copy(void *to, const void *from, uint64_t bytes) = 0;
  virtual void zero(void *memory, uint64_t bytes) = 0;
  /// y += alpha * x over `count` elements of `dtype` (gradient
  /// accumulation).
  virtual void accumulate(void *y, const void *x, int64_t count, DType dtype,
                          float alpha) = 0;
  /// y += w * x, w the gradientWeight of the last setScalars: the form a
  /// range run through run() uses, since a replayed graph reads its
  /// scalars where setScalars put them.
  virtual void accumulateWeighted(void *y, const void *x, int64_t count,
                                  DType dtype) = 0;
  /// The sum of x[i]^2 over `count` elements, accumulated in double
  /// (gradient norms).
  virtual double sumOfSquares(const void *x, int64_t count, DType dtype) = 0;
  /// x *= factor over `count` elements (gradient clipping).
  virtual void scale(void *x, int64_t count, DType dtype, float factor) = 0;
  /// Sets `count` f32 elements to `value`.
  virtual void fill(float *to, int64_t count, float value) = 0;
  /// Sets `count` f32 elements to parameter draws (Random.h): element i is
  /// draw `first + i` of `key`, scale * normalAt or boundedUniformAt with
  /// bound `scale`. Every backend draws the same numbers.
  virtual void drawParameter(float *to, int64_t count, uint64_t key,
                             int64_t first, bool uniform, double scale) = 0;

  /// Makes `scalars` the ones kernels issued from now on read, and returns
  /// where they are in the backend's memory (KernelContext::deviceScalars),
  /// or null on a host backend.
  virtual const StepScalars *setScalars(const StepScalars &scalars) {
    (void)scalars;
    return nullptr;
  }
  /// Runs what `issue` puts on the stream. A backend with graphs (CUDA)
  /// captures it once a `key` has run (the second time it is seen) and
  /// replays the graph on every later call with that key: `issue` must then put
  /// the same work on the stream each time, its changing scalars read through
  /// setScalars. The default runs `issue`.
  virtual void run(uint64_t key, const std::function<void()> &issue) {
    (void)key;
    issue();
  }

  /// One line naming the device ("cpu", or the GPU and its memory).
  virtual std::string describe() const { return name(); }
  /// The most bytes of the backend's memory in use at once so far, as the
  /// device counts them, or 0 where the process's resident memory is the
  /// measure (host backends).
  virtual uint64_t peakDeviceBytes() const { return 0; }
  /// The device's index among those this process sees, or -1 for the
  /// host (a device group's communicators join on it).
  virtual int deviceIndex() const { return -1; }

  /// The stream kernels and copies are ordered on (null on the CPU).
  virtual Stream stream() = 0;
  /// A second stream, for collectives that overlap the kernels (the data-
  /// parallel gradient all-reduce); the stream itself where there is one
  /// only (the CPU).
  virtual Stream sideStream() { return stream(); }
  /// Work issued on `waiter` from now on waits for everything issued on
  /// `on` so far (a no-op where both are one stream).
  virtual void orderAfter(Stream waiter, Stream on) {
    (void)waiter;
    (void)on;
  }
  /// Waits for everything issued on the stream.
  virtual void synchronize() = 0;

  /// The kernel `name` for operands of these dtypes (inputs, then
  /// outputs), or null when the backend has none.
  virtual KernelFn findKernel(const std::string &name,
                              const std::vector<DType> &operands) const = 0;
};

/// The backend --device names: "cpu" or "cuda" (where built). Null, with
/// `error` naming the ones built, for any other name.
std::unique_ptr<Backend> createBackend(const std::string &name,
                                       std::string &error);

/// The names createBackend accepts.
std::vector<std::string> backendNames();

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_BACKEND_H
