//===- Checkpoint.h - Hugging Face checkpoints, as they ship ---*- C++ -*-===//
//
// A checkpoint is one safetensors file, a directory holding
// model.safetensors or a sharded model.safetensors.index.json, or that
// index file itself. Parameters are found by Hugging Face name, as
// `from_pretrained` finds them: under the full name, or without the base
// model's prefix (`decoder.layers.0...` for `model.decoder.layers.0...`),
// and a tied output embedding may be stored as `lm_head.weight` too.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_CHECKPOINT_H
#define SLAPO_RUNTIME_CHECKPOINT_H

#include "slapo/Runtime/Plan.h"
#include "slapo/Runtime/Safetensors.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace slapo::rt {

class Checkpoint {
public:
  /// Opens (memory-maps) every file of the checkpoint at `path`. Fails,
  /// naming the file, on anything unreadable, an index naming a missing
  /// file, or a tensor the index places in a file that lacks it.
  static std::unique_ptr<Checkpoint> open(const std::string &path,
                                          std::string &error);

  struct Tensor {
    const SafetensorsFile *file = nullptr;
    const SafetensorsEntry *entry = nullptr;
    std::string name;
  };
  /// The tensor stored as `name`, or one with a null file.
  Tensor find(const std::string &name) const;
  /// Every tensor name, sorted.
  std::vector<std::string> names() const;
  const std::string &path() const { return thePath; }
  /// The files it was read from (the index's shards, in opening order).
  std::vector<std::string> paths() const;
  /// A hash of every byte of those files (read from the mappings): ranks
  /// of a job compare it so that none starts from other weights.
  uint64_t fingerprint() const;

private:
  std::string thePath;
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, const SafetensorsFile *> where;
};

/// "" when `tensor` has `shape`, else "FILE: tensor 'NAME' has shape [..],
/// the model needs [..]" (FILE: `where`).
std::string shapeMismatch(const Checkpoint::Tensor &tensor,
                          const std::vector<int64_t> &shape,
                          const std::string &where);

/// The checkpoint tensor that fills each parameter of a plan.
struct WeightSource {
  const ParamInfo *param = nullptr;
  Checkpoint::Tensor tensor; // null file: none (the parameter keeps its init)
};

/// Finds every parameter of `plan` in `checkpoint` (whole shapes given by
/// `fullShape`). A parameter that a schedule added (LoRA adapters) may be
/// absent and keeps its initialisation; any other absent parameter, and any
/// shape mismatch, is an error naming it. `unused` gets the checkpoint's
/// tensors no parameter took.
/// A stored `lm_head.weight` beside a tied embedding is taken as the tie's
/// copy: used when the embedding itself is absent, unused (and listed) when
/// it differs from the embedding.
bool bindWeights(
    const Plan &plan, const Checkpoint &checkpoint,
    const std::function<std::vector<int64_t>(const ParamInfo &)> &fullShape,
    std::vector<WeightSource> &sources, std::vector<std::string> &unused,
    std::string &error);

/// Writes `tensors` as a Hugging Face model directory: model.safetensors,
/// or shards model-0000i-of-0000n.safetensors of at most `maxShardBytes`
/// each (a larger tensor gets a shard of its own) with
/// model.safetensors.index.json; and `configJson` as config.json when it
/// is not empty. Every file is written under a temporary name first.
bool writeCheckpoint(const std::string &directory,
                     const std::vector<NamedTensor> &tensors, WeightDType dtype,
                     uint64_t maxShardBytes, const std::string &configJson,
                     std::string &error);

/// Writes `text` to `path` through a temporary file and a rename, so a
/// failure (a full disk) never leaves a half-written file behind.
bool writeFileAtomically(const std::string &path, const std::string &text,
                         std::string &error);

/// How --save writes weights.
struct SaveOptions {
  WeightDType dtype = WeightDType::F32;
  uint64_t maxShardBytes = 5000000000ull; // save_pretrained's "5GB"
};

/// Writes `tensors` to `path`: one safetensors file when the path ends in
/// ".safetensors", else a Hugging Face model directory (writeCheckpoint).
bool saveTensors(const std::string &path,
                 const std::vector<NamedTensor> &tensors,
                 const SaveOptions &options, const std::string &configJson,
                 std::string &error);

/// Parses a size as Hugging Face writes it: bytes ("1000000"), or a number
/// with KB/MB/GB (powers of 1000) or KiB/MiB/GiB (powers of 1024). False
/// on anything else, or a size of 0.
bool parseByteSize(const std::string &text, uint64_t &bytes);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_CHECKPOINT_H
