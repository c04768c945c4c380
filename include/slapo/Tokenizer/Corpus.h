//===- Corpus.h - text files to slapo-run's token data ----------*- C++ -*-===//
//
// What slapo-tokenize does (docs/tokenizer.md):
//
//   .txt   -> .bin    each input file is one document: [BOS] ids [EOS],
//                     the documents one after another in a token file
//                     (TokenFile.h) of uint16 or uint32 ids
//   .jsonl -> .jsonl  one text example a line, to slapo's
//                     {"context": [ids], "completion": [ids]}
//
// A .jsonl example is one of
//   {"prompt": "...", "completion": "..."}  context = prompt
//   {"messages": [{"role": "...", "content": "..."}, ...]}  chat, below
//   {"text": "..."}                          context empty, completion = text
// (other fields beside these are ignored). Context and completion are
// encoded separately, so the boundary between them is exact; BOS starts the
// context and EOS ends the completion when asked for.
//
// The chat template is ChatML's, written as text (a tokenizer that has
// <|im_start|> and <|im_end|> as added tokens gives them their ids; others
// spell them out). The last message must be the assistant's: it is the
// completion, everything before it is the context:
//
//   context    = for each earlier message:
//                  "<|im_start|>" role "\n" content "<|im_end|>\n"
//                then "<|im_start|>assistant\n"
//   completion = content "<|im_end|>"
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_TOKENIZER_CORPUS_H
#define SLAPO_TOKENIZER_CORPUS_H

#include "slapo/Tokenizer/Tokenizer.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace slapo::tok {

struct CorpusOptions {
  std::optional<uint32_t> bos; // starts each document / context
  std::optional<uint32_t> eos; // ends each document / completion
  /// .bin ids: 2 (uint16), 4 (uint32), or 0 for what the vocabulary needs.
  uint32_t elementSize = 0;
  /// Called now and then with the input bytes done and the total.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct CorpusSummary {
  uint64_t inputBytes = 0;
  uint64_t documents = 0; // files, or .jsonl examples
  uint64_t tokens = 0;
  uint32_t elementSize = 0; // of a .bin
};

/// Tokenizes `inputs` (.txt) into the token file `output` (.bin). Errors
/// name the file (and line of a .jsonl); nothing is left at `output` on
/// failure.
bool tokenizeTextFiles(const Tokenizer &tokenizer,
                       const std::vector<std::string> &inputs,
                       const std::string &output, const CorpusOptions &options,
                       CorpusSummary &summary, std::string &error);

/// Tokenizes `inputs` (.jsonl of text examples) into `output` (.jsonl of
/// ids).
bool tokenizeJsonlFiles(const Tokenizer &tokenizer,
                        const std::vector<std::string> &inputs,
                        const std::string &output, const CorpusOptions &options,
                        CorpusSummary &summary, std::string &error);

/// Decodes the token file `input` (.bin) into the bytes it stands for.
bool decodeTokenFile(const Tokenizer &tokenizer, const std::string &input,
                     const std::string &output, CorpusSummary &summary,
                     std::string &error);

/// The id of the BOS (`which` = "bos") or EOS ("eos") token: `token` if it
/// is not empty, else the `bos_token` / `eos_token` of the
/// tokenizer_config.json beside the tokenizer file (as Hugging Face ships
/// them), else the tokenizer's own (a SentencePiece model's). False with
/// `error` if none is known or the token is not in the vocabulary.
bool resolveSpecialToken(const Tokenizer &tokenizer, const std::string &which,
                         const std::string &token, uint32_t &id,
                         std::string &error);

/// The chat template above: `messages` as (role, content) pairs, the last
/// the assistant's.
void chatTemplate(
    const std::vector<std::pair<std::string, std::string>> &messages,
    std::string &context, std::string &completion);

} // namespace slapo::tok

#endif // SLAPO_TOKENIZER_CORPUS_H
