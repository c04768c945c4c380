//===- Loaders.h - the tokenizer file readers (internal) --------*- C++ -*-===//

#ifndef SLAPO_LIB_TOKENIZER_LOADERS_H
#define SLAPO_LIB_TOKENIZER_LOADERS_H

#include "slapo/Tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

namespace slapo::tok {

/// A Hugging Face tokenizer.json (byte-level BPE); HuggingFace.cpp.
std::unique_ptr<Tokenizer> openHuggingFace(const std::string &path,
                                           std::string &error);

/// A SentencePiece model; SentencePiece.cpp.
std::unique_ptr<Tokenizer> openSentencePiece(const std::string &path,
                                             std::string &error);

/// Parses JSON `text`; false with `error` = "WHERE: not valid JSON (...)".
bool parseJson(std::string_view text, const std::string &where,
               nlohmann::json &out, std::string &error);

} // namespace slapo::tok

#endif // SLAPO_LIB_TOKENIZER_LOADERS_H
