//===- Checkpoint.cpp - Hugging Face checkpoints, as they ship ------------===//

#include "slapo/Runtime/Checkpoint.h"
#include "slapo/Runtime/Json.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

namespace slapo::rt {

namespace {

namespace fs = std::filesystem;

constexpr const char *kIndexName = "model.safetensors.index.json";
constexpr const char *kSingleName = "model.safetensors";

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text;
  for (int64_t d : shape)
    text += (text.empty() ? "" : ", ") + std::to_string(d);
  return "[" + text + "]";
}

/// The state-dict prefix of Hugging Face's base model inside the causal LM
/// (`base_model_prefix`): names may be stored without it.
std::string baseModelPrefix(const std::string &modelType) {
  return modelType == "gpt2" ? "transformer." : "model.";
}

/// The input embedding a tied lm_head shares.
std::string tiedEmbeddingName(const std::string &modelType) {
  if (modelType == "gpt2")
    return "transformer.wte.weight";
  if (modelType == "opt")
    return "model.decoder.embed_tokens.weight";
  return "model.embed_tokens.weight";
}

bool sameBytes(const Checkpoint::Tensor &a, const Checkpoint::Tensor &b) {
  if (a.entry->dtype != b.entry->dtype || a.entry->shape != b.entry->shape)
    return false;
  return std::memcmp(a.file->data(*a.entry), b.file->data(*b.entry),
                     a.entry->end - a.entry->begin) == 0;
}

} // namespace

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string &path,
                                             std::string &error) {
  auto checkpoint = std::unique_ptr<Checkpoint>(new Checkpoint());
  checkpoint->thePath = path;
  std::error_code code;
  fs::path index;
  if (fs::is_directory(path, code)) {
    // from_pretrained's order: the single file first, then the index.
    if (fs::exists(fs::path(path) / kSingleName, code))
      return open((fs::path(path) / kSingleName).string(), error);
    if (fs::exists(fs::path(path) / kIndexName, code))
      index = fs::path(path) / kIndexName;
    else {
      error = path + ": a directory with neither " + kIndexName + " nor " +
              kSingleName + " in it";
      return nullptr;
    }
  } else if (path.size() >= 5 && path.substr(path.size() - 5) == ".json") {
    index = path;
  }

  if (index.empty()) {
    std::unique_ptr<SafetensorsFile> file = SafetensorsFile::open(path, error);
    if (!file)
      return nullptr;
    for (const auto &entry : file->entries())
      checkpoint->where[entry.first] = file.get();
    checkpoint->files.push_back(std::move(file));
    return checkpoint;
  }

  // A sharded checkpoint: {"metadata": {...}, "weight_map": {name: file}}.
  std::ifstream in(index);
  if (!in) {
    error = index.string() + ": cannot open";
    return nullptr;
  }
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  Json json;
  std::string problem;
  if (!parseJson(text, json, problem)) {
    error = index.string() + ": bad index: " + problem;
    return nullptr;
  }
  const Json *map = json.get("weight_map");
  if (json.kind != Json::Kind::Object || !map ||
      map->kind != Json::Kind::Object) {
    error = index.string() + ": bad index: no \"weight_map\" object";
    return nullptr;
  }
  std::map<std::string, SafetensorsFile *> opened;
  for (const auto &[name, file] : map->object) {
    if (file.kind != Json::Kind::String || file.string.empty() ||
        file.string.find('/') != std::string::npos) {
      error = index.string() + ": weight_map entry '" + name +
              "' must name a file in the index's directory";
      return nullptr;
    }
    SafetensorsFile *&shard = opened[file.string];
    if (!shard) {
      std::string shardPath = (index.parent_path() / file.string).string();
      std::unique_ptr<SafetensorsFile> loaded =
          SafetensorsFile::open(shardPath, error);
      if (!loaded) {
        error = index.string() + ": shard of '" + name + "': " + error;
        return nullptr;
      }
      shard = loaded.get();
      checkpoint->files.push_back(std::move(loaded));
    }
    if (!shard->find(name)) {
      error = index.string() + ": places '" + name + "' in " + file.string +
              ", which has no such tensor";
      return nullptr;
    }
    checkpoint->where[name] = shard;
  }
  // A tensor a shard holds but the index does not list is still a tensor
  // of the checkpoint (and reported unused if nothing takes it).
  for (const auto &file : checkpoint->files)
    for (const auto &entry : file->entries())
      checkpoint->where.emplace(entry.first, file.get());
  return checkpoint;
}

Checkpoint::Tensor Checkpoint::find(const std::string &name) const {
  auto it = where.find(name);
  if (it == where.end())
    return {};
  return {it->second, it->second->find(name), name};
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> all;
  for (const auto &entry : where)
    all.push_back(entry.first);
  return all;
}

std::string shapeMismatch(const Checkpoint::Tensor &tensor,
                          const std::vector<int64_t> &shape,
                          const std::string &where) {
  if (tensor.entry->shape == shape)
    return "";
  return where + ": tensor '" + tensor.name + "' has shape " +
         shapeText(tensor.entry->shape) + ", the model needs " +
         shapeText(shape);
}

bool bindWeights(
    const Plan &plan, const Checkpoint &checkpoint,
    const std::function<std::vector<int64_t>(const ParamInfo &)> &fullShape,
    std::vector<WeightSource> &sources, std::vector<std::string> &unused,
    std::string &error) {
  std::string prefix = baseModelPrefix(plan.modelType);
  std::set<std::string> taken;
  bool hasHead = false;
  for (const ParamInfo &param : plan.params)
    hasHead |= param.name == "lm_head.weight";
  std::string tiedEmbedding = tiedEmbeddingName(plan.modelType);
  Checkpoint::Tensor storedHead =
      hasHead ? Checkpoint::Tensor{} : checkpoint.find("lm_head.weight");

  sources.clear();
  for (const ParamInfo &param : plan.params) {
    Checkpoint::Tensor tensor = checkpoint.find(param.name);
    if (!tensor.file && param.name.rfind(prefix, 0) == 0)
      tensor = checkpoint.find(param.name.substr(prefix.size()));
    if (!tensor.file && param.name == tiedEmbedding && storedHead.file)
      tensor = storedHead;
    if (!param.initFile.empty()) {
      // Read from its own file (Trainer::loadParameterFiles); a copy here
      // (a checkpoint saved with it) is not unused.
      if (tensor.file)
        taken.insert(tensor.name);
      continue;
    }
    if (!tensor.file && !param.addedBy.empty()) {
      sources.push_back({&param, {}});
      continue;
    }
    if (!tensor.file) {
      error = checkpoint.path() + ": has no tensor '" + param.name + "'";
      if (param.name.rfind(prefix, 0) == 0)
        error += " (nor '" + param.name.substr(prefix.size()) + "')";
      return false;
    }
    error = shapeMismatch(tensor, fullShape(param), checkpoint.path());
    if (!error.empty())
      return false;
    taken.insert(tensor.name);
    sources.push_back({&param, tensor});
  }
  // The tie's stored copy is used when it is the embedding.
  if (storedHead.file && !taken.count(storedHead.name)) {
    Checkpoint::Tensor embedding;
    for (const WeightSource &source : sources)
      if (source.param->name == tiedEmbedding)
        embedding = source.tensor;
    if (embedding.file && sameBytes(embedding, storedHead))
      taken.insert(storedHead.name);
  }
  unused.clear();
  for (const std::string &name : checkpoint.names())
    if (!taken.count(name))
      unused.push_back(name);
  return true;
}

bool writeCheckpoint(const std::string &directory,
                     const std::vector<NamedTensor> &tensors, WeightDType dtype,
                     uint64_t maxShardBytes, const std::string &configJson,
                     std::string &error) {
  std::error_code code;
  fs::create_directories(directory, code);
  if (code || !fs::is_directory(directory, code)) {
    error = directory + ": cannot create the checkpoint directory" +
            (code ? ": " + code.message() : "");
    return false;
  }
  // Shards in order: a tensor that does not fit the current shard starts
  // the next one, as save_pretrained(max_shard_size=...) splits.
  std::vector<std::vector<NamedTensor>> shards(1);
  uint64_t shardBytes = 0, totalBytes = 0;
  int64_t elementBytes = weightDTypeBytes(dtype);
  for (const NamedTensor &tensor : tensors) {
    uint64_t bytes = uint64_t(tensor.numel() * elementBytes);
    if (!shards.back().empty() && shardBytes + bytes > maxShardBytes) {
      shards.emplace_back();
      shardBytes = 0;
    }
    shards.back().push_back(tensor);
    shardBytes += bytes;
    totalBytes += bytes;
  }
  auto shardName = [&](size_t i) {
    if (shards.size() == 1)
      return std::string(kSingleName);
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1,
                  shards.size());
    return std::string(name);
  };
  auto written = [&](const std::string &name, const std::string &text) {
    return writeFileAtomically((fs::path(directory) / name).string(), text,
                               error);
  };
  std::string weightMap;
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string name = shardName(i);
    if (!writeSafetensors((fs::path(directory) / name).string(), shards[i],
                          {{"format", "pt"}}, error, dtype))
      return false;
    for (const NamedTensor &tensor : shards[i])
      weightMap += std::string(weightMap.empty() ? "" : ",\n") + "    \"" +
                   tensor.name + "\": \"" + name + "\"";
  }
  if (shards.size() > 1 &&
      !written(
          kIndexName,
          "{\n  \"metadata\": {\"total_size\": " + std::to_string(totalBytes) +
              "},\n  \"weight_map\": {\n" + weightMap + "\n  }\n}\n"))
    return false;
  if (!configJson.empty() && !written("config.json", configJson))
    return false;
  // Only now that the new checkpoint is whole: the files of an earlier
  // save that would shadow or mix with it (a single file, an index, other
  // shards), as save_pretrained removes them.
  std::set<std::string> current;
  for (size_t i = 0; i < shards.size(); ++i)
    current.insert(shardName(i));
  if (shards.size() > 1)
    current.insert(kIndexName);
  for (const auto &entry : fs::directory_iterator(directory, code)) {
    std::string name = entry.path().filename().string();
    // A temporary a killed save left (of any of its files) goes too.
    std::string stem = name;
    bool temporary =
        stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".tmp") == 0;
    if (temporary)
      stem.resize(stem.size() - 4);
    bool ours = stem == kSingleName || stem == kIndexName ||
                (stem.rfind("model-", 0) == 0 &&
                 stem.find("-of-") != std::string::npos &&
                 fs::path(stem).extension() == ".safetensors") ||
                (temporary && stem == "config.json");
    if (!ours || (!temporary && current.count(name)) ||
        (temporary && fs::is_directory(fs::symlink_status(entry.path()))))
      continue;
    std::error_code removed;
    if (!fs::remove(entry.path(), removed) || removed) {
      error = entry.path().string() +
              ": an earlier save's file that cannot be removed" +
              (removed ? ": " + removed.message() : "");
      return false;
    }
  }
  return true;
}

bool writeFileAtomically(const std::string &path, const std::string &text,
                         std::string &error) {
  // As writeSafetensors: a stale temporary is removed, never written
  // through (it may be a link), and this one is never left behind.
  std::string temporary = path + ".tmp";
  std::remove(temporary.c_str());
  std::ofstream out;
  if (!fs::exists(fs::symlink_status(temporary)))
    out.open(temporary, std::ios::trunc);
  if (!out.is_open() || !out) {
    error = path + ": cannot write " + temporary;
    return false;
  }
  out << text;
  out.close();
  if (!out || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    error = path + ": cannot write";
    return false;
  }
  return true;
}

std::vector<std::string> Checkpoint::paths() const {
  std::vector<std::string> all;
  for (const auto &file : files)
    all.push_back(file->path());
  return all;
}

uint64_t Checkpoint::fingerprint() const {
  // FNV-1a over every file's bytes, read from the mapping.
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const auto &file : files) {
    const uint8_t *bytes = file->bytes();
    for (uint64_t i = 0, n = file->size(); i < n; ++i)
      hash = (hash ^ bytes[i]) * 0x100000001b3ull;
  }
  return hash;
}

bool saveTensors(const std::string &path,
                 const std::vector<NamedTensor> &tensors,
                 const SaveOptions &options, const std::string &configJson,
                 std::string &error) {
  const std::string suffix = ".safetensors";
  if (path.size() >= suffix.size() &&
      path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
    return writeSafetensors(path, tensors, {{"format", "pt"}}, error,
                            options.dtype);
  return writeCheckpoint(path, tensors, options.dtype, options.maxShardBytes,
                         configJson, error);
}

bool parseByteSize(const std::string &text, uint64_t &bytes) {
  size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) ||
          text[digits] == '.'))
    ++digits;
  if (digits == 0 || digits > 20)
    return false;
  char *end = nullptr;
  std::string number = text.substr(0, digits);
  double value = std::strtod(number.c_str(), &end);
  if (*end)
    return false;
  std::string unit = text.substr(digits);
  static const std::pair<const char *, double> kUnits[] = {
      {"", 1.0},
      {"B", 1.0},
      {"KB", 1e3},
      {"MB", 1e6},
      {"GB", 1e9},
      {"TB", 1e12},
      {"KiB", 1024.0},
      {"MiB", 1048576.0},
      {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0}};
  for (const auto &[name, scale] : kUnits)
    if (unit == name) {
      double total = value * scale;
      if (!(total >= 1.0) || total > 1.8e19)
        return false;
      bytes = uint64_t(total);
      return true;
    }
  return false;
}

} // namespace slapo::rt
