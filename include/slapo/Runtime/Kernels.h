//===- Kernels.h - the CPU kernel table ------------------------*- C++ -*-===//
#ifndef SLAPO_RUNTIME_KERNELS_H
#define SLAPO_RUNTIME_KERNELS_H

#include "slapo/Runtime/Communicator.h"
#include "slapo/Runtime/Plan.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace slapo::rt {

/// A tensor as a kernel sees it: its bytes in the arena and its shape.
struct View {
  void *data = nullptr;
  const TensorInfo *info = nullptr;

  float *f32() const { return static_cast<float *>(data); }
  int64_t *i64() const { return static_cast<int64_t *>(data); }
  int64_t numel() const { return info->numel(); }
  int64_t rank() const { return int64_t(info->shape.size()); }
  int64_t dim(int64_t i) const { return info->shape[i < 0 ? i + rank() : i]; }
  /// Product of all dimensions but the last.
  int64_t rows() const { return numel() / (rank() ? dim(-1) : 1); }
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
  uint64_t workspaceBytes = 0; // the plan's workspace, at the arena's end
  int32_t tp = 1;              // the tensor-parallel group's size
};

/// "" when the kernel can run the call as given, else one line saying what
/// is wrong. Everything a kernel assumes about its operands and attributes
/// is checked here, so no plan that loads can make a kernel crash.
using KernelCheckFn = std::string (*)(const KernelCheck &);

struct KernelSpec {
  const char *name;
  int minInputs, maxInputs, outputs;
  KernelFn fn;
  KernelCheckFn check;
};

/// All kernels the CPU runtime implements.
const std::vector<KernelSpec> &kernelTable();

/// Index of `name` in kernelTable(), or -1.
int findKernel(const std::string &name);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_KERNELS_H
