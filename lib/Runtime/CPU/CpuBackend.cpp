//===- CpuBackend.cpp - the CPU backend: host memory, OpenMP kernels -----===//
//
// The arena is host memory; copies are memcpy; the stream is the calling
// thread. Kernels are found by name and operand dtypes: f32 activations, or
// bf16 ones computed in float32 (Element.h); int64 ids and targets.
//
//===----------------------------------------------------------------------===//

#include "CpuBackend.h"
#include "../KernelTable.h"
#include "../Random.h"
#include "CPUKernels.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace slapo::rt {

namespace {

const std::vector<TableKernel> &cpuKernels() {
  using namespace cpu;
  static const std::vector<TableKernel> kernels = {
#define SLAPO_TYPED_KERNEL(name, fn) {name, fn<float>, fn<bf16>},
#define SLAPO_SHARED_KERNEL(name, fn) {name, fn, fn},
#define SLAPO_F32_KERNEL(name, fn) {name, fn, nullptr},
#include "../KernelTable.def"
  };
  return kernels;
}

class CpuBackend final : public Backend {
public:
  const char *name() const override { return "cpu"; }
  MemorySpace space() const override { return MemorySpace::Host; }

  void *allocate(uint64_t bytes, std::string &error) override {
    uint64_t rounded = bytes / 64 * 64 + 64; // never 0, never short
    void *memory = rounded > bytes ? std::aligned_alloc(64, rounded) : nullptr;
    if (!memory)
      error =
          "cannot allocate " + std::to_string(bytes) + " bytes of host memory";
    return memory;
  }
  void release(void *memory) override { std::free(memory); }
  void copyFromHost(void *to, const void *host, uint64_t bytes) override {
    copy(to, host, bytes);
  }
  void copyToHost(void *host, const void *from, uint64_t bytes) override {
    copy(host, from, bytes);
  }
  void copy(void *to, const void *from, uint64_t bytes) override {
    if (to != from && bytes)
      std::memmove(to, from, bytes);
  }
  void zero(void *memory, uint64_t bytes) override {
    std::memset(memory, 0, bytes);
  }
  void accumulate(void *y, const void *x, int64_t count, DType dtype,
                  float alpha) override {
    requireF32("cpu", dtype, "accumulates");
    cpu::accumulate(static_cast<float *>(y), static_cast<const float *>(x),
                    count, alpha);
  }
  void accumulateWeighted(void *y, const void *x, int64_t count,
                          DType dtype) override {
    accumulate(y, x, count, dtype, weight);
  }
  const StepScalars *setScalars(const StepScalars &scalars) override {
    weight = scalars.gradientWeight;
    return nullptr; // kernels read the context's host fields
  }
  double sumOfSquares(const void *x, int64_t count, DType dtype) override {
    requireF32("cpu", dtype, "sums squares of");
    return cpu::sumOfSquares(static_cast<const float *>(x), count);
  }
  void scale(void *x, int64_t count, DType dtype, float factor) override {
    requireF32("cpu", dtype, "scales");
    cpu::scale(static_cast<float *>(x), count, factor);
  }
  void fill(float *to, int64_t count, float value) override {
#pragma omp parallel for if (count > 16384)
    for (int64_t i = 0; i < count; ++i)
      to[i] = value;
  }
  void drawParameter(float *to, int64_t count, uint64_t key, int64_t first,
                     bool uniform, double scale) override {
#pragma omp parallel for if (count > 16384)
    for (int64_t i = 0; i < count; ++i)
      to[i] = float(uniform ? boundedUniformAt(key, first + i, scale)
                            : scale * normalAt(key, first + i));
  }
  Stream stream() override { return nullptr; }
  void synchronize() override {}

  KernelFn findKernel(const std::string &kernel,
                      const std::vector<DType> &operands) const override {
    return findTableKernel(cpuKernels(), kernel, operands);
  }

private:
  float weight = 0.0f; // the last setScalars' gradientWeight
};

} // namespace

std::unique_ptr<Backend> createCpuBackend() {
  return std::make_unique<CpuBackend>();
}

} // namespace slapo::rt
