//===- Trainer.h - run a compiled training step ----------------*- C++ -*-===//
#ifndef SLAPO_RUNTIME_TRAINER_H
#define SLAPO_RUNTIME_TRAINER_H

#include "slapo/Runtime/Plan.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace slapo::rt {

class Trainer {
public:
  /// Allocates the plan's arena (one allocation: every tensor and the
  /// kernels' workspace live in it).
  static std::unique_ptr<Trainer> create(std::unique_ptr<Plan> plan,
                                         std::string &error);
  ~Trainer();

  const Plan &plan() const { return *thePlan; }

  /// Hugging Face initialisation: normal(0, std) weights, zero biases, unit
  /// norms, from `seed`; optimizer state zero.
  void initialize(uint64_t seed);

  /// Loads every parameter by Hugging Face name (F32 safetensors). Fails,
  /// naming the tensor, on a missing name or a shape mismatch.
  bool loadWeights(const std::string &path, std::string &error);
  /// Writes every parameter, fp32, by Hugging Face name.
  bool saveWeights(const std::string &path, std::string &error) const;

  /// The step's inputs, [batch, seq] each.
  int64_t *inputIds();
  int64_t *targets();

  /// Runs one training step (forward, backward, update) with learning rate
  /// `lr`; returns the loss. Steps are numbered from 1.
  float step(double lr);

  float *data(int32_t tensor) const;

  /// Sets how many steps are done (resuming a run): the next step is
  /// `completed + 1`, which decides AdamW's bias correction and the
  /// dropout masks.
  void setCompletedSteps(int64_t completed) { stepCount = completed; }

  /// With training off, dropout passes values through unchanged (the
  /// gradients are those of the deterministic model).
  void setTraining(bool on) { training = on; }

  /// Records the time of every kernel call from now on.
  void enableProfiling() { profiling = true; }
  /// Seconds spent per kernel name, as recorded.
  const std::map<std::string, double> &profile() const { return seconds; }

private:
  Trainer() = default;
  std::unique_ptr<Plan> thePlan;
  uint8_t *arena = nullptr;
  int64_t stepCount = 0;
  uint64_t seed = 0;
  bool profiling = false;
  bool training = true;
  std::map<std::string, double> seconds;
};

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_TRAINER_H
