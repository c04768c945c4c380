//===- TokenFile.cpp - .bin token files with a recorded dtype -------------===//

#include "slapo/Tokenizer/TokenFile.h"

#include <cstring>

namespace slapo::tok {

namespace {

uint64_t readLittleEndian(const char *bytes, size_t size) {
  uint64_t value = 0;
  for (size_t i = 0; i < size; ++i)
    value |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  return value;
}

void appendLittleEndian(std::string &out, uint64_t value, size_t size) {
  for (size_t i = 0; i < size; ++i)
    out.push_back(char((value >> (8 * i)) & 0xff));
}

} // namespace

uint32_t tokenElementSize(uint64_t vocabSize) {
  return vocabSize <= 65536 ? 2 : 4;
}

bool readTokenFile(std::string_view bytes, const std::string &path,
                   std::vector<int64_t> &ids, TokenFileInfo &info,
                   std::string &error) {
  info = TokenFileInfo();
  bool headed =
      bytes.size() >= sizeof(kTokenFileMagic) &&
      std::memcmp(bytes.data(), kTokenFileMagic, sizeof(kTokenFileMagic)) == 0;
  if (!headed) {
    // nanoGPT's headerless format: little-endian uint16 ids.
    info.legacy = true;
    if (bytes.size() % 2 != 0) {
      error = path + ": a .bin file without a header holds uint16 ids "
                     "(nanoGPT's format), but it has an odd number of bytes";
      return false;
    }
    info.count = bytes.size() / 2;
  } else {
    if (bytes.size() < kTokenFileHeaderSize) {
      error = path + ": truncated token file header (" +
              std::to_string(bytes.size()) + " of " +
              std::to_string(kTokenFileHeaderSize) + " bytes)";
      return false;
    }
    uint64_t version = readLittleEndian(bytes.data() + 8, 4);
    if (version != kTokenFileVersion) {
      error = path + ": token file version " + std::to_string(version) +
              "; this slapo reads version " + std::to_string(kTokenFileVersion);
      return false;
    }
    info.elementSize = uint32_t(readLittleEndian(bytes.data() + 12, 4));
    if (info.elementSize != 2 && info.elementSize != 4) {
      error = path + ": token file element size " +
              std::to_string(info.elementSize) +
              " (expected 2 for uint16 ids or 4 for uint32)";
      return false;
    }
    info.count = readLittleEndian(bytes.data() + 16, 8);
    info.vocabSize = readLittleEndian(bytes.data() + 24, 8);
    uint64_t payload = bytes.size() - kTokenFileHeaderSize;
    if (info.count > payload / info.elementSize ||
        info.count * info.elementSize != payload) {
      error = path + ": the header records " + std::to_string(info.count) +
              " uint" + std::to_string(8 * info.elementSize) +
              " ids, but the file holds " + std::to_string(payload) +
              " bytes of ids (truncated or damaged file?)";
      return false;
    }
  }
  const char *data =
      bytes.data() + (info.legacy ? size_t(0) : kTokenFileHeaderSize);
  ids.reserve(ids.size() + info.count);
  for (uint64_t i = 0; i < info.count; ++i)
    ids.push_back(int64_t(
        readLittleEndian(data + i * info.elementSize, info.elementSize)));
  return true;
}

bool encodeTokenFile(const std::vector<uint32_t> &ids, uint32_t elementSize,
                     uint64_t vocabSize, std::string &bytes,
                     std::string &error) {
  if (elementSize != 2 && elementSize != 4) {
    error = "token file element size " + std::to_string(elementSize) +
            " (expected 2 or 4)";
    return false;
  }
  uint64_t limit = elementSize == 2 ? 65536 : (uint64_t(1) << 32);
  bytes.clear();
  bytes.reserve(kTokenFileHeaderSize + ids.size() * elementSize);
  bytes.append(kTokenFileMagic, sizeof(kTokenFileMagic));
  appendLittleEndian(bytes, kTokenFileVersion, 4);
  appendLittleEndian(bytes, elementSize, 4);
  appendLittleEndian(bytes, ids.size(), 8);
  appendLittleEndian(bytes, vocabSize, 8);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= limit) {
      error = "token " + std::to_string(i) + " is id " +
              std::to_string(ids[i]) + ", which uint" +
              std::to_string(8 * elementSize) + " cannot hold";
      return false;
    }
    appendLittleEndian(bytes, ids[i], elementSize);
  }
  return true;
}

} // namespace slapo::tok
