//===- Adapters.cpp - LoRA adapters in PEFT's layout ----------------------===//

#include "slapo/Runtime/Adapters.h"
#include "slapo/Runtime/Json.h"
#include "slapo/Runtime/Safetensors.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace slapo::rt {

namespace {

const ParamInfo *findParam(const Plan &plan, const std::string &name) {
  for (const ParamInfo &param : plan.params)
    if (param.name == name)
      return &param;
  return nullptr;
}

std::string jsonNumber(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

} // namespace

bool saveAdapter(const Trainer &trainer, const std::string &directory,
                 std::string &error) {
  const Plan &plan = trainer.plan();
  if (plan.adapters.empty()) {
    error = "the plan has no LoRA adapters to save (apply a lora schedule)";
    return false;
  }
  std::vector<NamedTensor> tensors;
  std::vector<std::vector<float>> values; // host copies of the adapters
  values.reserve(2 * plan.adapters.size());
  std::set<std::string> targets;
  bool sameRank = true, sameAlpha = true, fanInFanOut = false;
  for (const AdapterInfo &adapter : plan.adapters) {
    for (const char *part : {"lora_A", "lora_B"}) {
      std::string name = adapter.module + "." + part + ".weight";
      const ParamInfo *param = findParam(plan, name);
      if (!param) {
        error = "the plan has no parameter '" + name + "'";
        return false;
      }
      values.push_back(trainer.readTensor(param->tensor));
      tensors.push_back({"base_model.model." + name,
                         plan.tensors[param->tensor].shape,
                         values.back().data()});
    }
    targets.insert(adapter.module.substr(adapter.module.rfind('.') + 1));
    sameRank &= adapter.rank == plan.adapters[0].rank;
    sameAlpha &= adapter.alpha == plan.adapters[0].alpha;
    fanInFanOut |= adapter.fanInFanOut;
  }

  std::error_code code;
  std::filesystem::create_directories(directory, code);
  if (code) {
    error =
        directory + ": cannot create the adapter directory: " + code.message();
    return false;
  }
  if (!writeSafetensors(directory + "/adapter_model.safetensors", tensors,
                        {{"format", "pt"}}, error))
    return false;

  const AdapterInfo &first = plan.adapters[0];
  std::ostringstream config;
  config << "{\n  \"peft_type\": \"LORA\",\n  \"task_type\": \"CAUSAL_LM\",\n"
         << "  \"base_model_name_or_path\": null,\n"
         << "  \"r\": " << first.rank << ",\n"
         << "  \"lora_alpha\": " << jsonNumber(first.alpha) << ",\n"
         << "  \"lora_dropout\": " << jsonNumber(first.dropout) << ",\n"
         << "  \"fan_in_fan_out\": " << (fanInFanOut ? "true" : "false")
         << ",\n  \"bias\": \"none\",\n  \"target_modules\": [";
  bool firstTarget = true;
  for (const std::string &target : targets) {
    config << (firstTarget ? "" : ", ") << "\"" << target << "\"";
    firstTarget = false;
  }
  config << "],\n  \"rank_pattern\": {";
  // Adapters that differ from the first are listed by their full path.
  bool firstPattern = true;
  for (const AdapterInfo &adapter : plan.adapters)
    if (!sameRank) {
      config << (firstPattern ? "" : ", ") << "\"" << adapter.module
             << "\": " << adapter.rank;
      firstPattern = false;
    }
  config << "},\n  \"alpha_pattern\": {";
  firstPattern = true;
  for (const AdapterInfo &adapter : plan.adapters)
    if (!sameAlpha) {
      config << (firstPattern ? "" : ", ") << "\"" << adapter.module
             << "\": " << jsonNumber(adapter.alpha);
      firstPattern = false;
    }
  config << "},\n  \"inference_mode\": true,\n  \"init_lora_weights\": true,\n"
         << "  \"modules_to_save\": null,\n  \"use_rslora\": false,\n"
         << "  \"use_dora\": false\n}\n";
  return writeFileAtomically(directory + "/adapter_config.json", config.str(),
                             error);
}

void mergeAdapter(const AdapterInfo &adapter, const float *a, const float *b,
                  int64_t in, int64_t out, float *weight) {
  int64_t rank = adapter.rank;
  double scale = adapter.alpha / double(rank);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      double delta = 0.0;
      for (int64_t r = 0; r < rank; ++r)
        delta += double(b[o * rank + r]) * a[r * in + i];
      // nn.Linear stores [out, in]; GPT-2's Conv1D stores [in, out].
      weight[adapter.fanInFanOut ? i * out + o : o * in + i] +=
          float(scale * delta);
    }
}

bool saveMergedWeights(const Trainer &trainer, const std::string &path,
                       std::string &error, const SaveOptions &options) {
  const Plan &plan = trainer.plan();
  if (plan.adapters.empty()) {
    error = "--merge-lora: the plan has no LoRA adapters to merge";
    return false;
  }
  // Copies of the base weights that adapters change.
  std::map<std::string, std::vector<float>> merged;
  for (const AdapterInfo &adapter : plan.adapters) {
    const ParamInfo *base = findParam(plan, adapter.module + ".weight");
    const ParamInfo *a = findParam(plan, adapter.module + ".lora_A.weight");
    const ParamInfo *b = findParam(plan, adapter.module + ".lora_B.weight");
    if (!base || !a || !b) {
      error = "adapter '" + adapter.module + "' is missing a weight";
      return false;
    }
    std::vector<float> &out = merged[base->name];
    out = trainer.readTensor(base->tensor);
    mergeAdapter(adapter, trainer.readTensor(a->tensor).data(),
                 trainer.readTensor(b->tensor).data(),
                 plan.tensors[a->tensor].shape[1],
                 plan.tensors[b->tensor].shape[0], out.data());
  }
  std::vector<NamedTensor> tensors;
  for (const ParamInfo &param : plan.params) {
    if (param.name.find(".lora_") != std::string::npos)
      continue;
    std::vector<float> &values = merged[param.name];
    if (values.empty())
      values = trainer.readTensor(param.tensor);
    tensors.push_back(
        {param.name, plan.tensors[param.tensor].shape, values.data()});
  }
  return saveTensors(path, tensors, options, plan.hfConfig, error);
}

namespace {

/// The value PEFT gives module `path` from a pattern map (`rank_pattern`,
/// `alpha_pattern`): the first key, a regular expression, that matches the
/// path as `(.*\.)?KEY$` (PEFT's rule); else `fallback`. A key that is no
/// regular expression matches only itself.
double patterned(const Json *patterns, const std::string &path,
                 double fallback) {
  if (!patterns || patterns->kind != Json::Kind::Object)
    return fallback;
  for (const auto &[key, value] : patterns->object) {
    if (value.kind != Json::Kind::Number)
      continue;
    bool matches = key == path;
    try {
      matches = matches ||
                std::regex_match(path, std::regex("(.*\\.)?(" + key + ")"));
    } catch (const std::regex_error &) {
    }
    if (matches)
      return value.number;
  }
  return fallback;
}
} // namespace

bool loadAdapter(Trainer &trainer, const std::string &directory,
                 std::string &error) {
  const Plan &plan = trainer.plan();
  if (plan.adapters.empty()) {
    error = "--init-adapter: the plan has no LoRA adapters (apply a lora "
            "schedule)";
    return false;
  }
  if (plan.tp > 1) {
    error = "--init-adapter takes plans compiled for tp 1";
    return false;
  }
  std::string configPath = directory + "/adapter_config.json";
  std::ifstream in(configPath);
  if (!in) {
    error = configPath + ": cannot open (--init-adapter takes a PEFT adapter "
                         "directory)";
    return false;
  }
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  Json config;
  std::string problem;
  if (!parseJson(text, config, problem) || config.kind != Json::Kind::Object) {
    error = configPath + ": bad adapter config: " +
            (problem.empty() ? "not a JSON object" : problem);
    return false;
  }
  auto number = [&](const char *key, double fallback) {
    const Json *value = config.get(key);
    return value && value->kind == Json::Kind::Number ? value->number
                                                      : fallback;
  };
  auto flag = [&](const char *key) {
    const Json *value = config.get(key);
    return value && value->kind == Json::Kind::Bool && value->boolean;
  };
  const Json *type = config.get("peft_type");
  if (!type || type->kind != Json::Kind::String || type->string != "LORA") {
    error = configPath + ": peft_type is not \"LORA\"";
    return false;
  }
  for (const char *unsupported : {"use_rslora", "use_dora"})
    if (flag(unsupported)) {
      error = configPath + ": " + unsupported +
              " is true; slapo's lora primitive trains plain LoRA";
      return false;
    }
  double defaultAlpha = number("lora_alpha", 8.0);

  std::unique_ptr<SafetensorsFile> file =
      SafetensorsFile::open(directory + "/adapter_model.safetensors", error);
  if (!file)
    return false;
  std::set<std::string> taken;
  for (const AdapterInfo &adapter : plan.adapters) {
    double alpha =
        patterned(config.get("alpha_pattern"), adapter.module, defaultAlpha);
    if (std::abs(alpha - adapter.alpha) > 1e-9 * std::abs(adapter.alpha)) {
      error = configPath + ": '" + adapter.module + "' has lora_alpha " +
              jsonNumber(alpha) + ", the plan's adapter " +
              jsonNumber(adapter.alpha);
      return false;
    }
    for (const char *part : {"lora_A", "lora_B"}) {
      std::string name = adapter.module + "." + part + ".weight";
      std::string stored = "base_model.model." + name;
      const ParamInfo *param = findParam(plan, name);
      const SafetensorsEntry *entry = file->find(stored);
      if (!param || !entry) {
        error = file->path() + ": has no tensor '" + stored + "'";
        return false;
      }
      const std::vector<int64_t> &shape = plan.tensors[param->tensor].shape;
      if (entry->shape != shape) {
        error = file->path() + ": tensor '" + stored +
                "' has another shape than the plan's adapter (rank " +
                std::to_string(adapter.rank) + ")";
        return false;
      }
      std::vector<float> values(size_t(entry->numel()));
      if (!file->readFloat32(*entry, stored, 0, entry->numel(), values.data(),
                             error))
        return false;
      trainer.writeTensor(param->tensor, values.data());
      taken.insert(stored);
    }
  }
  for (const auto &[name, entry] : file->entries())
    if (!taken.count(name)) {
      error = file->path() + ": tensor '" + name +
              "' adapts no module the plan adapts (the plan's lora schedule "
              "and the adapter differ)";
      return false;
    }
  return true;
}

} // namespace slapo::rt
