//===- CpuBackend.cpp - the CPU backend: host memory, OpenMP kernels -----===//
//
// The arena is host memory; copies are memcpy; the stream is the calling
// thread. Kernels are found by name and operand dtypes: every kernel here
// computes on float32 operands (and int64 ids and targets).
//
//===----------------------------------------------------------------------===//

#include "CpuBackend.h"
#include "CPUKernels.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace slapo::rt {

namespace {

struct CpuKernel {
  const char *name;
  KernelFn fn;
  /// The dtype of the float operands the kernel takes.
  DType floats;
};

const std::vector<CpuKernel> &cpuKernels() {
  using namespace cpu;
  static const std::vector<CpuKernel> kernels = {
      {"embedding", embedding, DType::F32},
      {"embedding_grad", embeddingGrad, DType::F32},
      {"position_ids", positionIds, DType::F32},
      {"linear", linear, DType::F32},
      {"linear_grad_weight", linearGradWeight, DType::F32},
      {"matmul", matmul, DType::F32},
      {"layer_norm", layerNorm, DType::F32},
      {"layer_norm_grad", layerNormGrad, DType::F32},
      {"rms_norm", rmsNorm, DType::F32},
      {"rms_norm_grad", rmsNormGrad, DType::F32},
      {"causal_mask", causalMask, DType::F32},
      {"softmax", softmax, DType::F32},
      {"softmax_grad", softmaxGrad, DType::F32},
      {"attention", attention, DType::F32},
      {"attention_grad", attentionGrad, DType::F32},
      {"rope", rope, DType::F32},
      {"relu", relu, DType::F32},
      {"silu", silu, DType::F32},
      {"gelu", gelu, DType::F32},
      {"activation_grad", activationGrad, DType::F32},
      {"bias_gelu", biasGelu, DType::F32},
      {"bias_gelu_grad", biasGeluGrad, DType::F32},
      {"bias_dropout_add_layer_norm", biasDropoutAddLayerNorm, DType::F32},
      {"add_rms_norm", addRmsNorm, DType::F32},
      {"scale", scale, DType::F32},
      {"dropout", dropout, DType::F32},
      {"add", add, DType::F32},
      {"mul", mul, DType::F32},
      {"sum_to", sumTo, DType::F32},
      {"zeros", zeros, DType::F32},
      {"transpose", transpose, DType::F32},
      {"split", split, DType::F32},
      {"concat", concat, DType::F32},
      {"sync", sync, DType::F32},
      {"cross_entropy", crossEntropy, DType::F32},
      {"cross_entropy_grad", crossEntropyGrad, DType::F32},
      {"sgd_update", sgdUpdate, DType::F32},
      {"adamw_update", adamwUpdate, DType::F32},
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
    if (dtype != DType::F32) {
      std::fprintf(stderr,
                   "slapo-run: internal error: the cpu backend accumulates "
                   "f32 only, not %s\n",
                   dtypeName(dtype));
      std::abort();
    }
    cpu::accumulate(static_cast<float *>(y), static_cast<const float *>(x),
                    count, alpha);
  }
  Stream stream() override { return nullptr; }
  void synchronize() override {}

  KernelFn findKernel(const std::string &kernel,
                      const std::vector<DType> &operands) const override {
    for (const CpuKernel &entry : cpuKernels()) {
      if (kernel != entry.name)
        continue;
      for (DType dtype : operands)
        if (isFloat(dtype) && dtype != entry.floats)
          return nullptr;
      return entry.fn;
    }
    return nullptr;
  }
};

} // namespace

std::unique_ptr<Backend> createCpuBackend() {
  return std::make_unique<CpuBackend>();
}

} // namespace slapo::rt
