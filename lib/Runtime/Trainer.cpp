//===- Trainer.cpp - run a compiled training step -------------------------===//

#include "slapo/Runtime/Trainer.h"
#include "Random.h"
#include "slapo/Runtime/Kernels.h"
#include "slapo/Runtime/Safetensors.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>

namespace slapo::rt {

std::unique_ptr<Trainer> Trainer::create(std::unique_ptr<Plan> plan,
                                         std::string &error) {
  if (plan->tp > 1) {
    error = "the plan is one rank of a " + std::to_string(plan->tp) +
            "-way tensor-parallel model: it needs " + std::to_string(plan->tp) +
            " processes, and this runtime executes one (compile with --tp 1 "
            "to train on one process)";
    return nullptr;
  }
  auto trainer = std::unique_ptr<Trainer>(new Trainer());
  uint64_t bytes = (plan->arenaBytes + 63) / 64 * 64;
  trainer->arena =
      static_cast<uint8_t *>(std::aligned_alloc(64, bytes ? bytes : 64));
  if (!trainer->arena) {
    error = "cannot allocate the " + std::to_string(bytes) + "-byte arena";
    return nullptr;
  }
  trainer->thePlan = std::move(plan);
  return trainer;
}

Trainer::~Trainer() { std::free(arena); }

float *Trainer::data(int32_t tensor) const {
  return reinterpret_cast<float *>(arena + thePlan->tensors[tensor].offset);
}

int64_t *Trainer::inputIds() {
  return reinterpret_cast<int64_t *>(data(thePlan->inputIds));
}

int64_t *Trainer::targets() {
  return reinterpret_cast<int64_t *>(data(thePlan->targets));
}

void Trainer::initialize(uint64_t newSeed) {
  seed = newSeed;
  for (const ParamInfo &param : thePlan->params) {
    float *values = data(param.tensor);
    int64_t n = thePlan->tensors[param.tensor].numel();
    if (param.init == Init::Zeros || param.init == Init::Ones) {
      std::fill(values, values + n, param.init == Init::Ones ? 1.0f : 0.0f);
      continue;
    }
    // Each parameter draws from its own generator: the same seed gives the
    // same weights whatever else the plan contains.
    std::mt19937_64 generator(
        mix64(seed ^ std::hash<std::string>()(param.name)));
    if (param.init == Init::Uniform) {
      std::uniform_real_distribution<float> uniform(-float(param.std),
                                                    float(param.std));
      for (int64_t i = 0; i < n; ++i)
        values[i] = uniform(generator);
      continue;
    }
    std::normal_distribution<float> normal(0.0f, float(param.std));
    for (int64_t i = 0; i < n; ++i)
      values[i] = normal(generator);
  }
  for (const TensorInfo &tensor : thePlan->tensors)
    if (tensor.category == Category::OptimizerState)
      std::memset(arena + tensor.offset, 0, tensor.bytes);
  stepCount = 0;
}

bool Trainer::loadWeights(const std::string &path, std::string &error) {
  std::unique_ptr<SafetensorsFile> file = SafetensorsFile::open(path, error);
  if (!file)
    return false;
  for (const ParamInfo &param : thePlan->params) {
    const TensorInfo &tensor = thePlan->tensors[param.tensor];
    const SafetensorsEntry *entry = file->find(param.name);
    if (!entry) {
      error = path + ": has no tensor '" + param.name + "'";
      return false;
    }
    if (entry->shape != tensor.shape) {
      std::string want, got;
      for (int64_t d : tensor.shape)
        want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (int64_t d : entry->shape)
        got += (got.empty() ? "" : ", ") + std::to_string(d);
      error = path + ": tensor '" + param.name + "' has shape [" + got +
              "], the model needs [" + want + "]";
      return false;
    }
    if (entry->dtype != "F32") {
      error = path + ": tensor '" + param.name + "' is " + entry->dtype +
              "; slapo-run loads F32 weights";
      return false;
    }
    std::memcpy(data(param.tensor), file->data(*entry), tensor.bytes);
  }
  return true;
}

bool Trainer::saveWeights(const std::string &path, std::string &error) const {
  std::vector<NamedTensor> tensors;
  for (const ParamInfo &param : thePlan->params)
    tensors.push_back(
        {param.name, thePlan->tensors[param.tensor].shape, data(param.tensor)});
  return writeSafetensors(path, tensors, {{"format", "pt"}}, error);
}

float Trainer::step(double lr) {
  ++stepCount;
  const auto &table = kernelTable();
  uint64_t workspaceBytes = thePlan->memory.workspace;
  float *workspace =
      reinterpret_cast<float *>(arena + thePlan->arenaBytes - workspaceBytes);
  KernelContext context;
  context.workspace = workspace;
  context.workspaceBytes = workspaceBytes;
  context.learningRate = lr;
  context.step = stepCount;
  context.seed = seed;
  context.training = training;
  for (const KernelCall &call : thePlan->kernels) {
    context.call = &call;
    context.ins.clear();
    context.outs.clear();
    for (int32_t index : call.inputs)
      context.ins.push_back({data(index), &thePlan->tensors[index]});
    for (int32_t index : call.outputs)
      context.outs.push_back({data(index), &thePlan->tensors[index]});
    if (!profiling) {
      table[call.kind].fn(context);
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    table[call.kind].fn(context);
    seconds[call.name] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }
  return *data(thePlan->loss);
}

} // namespace slapo::rt
