//===- TrainingState.cpp - resumable training: save and resume ------------===//

#include "slapo/Runtime/TrainingState.h"
#include "slapo/Runtime/Json.h"
#include "slapo/Runtime/Safetensors.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace slapo::rt {

namespace fs = std::filesystem;

namespace {

constexpr const char *kStateFile = "trainer_state.json";

std::string stepName(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%08" PRId64, step);
  return name;
}

/// The step of a directory named step-N, or -1.
int64_t stepOf(const std::string &name) {
  if (name.rfind("step-", 0) != 0 || name.size() == 5)
    return -1;
  int64_t step = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i])) || step > 1e15)
      return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

/// Flushes a file or a directory to disk.
bool syncToDisk(const fs::path &path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return false;
  bool ok = ::fsync(fd) == 0;
  return ::close(fd) == 0 && ok;
}

std::string hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "%016" PRIx64, value);
  return text;
}

bool parseHex(const Json *json, uint64_t &value) {
  if (!json || json->kind != Json::Kind::String || json->string.size() != 16)
    return false;
  char *end = nullptr;
  value = std::strtoull(json->string.c_str(), &end, 16);
  return *end == '\0';
}

/// The complete step directories under `root`, oldest first.
std::vector<std::pair<int64_t, fs::path>>
stepDirectories(const fs::path &root) {
  std::vector<std::pair<int64_t, fs::path>> steps;
  std::error_code ec;
  for (const fs::directory_entry &entry : fs::directory_iterator(root, ec)) {
    int64_t step = stepOf(entry.path().filename().string());
    if (step >= 0 && fs::is_regular_file(entry.path() / kStateFile, ec))
      steps.push_back({step, entry.path()});
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::string stateJson(const TrainingProgress &p) {
  std::ostringstream out;
  out.precision(17);
  out << "{\n  \"step\": " << p.step << ",\n  \"seed\": \"" << hex(p.seed)
      << "\",\n  \"best_eval\": ";
  if (p.hasBestEval)
    out << p.bestEval;
  else
    out << "null";
  out << ",\n  \"plan_fingerprint\": \"" << hex(p.plan)
      << "\",\n  \"data_fingerprint\": \"" << hex(p.data) << "\"\n}\n";
  return out.str();
}

bool parseState(const std::string &path, TrainingProgress &p,
                std::string &error) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  Json json;
  if (!in || !parseJson(text.str(), json, error)) {
    error = path + ": " + (in ? error : "cannot read");
    return false;
  }
  const Json *step = json.get("step"), *best = json.get("best_eval");
  if (json.kind != Json::Kind::Object || !step || !step->integral ||
      step->integer < 0 || !parseHex(json.get("seed"), p.seed) ||
      !parseHex(json.get("plan_fingerprint"), p.plan) ||
      !parseHex(json.get("data_fingerprint"), p.data) || !best ||
      (best->kind != Json::Kind::Null &&
       (best->kind != Json::Kind::Number || !std::isfinite(best->number)))) {
    error = path + ": not a slapo training state (it needs step, seed, "
                   "best_eval, plan_fingerprint and data_fingerprint)";
    return false;
  }
  p.step = step->integer;
  p.hasBestEval = best->kind == Json::Kind::Number;
  p.bestEval = p.hasBestEval ? best->number : 0.0;
  return true;
}

} // namespace

bool saveTrainingState(const Trainer &trainer, const std::string &root,
                       const TrainingProgress &progress, int64_t keepLast,
                       std::string &error) {
  // Every rank takes part in gathering the sharded tensors.
  const Plan &plan = trainer.plan();
  std::vector<Trainer::StateTensor> state = trainer.optimizerState();
  std::vector<std::vector<float>> wholes;
  wholes.reserve(plan.params.size() + state.size());
  std::vector<NamedTensor> model, optimizer;
  for (const ParamInfo &param : plan.params) {
    wholes.push_back(trainer.fullParameter(param));
    model.push_back({param.name, trainer.layoutOf(param).fullShape(),
                     wholes.back().data()});
  }
  for (const Trainer::StateTensor &tensor : state) {
    wholes.push_back(trainer.fullTensor(tensor.tensor, *tensor.param));
    optimizer.push_back({tensor.name,
                         trainer.layoutOf(*tensor.param).fullShape(),
                         wholes.back().data()});
  }
  if (!trainer.writesFiles())
    return true;

  std::error_code ec;
  fs::path base(root),
      final = base / stepName(progress.step),
      temporary = base / ("." + stepName(progress.step) + ".tmp");
  fs::create_directories(base, ec);
  fs::remove_all(temporary, ec);
  if (!fs::create_directory(temporary, ec)) {
    error = temporary.string() + ": cannot create the state directory";
    return false;
  }
  std::string stateText = stateJson(progress);
  const fs::path modelFile = temporary / "model.safetensors",
                 optimizerFile = temporary / "optimizer.safetensors",
                 stateFile = temporary / kStateFile;
  bool ok =
      writeSafetensors(modelFile.string(), model, {{"format", "pt"}}, error) &&
      writeSafetensors(optimizerFile.string(), optimizer, {{"format", "pt"}},
                       error);
  if (ok) {
    std::ofstream out(stateFile);
    out << stateText;
    out.close();
    ok = bool(out);
    if (!ok)
      error = stateFile.string() + ": cannot write";
  }
  for (const fs::path &path : {modelFile, optimizerFile, stateFile, temporary})
    if (ok && !syncToDisk(path)) {
      ok = false;
      error = path.string() + ": cannot flush to disk";
    }
  // The rename is the moment the new state exists.
  if (ok) {
    fs::remove_all(final, ec);
    fs::rename(temporary, final, ec);
    if (ec || !syncToDisk(base)) {
      ok = false;
      error = final.string() + ": cannot move the state into place";
    }
  }
  if (!ok) {
    fs::remove_all(temporary, ec);
    return false;
  }
  if (keepLast > 0) {
    auto steps = stepDirectories(base);
    for (size_t i = 0; i + size_t(keepLast) < steps.size(); ++i)
      fs::remove_all(steps[i].second, ec);
  }
  return true;
}

std::string resolveStateDirectory(const std::string &path, std::string &error) {
  std::error_code ec;
  fs::path base(path);
  if (fs::is_regular_file(base / kStateFile, ec))
    return base.string();
  if (!fs::is_directory(base, ec)) {
    error = path + ": no such state directory";
    return "";
  }
  auto steps = stepDirectories(base);
  if (steps.empty()) {
    error = path + ": no saved state in it (no step-N directory with a " +
            kStateFile + ")";
    return "";
  }
  return steps.back().second.string();
}

bool loadTrainingState(Trainer &trainer, const std::string &path,
                       uint64_t planFingerprint, TrainingProgress &progress,
                       std::string &error) {
  std::string directory = resolveStateDirectory(path, error);
  if (directory.empty() ||
      !parseState(directory + "/" + kStateFile, progress, error))
    return false;
  if (progress.plan != planFingerprint) {
    error = directory + ": the state was saved by a run of another plan";
    return false;
  }
  if (!trainer.loadWeights(directory + "/model.safetensors", error))
    return false;
  std::string file = directory + "/optimizer.safetensors";
  std::unique_ptr<SafetensorsFile> moments = SafetensorsFile::open(file, error);
  if (!moments)
    return false;
  for (const Trainer::StateTensor &tensor : trainer.optimizerState()) {
    const SafetensorsEntry *entry = moments->find(tensor.name);
    if (!entry || entry->shape != trainer.layoutOf(*tensor.param).fullShape()) {
      error =
          file + ": " + (entry ? "a mis-shaped '" : "no '") + tensor.name + "'";
      return false;
    }
    if (!trainer.readBlock(tensor.tensor, *tensor.param, *moments, *entry,
                           tensor.name, error))
      return false;
  }
  trainer.setCompletedSteps(progress.step);
  trainer.setSeed(progress.seed);
  return true;
}

} // namespace slapo::rt
