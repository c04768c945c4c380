//===- Safetensors.cpp - Hugging Face safetensors files -------------------===//
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data section the offsets point into.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Safetensors.h"
#include "slapo/Runtime/Json.h"

#include <cstdio>
#include <fstream>
#include <iterator>

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

} // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string &path,
                                                       std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open";
    return nullptr;
  }
  auto file = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  file->bytes.assign(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
  const std::vector<uint8_t> &b = file->bytes;
  if (b.size() < 8) {
    error = path +
            ": not a safetensors file (shorter than its 8-byte header length)";
    return nullptr;
  }
  uint64_t headerLength = 0;
  for (int i = 7; i >= 0; --i)
    headerLength = (headerLength << 8) | b[i];
  if (headerLength > b.size() - 8) {
    error = path + ": truncated safetensors file: the header claims " +
            std::to_string(headerLength) + " bytes but the file has " +
            std::to_string(b.size() - 8);
    return nullptr;
  }
  file->dataStart = 8 + headerLength;
  uint64_t dataBytes = b.size() - file->dataStart;
  Json header;
  std::string problem;
  if (!parseJson(std::string(b.begin() + 8, b.begin() + 8 + headerLength),
                 header, problem) ||
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
    int64_t count = 1;
    for (const Json &dim : shape->array) {
      if (dim.kind != Json::Kind::Number || !dim.integral || dim.integer < 0) {
        error = path + ": tensor '" + name + "' has a bad shape";
        return nullptr;
      }
      info.shape.push_back(dim.integer);
      count *= dim.integer;
    }
    for (const Json &offset : offsets->array)
      if (offset.kind != Json::Kind::Number || !offset.integral ||
          offset.integer < 0) {
        error = path + ": tensor '" + name + "' has bad data_offsets";
        return nullptr;
      }
    info.begin = offsets->array[0].integer;
    info.end = offsets->array[1].integer;
    int64_t size = elementBytes(info.dtype);
    if (size == 0) {
      error = path + ": tensor '" + name + "' has unknown dtype " + info.dtype;
      return nullptr;
    }
    if (info.end < info.begin || info.end > dataBytes) {
      error = path + ": truncated safetensors file: tensor '" + name +
              "' ends at byte " + std::to_string(info.end) +
              " of a data section of " + std::to_string(dataBytes);
      return nullptr;
    }
    if (info.end - info.begin != uint64_t(count * size)) {
      error = path + ": tensor '" + name + "' holds " +
              std::to_string(info.end - info.begin) + " bytes, not the " +
              std::to_string(count * size) + " its shape and dtype need";
      return nullptr;
    }
    file->tensors[name] = std::move(info);
  }
  return file;
}

const SafetensorsEntry *SafetensorsFile::find(const std::string &name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

bool writeSafetensors(const std::string &path,
                      const std::vector<NamedTensor> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error) {
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
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const NamedTensor &t = tensors[i];
    int64_t count = 1;
    std::string shape;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      shape += (d ? "," : "") + std::to_string(t.shape[d]);
      count *= t.shape[d];
    }
    uint64_t end = offset + uint64_t(count) * 4;
    header += (header.size() > 1 ? ",\"" : "\"") + escape(t.name) +
              "\":{\"dtype\":\"F32\",\"shape\":[" + shape +
              "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(end) + "]}";
    offset = end;
  }
  header += "}";
  while (header.size() % 8 != 0) // keep the data section 8-byte aligned
    header += ' ';

  std::string temporary = path + ".tmp";
  std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
  if (!out) {
    error = path + ": cannot write";
    return false;
  }
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i)
    out.put(char((length >> (8 * i)) & 0xff));
  out.write(header.data(), header.size());
  for (const NamedTensor &t : tensors) {
    int64_t count = 1;
    for (int64_t d : t.shape)
      count *= d;
    out.write(reinterpret_cast<const char *>(t.data), count * 4);
  }
  out.close();
  if (!out || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    error = path + ": writing failed";
    return false;
  }
  return true;
}

} // namespace slapo::rt
