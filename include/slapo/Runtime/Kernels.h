//===- Kernels.h - kernel calls: views, contexts, the catalog ---*- C++ -*-===//
#ifndef SLAPO_RUNTIME_KERNELS_H
#define SLAPO_RUNTIME_KERNELS_H

#include "slapo/Runtime/Communicator.h"
#include "slapo/Runtime/Plan.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace slapo::rt {

/// Where a buffer lives: host memory, or a device's own.
enum class MemorySpace { Host, Device };

/// A tensor as a kernel sees it: its bytes in the arena, its dtype and
/// shape (info), and the memory space the bytes are in. The typed accessors
/// check the dtype: the load-time checks make a mismatch impossible, so
/// one is an internal error.
struct View {
  void *data = nullptr;
  const TensorInfo *info = nullptr;
  MemorySpace space = MemorySpace::Host;

  DType dtype() const { return info->dtype; }
  float *f32() const { return static_cast<float *>(typed(DType::F32)); }
  int64_t *i64() const { return static_cast<int64_t *>(typed(DType::I64)); }
  uint16_t *bf16() const { return static_cast<uint16_t *>(typed(DType::BF16)); }
  int64_t numel() const { return info->numel(); }
  int64_t rank() const { return int64_t(info->shape.size()); }
  int64_t dim(int64_t i) const { return info->shape[i < 0 ? i + rank() : i]; }
  /// Product of all dimensions but the last.
  int64_t rows() const { return numel() / (rank() ? dim(-1) : 1); }

private:
  void *typed(DType want) const {
    if (info->dtype != want)
      wrongDType(want);
    return data;
  }
  [[noreturn]] void wrongDType(DType want) const;
};

/// The scalars of one run of a kernel sequence, as a device backend keeps
/// them in its own memory: kernels replayed from a captured graph (CUDA)
/// read them there, since a graph holds the values its kernels were
/// launched with. The same values as KernelContext's host fields.
struct StepScalars {
  double learningRate = 0.0;
  int64_t step = 1;
  uint64_t seed = 0;
  int64_t microBatch = 0;
  int32_t training = 1;
  /// The micro-batch's share of the global batch's counted tokens: the
  /// weight its gradients are accumulated with (Backend::accumulateWeighted).
  float gradientWeight = 0.0f;
};

/// Everything one kernel call may read: its tensors, attributes, the
/// shared workspace and the step's scalars.
struct KernelContext {
  const KernelCall *call = nullptr;
  std::vector<View> ins, outs;
  float *workspace = nullptr;
  uint64_t workspaceBytes = 0;
  double learningRate = 0.0;
  int64_t step = 1;  // 1-based, for AdamW bias correction
  uint64_t seed = 0; // with step and rng_stream, decides dropout masks
  bool training = true;
  /// The tensor-parallel group (`sync` and vocab-parallel kernels).
  Communicator *tp = nullptr;
  /// Which micro-batch of the global batch this is (dropout numbers its
  /// elements as one process holding the whole batch would).
  int64_t microBatch = 0;
  /// The backend's stream, which the kernel and its collectives use.
  Stream stream = nullptr;
  /// The same step scalars in the backend's memory (Backend::setScalars),
  /// or null on a host backend, whose kernels read the fields above.
  const StepScalars *deviceScalars = nullptr;
};

using KernelFn = void (*)(KernelContext &);

/// How the .splan file stores a kernel attribute (which AttrValue field
/// holds it).
enum class AttrKind { Int, Float, Ints, String };

/// What a kernel's load-time check sees: the call (arity and tensor indices
/// already checked), its tensors, and the plan facts kernels rely on.
struct KernelCheck {
  const KernelCall *call = nullptr;
  std::vector<const TensorInfo *> ins, outs;
  /// The stored kind of each attribute of `call`.
  std::map<std::string, AttrKind> attrKinds;
  uint64_t workspaceBytes = 0; // the call's share of the plan's workspace
  int32_t tp = 1;              // the tensor-parallel group's size
};

/// "" when the kernel can run the call as given, else one line saying what
/// is wrong. Everything a kernel assumes about its operands and attributes
/// is checked here, so no plan that loads can make a kernel crash.
using KernelCheckFn = std::string (*)(const KernelCheck &);

/// What the plan format knows of a kernel, whatever the backend: its name,
/// arity and load-time check. Backends implement kernels by these names
/// (Backend::findKernel).
struct KernelSpec {
  const char *name;
  int minInputs, maxInputs, outputs;
  KernelCheckFn check;
};

/// Every kernel a plan may call.
const std::vector<KernelSpec> &kernelCatalog();

/// Index of `name` in kernelCatalog(), or -1.
int findKernelSpec(const std::string &name);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_KERNELS_H
