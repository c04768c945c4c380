//===- RunFingerprint.cpp - what every rank of a job must share -----------===//

#include "slapo/Run/RunFingerprint.h"
#include "slapo/Runtime/Checkpoint.h"
#include "slapo/Runtime/Job.h"

#include <fstream>
#include <iterator>
#include <memory>

namespace slapo::run {

using namespace slapo::rt;

uint64_t fileFingerprint(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  return fingerprint(bytes.data(), bytes.size());
}

uint64_t runFingerprint(const Options &o) {
  uint64_t hash = fileFingerprint(o.plan);
  hash = fingerprint(&o.steps, sizeof o.steps, hash);
  hash = fingerprint(&o.epochs, sizeof o.epochs, hash);
  for (bool flag : {o.shuffle, o.pack})
    hash = fingerprint(&flag, sizeof flag, hash);
  hash = fingerprint(&o.batch, sizeof o.batch, hash);
  hash = fingerprint(&o.lr, sizeof o.lr, hash);
  hash = fingerprint(o.lrSchedule.data(), o.lrSchedule.size(), hash);
  hash = fingerprint(&o.warmupSteps, sizeof o.warmupSteps, hash);
  hash = fingerprint(&o.warmupRatio, sizeof o.warmupRatio, hash);
  hash = fingerprint(&o.maxGradNorm, sizeof o.maxGradNorm, hash);
  hash = fingerprint(&o.evalEvery, sizeof o.evalEvery, hash);
  hash = fingerprint(&o.evalBatches, sizeof o.evalBatches, hash);
  hash = fingerprint(&o.saveEvery, sizeof o.saveEvery, hash);
  hash = fingerprint(o.resume.data(), o.resume.size(), hash);
  for (bool flag :
       {!o.evalData.empty(), !o.saveBest.empty(), !o.saveState.empty()})
    hash = fingerprint(&flag, sizeof flag, hash);
  hash = fingerprint(&o.seed, sizeof o.seed, hash);
  // Options that change which collectives run, and their counts.
  hash = fingerprint(&o.bucketMiB, sizeof o.bucketMiB, hash);
  for (bool flag : {!o.save.empty(), o.mergeLora, !o.saveAdapter.empty()})
    hash = fingerprint(&flag, sizeof flag, hash);
  hash = fingerprint(o.device.data(), o.device.size(), hash);
  for (const std::string *file : {&o.data, &o.evalData})
    if (!file->empty()) {
      uint64_t bytes = fileFingerprint(*file);
      hash = fingerprint(&bytes, sizeof bytes, hash);
    }
  return hash;
}

uint64_t weightsFingerprint(const Options &o, std::string &error) {
  uint64_t hash = 0;
  if (!o.init.empty()) {
    std::unique_ptr<Checkpoint> checkpoint = Checkpoint::open(o.init, error);
    if (!checkpoint)
      return 0;
    uint64_t bytes = checkpoint->fingerprint();
    hash = fingerprint(&bytes, sizeof bytes, hash);
  }
  if (!o.initAdapter.empty())
    for (const char *file :
         {"/adapter_config.json", "/adapter_model.safetensors"}) {
      uint64_t bytes = fileFingerprint(o.initAdapter + file);
      hash = fingerprint(&bytes, sizeof bytes, hash);
    }
  return hash;
}

} // namespace slapo::run
