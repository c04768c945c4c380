//===- Safetensors.h - Hugging Face safetensors files ----------*- C++ -*-===//
//
// Our own reader and writer: the format is an 8-byte header length, a JSON
// header and raw little-endian tensor bytes, which no Debian library reads.
// Files are memory-mapped, so a tensor's bytes are read (and converted) only
// when it is loaded.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_SAFETENSORS_H
#define SLAPO_RUNTIME_SAFETENSORS_H

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace slapo::rt {

/// The float formats slapo reads and writes as weights.
enum class WeightDType { F32, BF16, F16 };

/// "F32", "BF16" or "F16"; parses the same names, and the lower-case
/// "fp32"/"float32", "bf16"/"bfloat16", "fp16"/"float16" of command lines.
const char *weightDTypeName(WeightDType dtype);
bool parseWeightDType(const std::string &text, WeightDType &out);
int64_t weightDTypeBytes(WeightDType dtype);

struct SafetensorsEntry {
  std::string dtype; // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0; // byte range within the data section
  int64_t numel() const;
};

/// A safetensors file, memory-mapped and checked: the header parses, and
/// every tensor's byte range lies in the file and fits its shape and dtype.
class SafetensorsFile {
public:
  static std::unique_ptr<SafetensorsFile> open(const std::string &path,
                                               std::string &error);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile &operator=(const SafetensorsFile &) = delete;

  /// The whole mapped file.
  const uint8_t *bytes() const { return mapped; }
  uint64_t size() const { return mappedBytes; }

  const std::string &path() const { return thePath; }
  const SafetensorsEntry *find(const std::string &name) const;
  const std::map<std::string, SafetensorsEntry> &entries() const {
    return tensors;
  }
  const uint8_t *data(const SafetensorsEntry &entry) const {
    return mapped + dataStart + entry.begin;
  }
  /// Converts `count` elements of `entry` from element `first` on to
  /// float32. Fails, naming the tensor, on a dtype that is not F32, BF16 or
  /// F16, and on a value that is not finite.
  bool readFloat32(const SafetensorsEntry &entry, const std::string &name,
                   int64_t first, int64_t count, float *out,
                   std::string &error) const;

private:
  SafetensorsFile() = default;
  std::string thePath;
  const uint8_t *mapped = nullptr;
  uint64_t mappedBytes = 0;
  uint64_t dataStart = 0;
  std::map<std::string, SafetensorsEntry> tensors;
};

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float *data = nullptr;
  /// Where `data` is null: the values, fetched when the writer reaches
  /// this tensor, so that a caller need not hold every tensor on the host
  /// at once (a device backend's weights come back one at a time).
  std::function<std::vector<float>()> read;
  int64_t numel() const;
};

/// Writes `tensors` as safetensors in `dtype` (converted from float32 as it
/// is written, a chunk at a time), with `metadata` in __metadata__. The file
/// is written to a temporary name and renamed, so an error never leaves a
/// half-written file behind.
bool writeSafetensors(const std::string &path,
                      const std::vector<NamedTensor> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error, WeightDType dtype = WeightDType::F32);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_SAFETENSORS_H
