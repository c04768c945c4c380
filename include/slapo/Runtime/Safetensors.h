//===- Safetensors.h - Hugging Face safetensors files ----------*- C++ -*-===//
#ifndef SLAPO_RUNTIME_SAFETENSORS_H
#define SLAPO_RUNTIME_SAFETENSORS_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace slapo::rt {

struct SafetensorsEntry {
  std::string dtype; // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0; // byte range within the data section
};

/// A safetensors file read into memory and checked: the header parses, and
/// every tensor's byte range lies in the file and fits its shape and dtype.
class SafetensorsFile {
public:
  static std::unique_ptr<SafetensorsFile> open(const std::string &path,
                                               std::string &error);

  const SafetensorsEntry *find(const std::string &name) const;
  const std::map<std::string, SafetensorsEntry> &entries() const {
    return tensors;
  }
  const uint8_t *data(const SafetensorsEntry &entry) const {
    return bytes.data() + dataStart + entry.begin;
  }

private:
  std::vector<uint8_t> bytes;
  uint64_t dataStart = 0;
  std::map<std::string, SafetensorsEntry> tensors;
};

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float *data = nullptr;
};

/// Writes `tensors` as F32 safetensors (with `metadata` in __metadata__).
/// The file is written to a temporary name and renamed, so an error never
/// leaves a half-written file behind.
bool writeSafetensors(const std::string &path,
                      const std::vector<NamedTensor> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_SAFETENSORS_H
