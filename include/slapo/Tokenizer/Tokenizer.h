//===- Tokenizer.h - text to token ids ---------------------------*- C++
//-*-===//
//
// The tokenizers of the models slapo trains, read from the files their
// checkpoints ship:
//
//   tokenizer.json   Hugging Face tokenizers, model BPE, byte-level: GPT-2 /
//                    OPT (pre_tokenizer ByteLevel with the GPT-2 regex) and
//                    Llama 3 (Sequence[Split(regex, Isolated),
//                    ByteLevel(use_regex=false)]). Our own implementation,
//                    checked id for id against the `tokenizers` package.
//   *.model          SentencePiece (LLaMA 1/2), through libsentencepiece.
//
// encode() gives the ids Hugging Face's encode(text,
// add_special_tokens=False) gives (SentencePiece: encode(text)): added and
// special tokens written in the text are matched, but nothing is added
// around it (no post-processor). A tokenizer.json part this library does not
// implement is refused when the file is opened, naming the file and the
// field, instead of giving other ids. See docs/tokenizer.md.
//
// No MLIR or LLVM here.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_TOKENIZER_TOKENIZER_H
#define SLAPO_TOKENIZER_TOKENIZER_H

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace slapo::tok {

/// Called now and then during a long encode with the bytes done so far.
using Progress = std::function<void(size_t bytesDone)>;

class Tokenizer {
public:
  virtual ~Tokenizer();

  /// Opens `path` by its name: a `.json` file is a Hugging Face
  /// tokenizer.json, a `.model` file a SentencePiece model.
  static std::unique_ptr<Tokenizer> open(const std::string &path,
                                         std::string &error);

  /// Appends the ids of UTF-8 `text`. False with `error` (no path in it) on
  /// text that is not valid UTF-8 or that the vocabulary cannot represent.
  /// Not thread-safe (a byte-level BPE keeps a cache of words).
  virtual bool encode(std::string_view text, std::vector<uint32_t> &ids,
                      std::string &error,
                      const Progress &progress = nullptr) const = 0;

  /// The bytes `ids` stand for. False with `error` on an id outside the
  /// vocabulary.
  virtual bool decode(const std::vector<uint32_t> &ids, std::string &text,
                      std::string &error) const = 0;

  /// One more than the largest id.
  virtual uint64_t vocabSize() const = 0;

  /// The id of a token given by its text (an added or special token, or a
  /// vocabulary entry as the file writes it), if there is one.
  virtual std::optional<uint32_t> tokenId(std::string_view token) const = 0;

  /// The BOS / EOS ids the tokenizer file itself names (a SentencePiece
  /// model's bos_id and eos_id), if any. A tokenizer.json names none.
  virtual std::optional<uint32_t> bosId() const { return std::nullopt; }
  virtual std::optional<uint32_t> eosId() const { return std::nullopt; }

  /// "byte-level BPE" or "SentencePiece", for messages.
  virtual std::string kind() const = 0;

  const std::string &path() const { return filePath; }

protected:
  explicit Tokenizer(std::string path) : filePath(std::move(path)) {}

private:
  std::string filePath;
};

/// The byte offset of the first byte of `text` that is not valid UTF-8
/// (overlong forms, surrogates and code points over U+10FFFF are invalid),
/// or npos.
size_t findInvalidUtf8(std::string_view text);

} // namespace slapo::tok

#endif // SLAPO_TOKENIZER_TOKENIZER_H
