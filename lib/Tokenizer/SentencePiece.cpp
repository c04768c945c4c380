//===- SentencePiece.cpp - SentencePiece models through the library -------===//
//
// LLaMA 1/2's tokenizer.model: encoding and decoding are libsentencepiece's
// own (Debian's libsentencepiece-dev); nothing of it is reimplemented here.
//
//===----------------------------------------------------------------------===//

#include "Loaders.h"

#include <sentencepiece_processor.h>

namespace slapo::tok {

namespace {

class SentencePiece final : public Tokenizer {
public:
  explicit SentencePiece(std::string path) : Tokenizer(std::move(path)) {}

  bool load(std::string &error) {
    auto status = processor.Load(path());
    if (!status.ok()) {
      error =
          path() + ": not a SentencePiece model (" + status.ToString() + ")";
      return false;
    }
    if (processor.GetPieceSize() <= 0) {
      error = path() + ": the SentencePiece model has no pieces";
      return false;
    }
    return true;
  }

  bool encode(std::string_view text, std::vector<uint32_t> &ids,
              std::string &error, const Progress &progress) const override {
    size_t bad = findInvalidUtf8(text);
    if (bad != std::string_view::npos) {
      error = "byte " + std::to_string(bad) + " is not valid UTF-8";
      return false;
    }
    std::vector<int> pieces;
    auto status = processor.Encode(text, &pieces);
    if (!status.ok()) {
      error =
          "SentencePiece could not encode the text (" + status.ToString() + ")";
      return false;
    }
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    if (progress)
      progress(text.size());
    return true;
  }

  bool decode(const std::vector<uint32_t> &ids, std::string &text,
              std::string &error) const override {
    std::vector<int> pieces;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] >= vocabSize()) {
        error = "token " + std::to_string(i) + " is id " +
                std::to_string(ids[i]) + ", which " + path() + " does not have";
        return false;
      }
      pieces.push_back(int(ids[i]));
    }
    auto status = processor.Decode(pieces, &text);
    if (!status.ok()) {
      error = "SentencePiece could not decode (" + status.ToString() + ")";
      return false;
    }
    return true;
  }

  uint64_t vocabSize() const override {
    return uint64_t(processor.GetPieceSize());
  }

  std::optional<uint32_t> tokenId(std::string_view token) const override {
    int id = processor.PieceToId(token);
    // Unknown pieces map to unk's id; only unk's own piece is unk.
    if (id < 0 || (processor.IsUnknown(id) && processor.IdToPiece(id) != token))
      return std::nullopt;
    return uint32_t(id);
  }

  std::optional<uint32_t> bosId() const override {
    return idOrNone(processor.bos_id());
  }
  std::optional<uint32_t> eosId() const override {
    return idOrNone(processor.eos_id());
  }

  std::string kind() const override { return "SentencePiece"; }

private:
  static std::optional<uint32_t> idOrNone(int id) {
    return id < 0 ? std::nullopt : std::optional<uint32_t>(uint32_t(id));
  }

  sentencepiece::SentencePieceProcessor processor;
};

} // namespace

std::unique_ptr<Tokenizer> openSentencePiece(const std::string &path,
                                             std::string &error) {
  auto tokenizer = std::make_unique<SentencePiece>(path);
  if (!tokenizer->load(error))
    return nullptr;
  return tokenizer;
}

} // namespace slapo::tok
