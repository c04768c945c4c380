//===- Corpus.cpp - text files to slapo-run's token data ------------------===//

#include "slapo/Tokenizer/Corpus.h"
#include "slapo/Tokenizer/TokenFile.h"

#include "Loaders.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace slapo::tok {

namespace {

using nlohmann::json;

bool readWhole(const std::string &path, std::string &bytes,
               std::string &error) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    error = path + ": no such file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open";
    return false;
  }
  bytes.assign(std::istreambuf_iterator<char>(in),
               std::istreambuf_iterator<char>());
  return true;
}

/// Writes `bytes` to `path` through a temporary file, so that a failed
/// write leaves nothing behind and an old file stays whole.
bool writeWhole(const std::string &path, const std::string &bytes,
                std::string &error) {
  std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (out)
      out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) {
      std::remove(partial.c_str());
      error = path + ": cannot write";
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) {
    std::remove(partial.c_str());
    error = path + ": cannot write (" + ec.message() + ")";
    return false;
  }
  return true;
}

uint64_t totalSize(const std::vector<std::string> &inputs) {
  uint64_t total = 0;
  for (const std::string &input : inputs) {
    std::error_code ec;
    auto size = std::filesystem::file_size(input, ec);
    if (!ec)
      total += size;
  }
  return total;
}

void appendIds(std::string &out, const std::vector<uint32_t> &ids) {
  out += '[';
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i)
      out += ", ";
    out += std::to_string(ids[i]);
  }
  out += ']';
}

/// The context and completion text of one example, or false with `problem`.
bool exampleText(const json &example, std::string &context,
                 std::string &completion, std::string &problem) {
  if (!example.is_object()) {
    problem = "expected a JSON object";
    return false;
  }
  bool messages = example.contains("messages");
  bool promptCompletion =
      example.contains("prompt") || example.contains("completion");
  bool text = example.contains("text");
  const char *layouts = "{\"prompt\": \"...\", \"completion\": \"...\"}, "
                        "{\"messages\": [{\"role\": ..., \"content\": ...}]} "
                        "or {\"text\": \"...\"}";
  if (example.contains("context") && example["context"].is_array()) {
    problem = "this is already token ids (slapo's .jsonl): give it to "
              "slapo-run --data as it is";
    return false;
  }
  if (int(messages) + int(promptCompletion) + int(text) != 1) {
    problem = std::string(messages + promptCompletion + text == 0
                              ? "unknown layout"
                              : "ambiguous layout (more than one of "
                                "messages, prompt/completion, text)") +
              ": expected " + layouts;
    return false;
  }
  auto stringField = [&](const json &object, const char *key, std::string &out,
                         const std::string &where) {
    if (!object.contains(key) || !object[key].is_string()) {
      problem =
          where + (object.contains(key) ? " must be a string" : " is missing");
      return false;
    }
    out = object[key].get<std::string>();
    return true;
  };
  if (text)
    return stringField(example, "text", completion, "\"text\"");
  if (promptCompletion)
    return stringField(example, "prompt", context, "\"prompt\"") &&
           stringField(example, "completion", completion, "\"completion\"");
  const json &list = example["messages"];
  if (!list.is_array() || list.empty()) {
    problem = "\"messages\" must be a non-empty array";
    return false;
  }
  std::vector<std::pair<std::string, std::string>> parsed;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!list[i].is_object()) {
      problem = where + " must be an object with a role and a content";
      return false;
    }
    std::pair<std::string, std::string> message;
    if (!stringField(list[i], "role", message.first, where + ".role") ||
        !stringField(list[i], "content", message.second, where + ".content"))
      return false;
    parsed.push_back(std::move(message));
  }
  if (parsed.back().first != "assistant") {
    problem = "the last message is the '" + parsed.back().first +
              "' one; it must be the assistant's (the completion)";
    return false;
  }
  chatTemplate(parsed, context, completion);
  return true;
}

} // namespace

bool resolveSpecialToken(const Tokenizer &tokenizer, const std::string &which,
                         const std::string &token, uint32_t &id,
                         std::string &error) {
  std::string option = "--" + which + "-token";
  std::string name = token, source = option;
  if (name.empty()) {
    // Hugging Face's tokenizer_config.json: "bos_token": "<s>" or
    // {"content": "<s>", ...}.
    auto config = std::filesystem::path(tokenizer.path()).parent_path() /
                  "tokenizer_config.json";
    std::string bytes;
    std::error_code ec;
    if (std::filesystem::is_regular_file(config, ec)) {
      if (!readWhole(config.string(), bytes, error))
        return false;
      json root;
      if (!parseJson(bytes, config.string(), root, error))
        return false;
      if (!root.is_object()) {
        error = config.string() + ": not a JSON object";
        return false;
      }
      std::string key = which + "_token";
      const json *entry = root.contains(key) ? &root[key] : nullptr;
      if (entry && entry->is_object() && entry->contains("content"))
        entry = &(*entry)["content"];
      if (entry && entry->is_string()) {
        name = entry->get<std::string>();
        source = config.string() + " (" + key + ")";
      }
    }
  }
  if (name.empty()) {
    std::optional<uint32_t> own =
        which == "bos" ? tokenizer.bosId() : tokenizer.eosId();
    if (own) {
      id = *own;
      return true;
    }
    error = tokenizer.path() + " names no " + which +
            " token (and no tokenizer_config.json beside it does): give " +
            option;
    return false;
  }
  std::optional<uint32_t> found = tokenizer.tokenId(name);
  if (!found) {
    error = source + ": '" + name + "' is not a token of " + tokenizer.path();
    return false;
  }
  id = *found;
  return true;
}

void chatTemplate(
    const std::vector<std::pair<std::string, std::string>> &messages,
    std::string &context, std::string &completion) {
  context.clear();
  for (size_t i = 0; i + 1 < messages.size(); ++i)
    context += "<|im_start|>" + messages[i].first + "\n" + messages[i].second +
               "<|im_end|>\n";
  context += "<|im_start|>assistant\n";
  completion = messages.back().second + "<|im_end|>";
}

bool tokenizeTextFiles(const Tokenizer &tokenizer,
                       const std::vector<std::string> &inputs,
                       const std::string &output, const CorpusOptions &options,
                       CorpusSummary &summary, std::string &error) {
  summary = CorpusSummary();
  uint64_t total = totalSize(inputs);
  std::vector<uint32_t> ids;
  for (const std::string &input : inputs) {
    std::string text;
    if (!readWhole(input, text, error))
      return false;
    uint64_t before = summary.inputBytes;
    Progress progress;
    if (options.progress)
      progress = [&](size_t done) { options.progress(before + done, total); };
    if (options.bos)
      ids.push_back(*options.bos);
    std::string problem;
    if (!tokenizer.encode(text, ids, problem, progress)) {
      error = input + ": " + problem;
      return false;
    }
    if (options.eos)
      ids.push_back(*options.eos);
    summary.inputBytes += text.size();
    summary.documents += 1;
  }
  if (ids.empty()) {
    error = inputs.front() + ": no text to tokenize";
    return false;
  }
  summary.tokens = ids.size();
  summary.elementSize = options.elementSize
                            ? options.elementSize
                            : tokenElementSize(tokenizer.vocabSize());
  std::string bytes, problem;
  if (!encodeTokenFile(ids, summary.elementSize, tokenizer.vocabSize(), bytes,
                       problem)) {
    error = output + ": " + problem +
            " (uint32 ids hold it: --dtype auto or "
            "uint32)";
    return false;
  }
  return writeWhole(output, bytes, error);
}

bool tokenizeJsonlFiles(const Tokenizer &tokenizer,
                        const std::vector<std::string> &inputs,
                        const std::string &output, const CorpusOptions &options,
                        CorpusSummary &summary, std::string &error) {
  summary = CorpusSummary();
  uint64_t total = totalSize(inputs), lastReport = 0;
  std::string out;
  for (const std::string &input : inputs) {
    std::string bytes;
    if (!readWhole(input, bytes, error))
      return false;
    size_t begin = 0;
    for (uint64_t number = 1; begin < bytes.size(); ++number) {
      size_t end = bytes.find('\n', begin);
      if (end == std::string::npos)
        end = bytes.size();
      std::string_view line(bytes.data() + begin, end - begin);
      begin = end + 1;
      std::string where = input + ":" + std::to_string(number);
      if (line.find_first_not_of(" \t\r") == std::string_view::npos)
        continue;
      json example;
      if (!parseJson(line, where, example, error))
        return false;
      std::string contextText, completionText, problem;
      if (!exampleText(example, contextText, completionText, problem)) {
        error = where + ": " + problem;
        return false;
      }
      std::vector<uint32_t> context, completion;
      if (options.bos)
        context.push_back(*options.bos);
      if (!tokenizer.encode(contextText, context, problem) ||
          !tokenizer.encode(completionText, completion, problem)) {
        error = where + ": " + problem;
        return false;
      }
      if (options.eos)
        completion.push_back(*options.eos);
      if (completion.empty()) {
        error = where + ": the completion is empty, so it would count no "
                        "loss";
        return false;
      }
      out += "{\"context\": ";
      appendIds(out, context);
      out += ", \"completion\": ";
      appendIds(out, completion);
      out += "}\n";
      summary.documents += 1;
      summary.tokens += context.size() + completion.size();
      uint64_t done = summary.inputBytes + std::min(begin, bytes.size());
      if (options.progress && done - lastReport >= (uint64_t(1) << 18)) {
        options.progress(done, total);
        lastReport = done;
      }
    }
    summary.inputBytes += bytes.size();
  }
  if (options.progress)
    options.progress(summary.inputBytes, total);
  if (summary.documents == 0) {
    error = inputs.front() + ": no examples";
    return false;
  }
  return writeWhole(output, out, error);
}

bool decodeTokenFile(const Tokenizer &tokenizer, const std::string &input,
                     const std::string &output, CorpusSummary &summary,
                     std::string &error) {
  summary = CorpusSummary();
  std::string bytes;
  if (!readWhole(input, bytes, error))
    return false;
  std::vector<int64_t> ids;
  TokenFileInfo info;
  if (!readTokenFile(bytes, input, ids, info, error))
    return false;
  std::vector<uint32_t> narrow(ids.begin(), ids.end());
  std::string text, problem;
  if (!tokenizer.decode(narrow, text, problem)) {
    error = input + ": " + problem;
    return false;
  }
  summary.inputBytes = bytes.size();
  summary.tokens = ids.size();
  summary.elementSize = info.elementSize;
  return writeWhole(output, text, error);
}

} // namespace slapo::tok
