//===- Plan.h - a loaded, checked .splan -----------------------*- C++ -*-===//
//
// The runtime's view of a compiled training step. No MLIR here: slapo-run
// reads the FlatBuffers file only.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_PLAN_H
#define SLAPO_RUNTIME_PLAN_H

#include "slapo/Runtime/DType.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace slapo::rt {

enum class Category {
  Input,
  Param,
  Grad,
  OptimizerState,
  Activation,
  Workspace
};
enum class Init { Zeros, Ones, Normal, Uniform };

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  Category category = Category::Activation;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  int64_t numel() const;
};

struct ParamInfo {
  std::string name; // Hugging Face name
  int32_t tensor = -1;
  Init init = Init::Zeros;
  double std = 0.0;
  bool trainable = true;
  int32_t shardAxis = -1; // tensor parallel: the axis split over the ranks
  int32_t shardParts = 1; // ... in this many separately split parts
  int64_t shardSize = 0;  // the whole axis, when padded to tp blocks
  /// The schedule primitive that added it ("lora"), or "" for the model's
  /// own: added parameters need not be in a base checkpoint.
  std::string addedBy;
  /// A safetensors file the run reads it from, whatever --init gives
  /// (Trainer::loadParameterFiles), or "".
  std::string initFile;
};

/// A kernel attribute: an integer, a float, an integer list or a string.
struct AttrValue {
  int64_t i = 0;
  double f = 0.0;
  std::vector<int64_t> ints;
  std::string s;
};

struct KernelCall {
  std::string name;
  int kind = -1; // index into kernelCatalog()
  std::vector<int32_t> inputs, outputs;
  std::map<std::string, AttrValue> attrs;
  uint64_t workspace = 0; // bytes of the plan's workspace this call uses

  int64_t intAttr(const std::string &key, int64_t fallback = 0) const;
  double floatAttr(const std::string &key, double fallback = 0.0) const;
  bool has(const std::string &key) const { return attrs.count(key) != 0; }
};

/// A LoRA adapter of the plan (see `slapo-run --save-adapter`).
struct AdapterInfo {
  std::string module; // Hugging Face path of the adapted linear layer
  int32_t rank = 0;
  double alpha = 0.0, dropout = 0.0;
  bool fanInFanOut = false;
};

/// A named entry function of the plan: `count` kernels from `first`.
struct EntryFunction {
  std::string name;
  size_t first = 0, count = 0;
};

struct MemoryTotals {
  uint64_t params = 0, grads = 0, optimizer = 0, activations = 0, workspace = 0,
           peak = 0;
  /// The gradient accumulator (splan.fbs Memory.accumulator): outside the
  /// arena, allocated only by steps that accumulate or reduce gradients.
  uint64_t accumulator = 0;
};

struct Plan {
  std::string modelType;
  int32_t worldSize = 1, tp = 1;
  int64_t batch = 0, seq = 0, vocabSize = 0, maxPositions = 0;
  std::string optimizer;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8, weightDecay = 0.0;
  std::vector<TensorInfo> tensors;
  std::vector<ParamInfo> params;
  std::vector<KernelCall> kernels;
  std::vector<EntryFunction> entries;
  /// The entry function `name`, or null.
  const EntryFunction *entry(const std::string &name) const;
  int32_t inputIds = -1, targets = -1, loss = -1;
  /// `sparsify ... predictor=train`: 4 f32 a sparsified layer (covered
  /// live pairs, live pairs, predicted tiles, oracle tiles, as fractions),
  /// written each step before the loss; -1 otherwise.
  int32_t predictorStats = -1;
  uint64_t arenaBytes = 0;
  MemoryTotals memory;
  std::vector<AdapterInfo> adapters;
  /// The Hugging Face config.json the model was imported from ("" when the
  /// graph did not come from one); --save writes it beside the weights.
  std::string hfConfig;

  int64_t parameterCount() const;
  int64_t trainableParameterCount() const;
};

/// Reads, verifies (the checksum that ends the file, the FlatBuffers
/// verifier, then meaning: indices, sizes, kernel names and arities) and
/// returns the plan in `path`. On failure returns null and sets `error` to
/// one line saying what is wrong.
std::unique_ptr<Plan> loadPlan(const std::string &path, std::string &error);

/// The same, from a .splan file's bytes in memory (`source` names them in
/// errors).
std::unique_ptr<Plan> loadPlanFromBuffer(const uint8_t *data, size_t size,
                                         const std::string &source,
                                         std::string &error);

/// The same from the FlatBuffers bytes alone, without the checksum that
/// ends a file: for plans built or edited in memory (tests of the meaning
/// checks).
std::unique_ptr<Plan> loadPlanFromFlatBuffer(const uint8_t *data, size_t size,
                                             const std::string &source,
                                             std::string &error);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_PLAN_H
