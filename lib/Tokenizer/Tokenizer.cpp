//===- Tokenizer.cpp - opening a tokenizer file ---------------------------===//

#include "slapo/Tokenizer/Tokenizer.h"

#include "Loaders.h"

#include <filesystem>

namespace slapo::tok {

Tokenizer::~Tokenizer() = default;

namespace {

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

std::unique_ptr<Tokenizer> Tokenizer::open(const std::string &path,
                                           std::string &error) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    error = path + ": no such tokenizer file";
    return nullptr;
  }
  if (endsWith(path, ".json"))
    return openHuggingFace(path, error);
  if (endsWith(path, ".model"))
    return openSentencePiece(path, error);
  error = path + ": unknown tokenizer file (expected a Hugging Face "
                 "tokenizer.json or a SentencePiece .model)";
  return nullptr;
}

bool parseJson(std::string_view text, const std::string &where,
               nlohmann::json &out, std::string &error) {
  try {
    out = nlohmann::json::parse(text);
    return true;
  } catch (const nlohmann::json::exception &e) {
    // Without nlohmann's "[json.exception.parse_error.101] ".
    std::string what = e.what();
    size_t close = what.find("] ");
    if (what.rfind("[json.exception.", 0) == 0 && close != std::string::npos)
      what = what.substr(close + 2);
    error = where + ": not valid JSON (" + what + ")";
    return false;
  }
}

size_t findInvalidUtf8(std::string_view text) {
  const auto *bytes = reinterpret_cast<const unsigned char *>(text.data());
  size_t n = text.size();
  for (size_t i = 0; i < n;) {
    unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    uint32_t code, minimum;
    if ((lead & 0xe0) == 0xc0) {
      length = 2, code = lead & 0x1f, minimum = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, code = lead & 0x0f, minimum = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, code = lead & 0x07, minimum = 0x10000;
    } else {
      return i;
    }
    if (i + length > n)
      return i;
    for (size_t k = 1; k < length; ++k) {
      if ((bytes[i + k] & 0xc0) != 0x80)
        return i;
      code = (code << 6) | (bytes[i + k] & 0x3f);
    }
    if (code < minimum || code > 0x10ffff || (code >= 0xd800 && code < 0xe000))
      return i;
    i += length;
  }
  return std::string_view::npos;
}

} // namespace slapo::tok
