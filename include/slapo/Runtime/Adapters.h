//===- Adapters.h - LoRA adapters in PEFT's layout -------------*- C++ -*-===//
#ifndef SLAPO_RUNTIME_ADAPTERS_H
#define SLAPO_RUNTIME_ADAPTERS_H

#include "slapo/Runtime/Trainer.h"

#include <string>

namespace slapo::rt {

/// Writes the trainer's LoRA adapters as a PEFT adapter directory:
/// adapter_model.safetensors (keys base_model.model.<path>.lora_A.weight,
/// ...) and adapter_config.json, so that peft.PeftModel.from_pretrained
/// loads them onto the Hugging Face model.
bool saveAdapter(const Trainer &trainer, const std::string &directory,
                 std::string &error);

/// Adds (alpha/rank) * B A to `weight`, the base weight of `adapter`, in its
/// layout ([out, in], or [in, out] when fanInFanOut). A is [rank, in], B is
/// [out, rank].
void mergeAdapter(const AdapterInfo &adapter, const float *a, const float *b,
                  int64_t in, int64_t out, float *weight);

/// Writes every base parameter with the LoRA adapters merged in
/// (W + alpha/rank * B A, transposed for [in, out] weights) and without the
/// adapters themselves: a plain Hugging Face model loads the file.
bool saveMergedWeights(const Trainer &trainer, const std::string &path,
                       std::string &error, const SaveOptions &options = {});

/// Loads a PEFT adapter directory (adapter_config.json and
/// adapter_model.safetensors) into the plan's LoRA adapters, to continue
/// training them. Fails, naming what differs, when the adapter's ranks,
/// alphas or modules are not the plan's.
bool loadAdapter(Trainer &trainer, const std::string &directory,
                 std::string &error);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_ADAPTERS_H
