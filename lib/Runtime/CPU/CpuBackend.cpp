//===- CpuBackend.cpp - the CPU backend: host memory, OpenMP kernels -----===//
//
// The arena is host memory; copies are memcpy; the stream is the calling
// thread. Kernels are found by name and operand dtypes: f32 activations, or
// bf16 ones computed in float32 (Element.h); int64 ids and targets.
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
  /// For operands whose floats are all f32, and for those with bf16
  /// activations (null: none). Parameters, optimizer state and the loss
  /// are f32 in both.
  KernelFn f32, bf16;
};

/// A kernel over activations: both instantiations.
#define SLAPO_TYPED(name, fn)                                                  \
  { name, fn<float>, fn<bf16> }

const std::vector<CpuKernel> &cpuKernels() {
  using namespace cpu;
  static const std::vector<CpuKernel> kernels = {
      SLAPO_TYPED("embedding", embedding),
      SLAPO_TYPED("embedding_grad", embeddingGrad),
      {"position_ids", positionIds, nullptr},
      SLAPO_TYPED("linear", linear),
      SLAPO_TYPED("linear_grad_weight", linearGradWeight),
      SLAPO_TYPED("matmul", matmul),
      SLAPO_TYPED("layer_norm", layerNorm),
      SLAPO_TYPED("layer_norm_grad", layerNormGrad),
      SLAPO_TYPED("rms_norm", rmsNorm),
      SLAPO_TYPED("rms_norm_grad", rmsNormGrad),
      SLAPO_TYPED("causal_mask", causalMask),
      SLAPO_TYPED("softmax", softmax),
      SLAPO_TYPED("softmax_grad", softmaxGrad),
      SLAPO_TYPED("attention", attention),
      SLAPO_TYPED("attention_grad", attentionGrad),
      SLAPO_TYPED("rope", rope),
      SLAPO_TYPED("relu", relu),
      SLAPO_TYPED("silu", silu),
      SLAPO_TYPED("gelu", gelu),
      SLAPO_TYPED("activation_grad", activationGrad),
      SLAPO_TYPED("bias_gelu", biasGelu),
      SLAPO_TYPED("bias_gelu_grad", biasGeluGrad),
      SLAPO_TYPED("bias_dropout_add_layer_norm", biasDropoutAddLayerNorm),
      SLAPO_TYPED("add_rms_norm", addRmsNorm),
      SLAPO_TYPED("scale", scale),
      SLAPO_TYPED("dropout", dropout),
      SLAPO_TYPED("add", add),
      SLAPO_TYPED("mul", mul),
      SLAPO_TYPED("sum_to", sumTo),
      {"zeros", zeros, zeros},
      {"cast", cast, cast},
      SLAPO_TYPED("transpose", transpose),
      SLAPO_TYPED("split", split),
      SLAPO_TYPED("concat", concat),
      SLAPO_TYPED("sync", sync),
      SLAPO_TYPED("cross_entropy", crossEntropy),
      SLAPO_TYPED("cross_entropy_grad", crossEntropyGrad),
      {"sgd_update", sgdUpdate, nullptr},
      {"adamw_update", adamwUpdate, nullptr},
  };
  return kernels;
}

#undef SLAPO_TYPED

/// The executor's own vector calls are on f32 gradients only.
void requireF32(DType dtype, const char *what) {
  if (dtype == DType::F32)
    return;
  std::fprintf(stderr,
               "slapo-run: internal error: the cpu backend %s f32 only, not "
               "%s\n",
               what, dtypeName(dtype));
  std::abort();
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
    requireF32(dtype, "accumulates");
    cpu::accumulate(static_cast<float *>(y), static_cast<const float *>(x),
                    count, alpha);
  }
  double sumOfSquares(const void *x, int64_t count, DType dtype) override {
    requireF32(dtype, "sums squares of");
    return cpu::sumOfSquares(static_cast<const float *>(x), count);
  }
  void scale(void *x, int64_t count, DType dtype, float factor) override {
    requireF32(dtype, "scales");
    cpu::scale(static_cast<float *>(x), count, factor);
  }
  Stream stream() override { return nullptr; }
  void synchronize() override {}

  KernelFn findKernel(const std::string &kernel,
                      const std::vector<DType> &operands) const override {
    // The load-time checks (KernelChecks.cpp) decide which mixes of float
    // dtypes a kernel takes; the variant follows the activations' dtype.
    bool bf16 = false;
    for (DType dtype : operands) {
      if (dtype == DType::BF16)
        bf16 = true;
      else if (isFloat(dtype) && dtype != DType::F32)
        return nullptr; // no f16 kernels on the cpu
    }
    for (const CpuKernel &entry : cpuKernels())
      if (kernel == entry.name)
        return bf16 ? entry.bf16 : entry.f32;
    return nullptr;
  }
};

} // namespace

std::unique_ptr<Backend> createCpuBackend() {
  return std::make_unique<CpuBackend>();
}

} // namespace slapo::rt
