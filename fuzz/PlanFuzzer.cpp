//===- PlanFuzzer.cpp - libFuzzer harness: .splan loader and one step -----===//
//
// Any bytes as a plan. They go through the whole-file loader (checksum
// first), then through the loader of the FlatBuffers bytes alone, so that
// mutations get past the checksum to the verifier and the meaning checks.
// A plan that loads runs one training step (Hugging Face initialisation,
// token ids some of which are out of range on purpose): a plan that loads
// must never make a kernel read or write outside its tensors. Plans whose
// arena or batch the damage made huge are not worth allocating here.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Plan.h"
#include "slapo/Runtime/Trainer.h"

#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

extern "C" void openblas_set_num_threads(int threads);

namespace {

constexpr uint64_t kMaxArenaBytes = uint64_t(64) << 20;
constexpr int64_t kMaxTokens = 1 << 14;

void runOneStep(std::unique_ptr<slapo::rt::Plan> plan, const uint8_t *data,
                size_t size) {
  if (plan->arenaBytes > kMaxArenaBytes || plan->batch * plan->seq > kMaxTokens)
    return;
  int64_t tokens = plan->batch * plan->seq, vocab = plan->vocabSize;
  std::string error;
  std::unique_ptr<slapo::rt::Trainer> trainer =
      slapo::rt::Trainer::create(std::move(plan), error);
  if (!trainer) {
    if (error.empty())
      std::abort(); // a refusal says why
    return;
  }
  trainer->initialize(size);
  for (int64_t i = 0; i < tokens; ++i) {
    uint8_t byte = size ? data[i % size] : 0;
    trainer->inputIds()[i] = int64_t(byte * 7919 + i) % (vocab + 4) - 2;
    trainer->targets()[i] = int64_t(byte * 104729 + i) % (vocab + 4) - 2;
  }
  (void)trainer->step(1e-3);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  // One thread: steps are deterministic and the fuzzer's own time is spent
  // on new inputs.
  openblas_set_num_threads(1);
  omp_set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string error;
  std::unique_ptr<slapo::rt::Plan> plan =
      slapo::rt::loadPlanFromBuffer(data, size, "fuzz.splan", error);
  if (!plan) {
    if (error.empty())
      std::abort();
    plan = slapo::rt::loadPlanFromFlatBuffer(data, size, "fuzz.splan", error);
  }
  if (!plan) {
    if (error.empty())
      std::abort();
    return 0;
  }
  runOneStep(std::move(plan), data, size);
  return 0;
}
