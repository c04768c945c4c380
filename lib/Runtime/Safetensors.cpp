//===- Safetensors.cpp - Hugging Face safetensors files -------------------===//
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data section the offsets point into.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Safetensors.h"
#include "slapo/Runtime/HalfFloat.h"
#include "slapo/Runtime/Json.h"
#include "slapo/Runtime/NonFinite.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace slapo::rt {

namespace {

int64_t elementBytes(const std::string &dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64")
    return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32")
    return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16")
    return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" ||
      dtype == "F8_E5M2")
    return 1;
  return 0;
}

std::string escape(const std::string &text) {
  std::string out;
  for (char ch : text) {
    if (ch == '"' || ch == '\\')
      out += '\\';
    out += ch;
  }
  return out;
}

/// The element count of `shape`, or -1 where it does not fit an int64_t
/// (never for a shape a checked header or a plan gives).
int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return -1;
  return n;
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text;
  for (int64_t d : shape)
    text += (text.empty() ? "" : ", ") + std::to_string(d);
  return "[" + text + "]";
}

/// Reads the 16-bit or 32-bit elements at `bytes` as floats.
void decode(const uint8_t *bytes, const std::string &dtype, int64_t count,
            float *out) {
  if (dtype == "F32") {
    if (count > 0) // an empty tensor's reader may pass no buffer
      std::memcpy(out, bytes, size_t(count) * 4);
    return;
  }
  bool brain = dtype == "BF16";
  for (int64_t i = 0; i < count; ++i) {
    uint16_t bits = uint16_t(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    out[i] = brain ? bf16ToFloat(bits) : f16ToFloat(bits);
  }
}

} // namespace

const char *weightDTypeName(WeightDType dtype) {
  switch (dtype) {
  case WeightDType::F32:
    return "F32";
  case WeightDType::BF16:
    return "BF16";
  case WeightDType::F16:
    return "F16";
  }
  return "?";
}

bool parseWeightDType(const std::string &text, WeightDType &out) {
  if (text == "F32" || text == "fp32" || text == "float32")
    out = WeightDType::F32;
  else if (text == "BF16" || text == "bf16" || text == "bfloat16")
    out = WeightDType::BF16;
  else if (text == "F16" || text == "fp16" || text == "float16")
    out = WeightDType::F16;
  else
    return false;
  return true;
}

int64_t weightDTypeBytes(WeightDType dtype) {
  return dtype == WeightDType::F32 ? 4 : 2;
}

int64_t SafetensorsEntry::numel() const { return product(shape); }
int64_t NamedTensor::numel() const { return product(shape); }

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string &path,
                                                       std::string &error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": cannot open: " + std::strerror(errno);
    return nullptr;
  }
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    error = path + ": not a safetensors file (" +
            (S_ISDIR(info.st_mode) ? "a directory" : "not a regular file") +
            ")";
    return nullptr;
  }
  auto file = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  file->thePath = path;
  uint64_t size = uint64_t(info.st_size);
  if (size < 8) {
    ::close(fd);
    error = path +
            ": not a safetensors file (shorter than its 8-byte header length)";
    return nullptr;
  }
  void *mapped = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED) {
    error = path + ": cannot map: " + std::strerror(errno);
    return nullptr;
  }
  file->mapped = static_cast<const uint8_t *>(mapped);
  file->mappedBytes = size;
  const uint8_t *b = file->mapped;
  uint64_t headerLength = 0;
  for (int i = 7; i >= 0; --i)
    headerLength = (headerLength << 8) | b[i];
  if (headerLength > size - 8) {
    error = path + ": truncated safetensors file: the header claims " +
            std::to_string(headerLength) + " bytes but the file has " +
            std::to_string(size - 8);
    return nullptr;
  }
  file->dataStart = 8 + headerLength;
  uint64_t dataBytes = size - file->dataStart;
  Json header;
  std::string problem;
  if (!parseJson(std::string(b + 8, b + 8 + headerLength), header, problem) ||
      header.kind != Json::Kind::Object) {
    error = path + ": bad safetensors header: " +
            (problem.empty() ? "not a JSON object" : problem);
    return nullptr;
  }
  for (const auto &[name, entry] : header.object) {
    if (name == "__metadata__")
      continue;
    const Json *dtype = entry.get("dtype"), *shape = entry.get("shape"),
               *offsets = entry.get("data_offsets");
    if (!dtype || dtype->kind != Json::Kind::String || !shape ||
        shape->kind != Json::Kind::Array || !offsets ||
        offsets->kind != Json::Kind::Array || offsets->array.size() != 2) {
      error = path + ": tensor '" + name +
              "' needs dtype, shape and data_offsets in the header";
      return nullptr;
    }
    SafetensorsEntry info;
    info.dtype = dtype->string;
    int64_t size = elementBytes(info.dtype);
    if (size == 0) {
      error = path + ": tensor '" + name + "' has unknown dtype " + info.dtype;
      return nullptr;
    }
    // The element and byte counts, checked against overflow (as the
    // safetensors crate's checked product: a zero dimension makes 0).
    for (const Json &dim : shape->array) {
      if (dim.kind != Json::Kind::Number || !dim.integral || dim.integer < 0) {
        error = path + ": tensor '" + name + "' has a bad shape";
        return nullptr;
      }
      info.shape.push_back(dim.integer);
    }
    int64_t count = product(info.shape), signedBytes = 0;
    if (count < 0 || __builtin_mul_overflow(count, size, &signedBytes)) {
      error = path + ": tensor '" + name + "' has shape " +
              shapeText(info.shape) + " whose size overflows";
      return nullptr;
    }
    uint64_t bytes = uint64_t(signedBytes);
    for (const Json &offset : offsets->array)
      if (offset.kind != Json::Kind::Number || !offset.integral ||
          offset.integer < 0) {
        error = path + ": tensor '" + name + "' has bad data_offsets";
        return nullptr;
      }
    info.begin = offsets->array[0].integer;
    info.end = offsets->array[1].integer;
    if (info.end < info.begin || info.end > dataBytes) {
      error = path + ": truncated safetensors file: tensor '" + name +
              "' ends at byte " + std::to_string(info.end) +
              " of a data section of " + std::to_string(dataBytes);
      return nullptr;
    }
    if (info.end - info.begin != bytes) {
      error = path + ": tensor '" + name + "' holds " +
              std::to_string(info.end - info.begin) + " bytes, not the " +
              std::to_string(bytes) + " its shape and dtype need";
      return nullptr;
    }
    file->tensors[name] = std::move(info);
  }
  // No two tensors share bytes: each would alias the other's values.
  std::vector<const std::pair<const std::string, SafetensorsEntry> *> ranges;
  for (const auto &entry : file->tensors)
    if (entry.second.end > entry.second.begin)
      ranges.push_back(&entry);
  std::sort(ranges.begin(), ranges.end(), [](const auto *a, const auto *b) {
    return a->second.begin < b->second.begin ||
           (a->second.begin == b->second.begin && a->first < b->first);
  });
  for (size_t i = 1; i < ranges.size(); ++i) {
    // Sorted by start, with no overlap so far: the previous range reaches
    // furthest.
    if (ranges[i]->second.begin < ranges[i - 1]->second.end) {
      error = path + ": tensors '" + ranges[i - 1]->first + "' and '" +
              ranges[i]->first + "' overlap in the data section (bytes " +
              std::to_string(ranges[i - 1]->second.begin) + "-" +
              std::to_string(ranges[i - 1]->second.end) + " and " +
              std::to_string(ranges[i]->second.begin) + "-" +
              std::to_string(ranges[i]->second.end) + ")";
      return nullptr;
    }
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapped)
    munmap(const_cast<uint8_t *>(mapped), mappedBytes);
}

const SafetensorsEntry *SafetensorsFile::find(const std::string &name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

bool SafetensorsFile::readFloat32(const SafetensorsEntry &entry,
                                  const std::string &name, int64_t first,
                                  int64_t count, float *out,
                                  std::string &error) const {
  if (entry.dtype != "F32" && entry.dtype != "BF16" && entry.dtype != "F16") {
    error = thePath + ": tensor '" + name + "' is " + entry.dtype +
            "; slapo-run loads F32, BF16 and F16 weights";
    return false;
  }
  int64_t size = elementBytes(entry.dtype);
  decode(data(entry) + first * size, entry.dtype, count, out);
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(out[i])) {
      error = thePath + ": tensor '" + name + "' holds a non-finite value (" +
              nonFiniteName(out[i]) + ") at element " +
              std::to_string(first + i);
      return false;
    }
  return true;
}

bool writeSafetensors(const std::string &path,
                      const std::vector<NamedTensor> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error, WeightDType dtype) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto &[key, value] : metadata) {
      header +=
          (first ? "\"" : ",\"") + escape(key) + "\":\"" + escape(value) + "\"";
      first = false;
    }
    header += "}";
  }
  int64_t elementSize = weightDTypeBytes(dtype);
  uint64_t offset = 0;
  for (const NamedTensor &t : tensors) {
    std::string shape;
    for (size_t d = 0; d < t.shape.size(); ++d)
      shape += (d ? "," : "") + std::to_string(t.shape[d]);
    uint64_t end = offset + uint64_t(t.numel() * elementSize);
    header += std::string(header.size() > 1 ? ",\"" : "\"") + escape(t.name) +
              "\":{\"dtype\":\"" + weightDTypeName(dtype) + "\",\"shape\":[" +
              shape + "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(end) + "]}";
    offset = end;
  }
  header += "}";
  while (header.size() % 8 != 0) // keep the data section 8-byte aligned
    header += ' ';

  // The file is written whole next to `path`, then renamed over it. A
  // temporary a killed save left is removed first (never written through:
  // it may be a link), and this one is never left behind.
  std::string temporary = path + ".tmp";
  std::remove(temporary.c_str());
  struct RemoveUnlessKept {
    const std::string &path;
    bool kept = false;
    ~RemoveUnlessKept() {
      if (!kept)
        std::remove(path.c_str());
    }
  } cleanup{temporary};
  int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = path + ": cannot write " + temporary + ": " + std::strerror(errno);
    cleanup.kept = true; // not ours
    return false;
  }
  ::close(fd);
  std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
  if (!out) {
    error = path + ": cannot write";
    return false;
  }
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i)
    out.put(char((length >> (8 * i)) & 0xff));
  out.write(header.data(), header.size());
  std::vector<uint8_t> chunk;
  constexpr int64_t kChunk = 1 << 16;
  std::vector<float> fetched;
  for (const NamedTensor &t : tensors) {
    int64_t count = t.numel();
    const float *values = t.data;
    if (!values) {
      fetched = t.read();
      if (int64_t(fetched.size()) != count) {
        error = path + ": tensor '" + t.name + "' came back with " +
                std::to_string(fetched.size()) + " values, not " +
                std::to_string(count);
        return false;
      }
      values = fetched.data();
    }
    if (dtype == WeightDType::F32) {
      out.write(reinterpret_cast<const char *>(values), count * 4);
      continue;
    }
    for (int64_t first = 0; first < count; first += kChunk) {
      int64_t n = std::min(kChunk, count - first);
      chunk.resize(size_t(2 * n));
      for (int64_t i = 0; i < n; ++i) {
        float value = values[first + i];
        uint16_t bits =
            dtype == WeightDType::BF16 ? floatToBf16(value) : floatToF16(value);
        chunk[2 * i] = uint8_t(bits & 0xff);
        chunk[2 * i + 1] = uint8_t(bits >> 8);
      }
      out.write(reinterpret_cast<const char *>(chunk.data()), 2 * n);
    }
  }
  out.close();
  if (!out || std::rename(temporary.c_str(), path.c_str()) != 0) {
    error = path + ": writing failed";
    return false;
  }
  cleanup.kept = true;
  return true;
}

} // namespace slapo::rt
