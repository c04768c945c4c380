//===- slapo-tokenize.cpp - text to slapo-run's token data ----------------===//
//
//   slapo-tokenize --tokenizer tokenizer.json|tokenizer.model INPUT... -o OUT
//                  [--add-bos] [--eos] [--bos-token T] [--eos-token T]
//                  [--dtype auto|uint16|uint32] [--decode] [--progress]
//
// .txt inputs become a token file (.bin), .jsonl inputs of text examples
// slapo's .jsonl of ids; --decode turns a .bin back into text. Thin: options,
// then the tokenizer library (lib/Tokenizer). See docs/tokenizer.md.
//
//===----------------------------------------------------------------------===//

#include "slapo/Tokenizer/Corpus.h"
#include "slapo/Tokenizer/Tokenizer.h"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <unistd.h>

using namespace slapo::tok;

namespace {

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int fail(const std::string &message) {
  std::fprintf(stderr, "slapo-tokenize: error: %s\n", message.c_str());
  return 1;
}

/// "12.3 of 100.0 MB (12%), 4.5 MB/s" on one stderr line, redrawn: on a
/// terminal once a run has taken half a second, or always with --progress.
class ProgressLine {
public:
  explicit ProgressLine(bool forced)
      : forced(forced), enabled(forced || isatty(STDERR_FILENO)),
        start(std::chrono::steady_clock::now()) {}
  ~ProgressLine() {
    if (shown)
      std::fputc('\n', stderr);
  }
  void operator()(uint64_t done, uint64_t total) {
    if (!enabled)
      return;
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - start).count();
    bool final = done >= total;
    if (!forced && elapsed < 0.5)
      return;
    if (!final && shown &&
        std::chrono::duration<double>(now - last).count() < 0.1)
      return;
    last = now;
    shown = true;
    double mb = 1e-6;
    std::fprintf(stderr, "\rslapo-tokenize: %.1f of %.1f MB (%d%%), %.1f MB/s",
                 done * mb, total * mb,
                 total ? int(100.0 * double(done) / double(total)) : 100,
                 elapsed > 0 ? done * mb / elapsed : 0.0);
    std::fflush(stderr);
  }

private:
  bool forced, enabled, shown = false;
  std::chrono::steady_clock::time_point start, last;
};

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Tokenizes text for slapo-run: .txt files into a token file "
               "(.bin), a .jsonl of text examples (prompt/completion, "
               "messages, text) into slapo's .jsonl of ids. See "
               "docs/tokenizer.md.",
               "slapo-tokenize"};
  std::string tokenizerPath, output, bosToken, eosToken, dtype = "auto";
  std::vector<std::string> inputs;
  bool addBos = false, addEos = false, decode = false, progress = false;
  app.add_option("--tokenizer", tokenizerPath,
                 "Hugging Face tokenizer.json (byte-level BPE) or "
                 "SentencePiece .model")
      ->required();
  app.add_option("inputs", inputs,
                 ".txt files (each one document) or .jsonl files")
      ->required();
  app.add_option("-o,--output", output,
                 "the .bin (from .txt) or .jsonl (from .jsonl) to write")
      ->required();
  app.add_flag("--add-bos", addBos,
               "start each document / context with the BOS token");
  app.add_flag("--eos", addEos,
               "end each document / completion with the EOS token");
  app.add_option("--bos-token", bosToken,
                 "the BOS token's text (implies --add-bos; default: "
                 "tokenizer_config.json's bos_token, or the model's)");
  app.add_option("--eos-token", eosToken,
                 "the EOS token's text (implies --eos; default: "
                 "tokenizer_config.json's eos_token, or the model's)");
  app.add_option("--dtype", dtype,
                 ".bin id type: auto (uint16 up to 65536 ids, else uint32), "
                 "uint16 or uint32")
      ->check(CLI::IsMember({"auto", "uint16", "uint32"}));
  app.add_flag("--decode", decode,
               "decode one .bin INPUT back into text (-o a text file)");
  app.add_flag("--progress", progress,
               "show the progress line even when stderr is not a terminal");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    if (e.get_exit_code() == 0)
      return app.exit(e);
    return fail(std::string(e.what()) + " (see --help)");
  }

  std::string error;
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::open(tokenizerPath, error);
  if (!tokenizer)
    return fail(error);

  CorpusSummary summary;
  if (decode) {
    if (inputs.size() != 1 || !endsWith(inputs[0], ".bin"))
      return fail("--decode takes one .bin input");
    if (!decodeTokenFile(*tokenizer, inputs[0], output, summary, error))
      return fail(error);
    std::printf("slapo-tokenize: %s: %llu tokens decoded from %s\n",
                output.c_str(), (unsigned long long)summary.tokens,
                inputs[0].c_str());
    return 0;
  }

  bool text = endsWith(inputs[0], ".txt");
  bool jsonl = endsWith(inputs[0], ".jsonl");
  for (const std::string &input : inputs)
    if (!(text    ? endsWith(input, ".txt")
          : jsonl ? endsWith(input, ".jsonl")
                  : false))
      return fail(input + ": expected " +
                  (text ? std::string(".txt inputs only (the first is one)")
                   : jsonl
                       ? std::string(".jsonl inputs only (the first is one)")
                       : std::string("a .txt or .jsonl input")));
  const char *outputSuffix = text ? ".bin" : ".jsonl";
  if (!endsWith(output, outputSuffix))
    return fail(output + ": the output of " + (text ? ".txt" : ".jsonl") +
                " inputs is a " + outputSuffix + " file");

  CorpusOptions options;
  if (addBos || !bosToken.empty()) {
    uint32_t id;
    if (!resolveSpecialToken(*tokenizer, "bos", bosToken, id, error))
      return fail(error);
    options.bos = id;
  }
  if (addEos || !eosToken.empty()) {
    uint32_t id;
    if (!resolveSpecialToken(*tokenizer, "eos", eosToken, id, error))
      return fail(error);
    options.eos = id;
  }
  options.elementSize = dtype == "uint16" ? 2 : dtype == "uint32" ? 4 : 0;
  bool ok;
  {
    ProgressLine line(progress);
    options.progress = [&](uint64_t done, uint64_t total) {
      line(done, total);
    };
    ok = text ? tokenizeTextFiles(*tokenizer, inputs, output, options, summary,
                                  error)
              : tokenizeJsonlFiles(*tokenizer, inputs, output, options, summary,
                                   error);
  }
  if (!ok)
    return fail(error);
  std::string what =
      text ? "uint" + std::to_string(8 * summary.elementSize) +
                 " tokens from " + std::to_string(summary.documents) + " file" +
                 (summary.documents == 1 ? "" : "s")
           : "tokens in " + std::to_string(summary.documents) + " example" +
                 (summary.documents == 1 ? "" : "s");
  std::printf("slapo-tokenize: %s: %llu %s (%llu bytes of text, %s, "
              "vocabulary %llu)\n",
              output.c_str(), (unsigned long long)summary.tokens, what.c_str(),
              (unsigned long long)summary.inputBytes, tokenizer->kind().c_str(),
              (unsigned long long)tokenizer->vocabSize());
  return 0;
}
