//===- Data.cpp - training data for slapo-run -----------------------------===//

#include "slapo/Runtime/Data.h"
#include "slapo/Runtime/Json.h"
#include "slapo/Tokenizer/TokenFile.h"

#include "Random.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/stat.h>

namespace slapo::rt {

namespace {

/// The default corpus when no --data is given: plain English, so a small
/// byte-level model visibly learns within a few hundred steps.
constexpr const char kBuiltinCorpus[] =
    "The compiler reads the model, the schedule tells it what to change, and "
    "the runtime trains what comes out. A schedule never edits the model: it "
    "names modules by their paths and asks for them to be sharded, "
    "checkpointed, fused or given adapters, one line at a time. Each line is "
    "checked before it is applied, and the result is checked against the "
    "model it came from, forward and backward, on random weights. "
    "Memory is planned before anything runs. Parameters, their gradients and "
    "the optimizer's moments stay for the whole step; activations come and go "
    "and share the same bytes when their lifetimes do not overlap. The plan "
    "says how much each category needs, and the runtime measures what it "
    "really used. Training a language model is predicting the next token. "
    "The loss falls as the model learns which letters follow which, then "
    "which words, then which phrases. A small model on a small text learns "
    "the spelling of its words first and their order later. The quick brown "
    "fox jumps over the lazy dog, and the lazy dog does not mind at all. ";

/// The bytes of the regular file at `path`, or "" with `error`.
std::string readFile(const std::string &path, bool &ok, std::string &error) {
  ok = false;
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    error = path + ": cannot open: " + std::strerror(errno);
    return {};
  }
  if (!S_ISREG(info.st_mode)) {
    error = path + (S_ISDIR(info.st_mode)
                        ? ": is a directory, not a data file"
                        : ": is not a regular file, not a data file");
    return {};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return {};
  }
  std::ostringstream bytes;
  bytes << in.rdbuf(); // a read error ends the copy, never throws
  if (in.bad() || (!bytes && info.st_size > 0)) {
    error = path + ": cannot read";
    return {};
  }
  ok = true;
  return bytes.str();
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool readIds(const Json *array, const std::string &where, int64_t vocab,
             std::vector<int64_t> &out, std::string &error) {
  if (!array || array->kind != Json::Kind::Array) {
    error = where + ": expected an array of token ids";
    return false;
  }
  for (const Json &id : array->array) {
    if (id.kind != Json::Kind::Number || !id.integral || id.integer < 0) {
      error = where + ": token ids must be non-negative integers";
      return false;
    }
    if (id.integer >= vocab) {
      error = where + ": token id " + std::to_string(id.integer) +
              " is not below the model's vocabulary size " +
              std::to_string(vocab);
      return false;
    }
    out.push_back(id.integer);
  }
  return true;
}

} // namespace

std::unique_ptr<Dataset> Dataset::fromStream(std::vector<int64_t> tokens,
                                             const std::string &what,
                                             int64_t vocab,
                                             std::string &error) {
  if (tokens.size() < 2) {
    error = what + ": needs at least 2 tokens, has " +
            std::to_string(tokens.size());
    return nullptr;
  }
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] >= vocab) {
      error = what + ": token " + std::to_string(i) + " is id " +
              std::to_string(tokens[i]) +
              ", not below the model's vocabulary size " +
              std::to_string(vocab);
      return nullptr;
    }
  auto data = std::unique_ptr<Dataset>(new Dataset());
  data->stream = std::move(tokens);
  data->what = what;
  return data;
}

std::unique_ptr<Dataset> Dataset::builtin(int64_t vocab, std::string &error) {
  std::string text(kBuiltinCorpus);
  return fromStream(std::vector<int64_t>(text.begin(), text.end()),
                    "the built-in corpus", vocab, error);
}

std::unique_ptr<Dataset> Dataset::open(const std::string &path, int64_t vocab,
                                       std::string &error) {
  bool ok = false;
  std::string bytes = readFile(path, ok, error);
  if (!ok)
    return nullptr;
  if (bytes.empty()) {
    error = path + ": the data file is empty";
    return nullptr;
  }
  if (endsWith(path, ".txt")) {
    // Bytes are tokens only for a byte-level model; any other vocabulary
    // would silently learn bytes as its ids.
    if (vocab != 256) {
      error = path +
              ": a .txt file is read as bytes (token = byte), but the "
              "model's vocabulary has " +
              std::to_string(vocab) +
              " tokens, not 256: tokenize it first (slapo-tokenize "
              "--tokenizer tokenizer.json " +
              path + " -o DATA.bin)";
      return nullptr;
    }
    std::vector<int64_t> tokens;
    for (unsigned char ch : bytes)
      tokens.push_back(ch);
    return fromStream(std::move(tokens), path, vocab, error);
  }
  if (endsWith(path, ".bin")) {
    // A token file with a header (its dtype recorded), or nanoGPT's
    // headerless uint16 ids (the legacy format): TokenFile.h.
    std::vector<int64_t> tokens;
    tok::TokenFileInfo info;
    if (!tok::readTokenFile(bytes, path, tokens, info, error))
      return nullptr;
    if (info.vocabSize > uint64_t(vocab)) {
      error = path + ": written with a tokenizer of " +
              std::to_string(info.vocabSize) +
              " tokens, more than the model's vocabulary size " +
              std::to_string(vocab) + " (another model's tokenizer?)";
      return nullptr;
    }
    return fromStream(std::move(tokens), path, vocab, error);
  }
  if (endsWith(path, ".jsonl")) {
    auto data = std::unique_ptr<Dataset>(new Dataset());
    data->what = path;
    std::istringstream lines(bytes);
    std::string line;
    for (int64_t number = 1; std::getline(lines, line); ++number) {
      if (line.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      std::string where = path + ":" + std::to_string(number);
      Json example;
      std::string problem;
      if (!parseJson(line, example, problem) ||
          example.kind != Json::Kind::Object) {
        error = where + ": not a JSON object" +
                (problem.empty() ? "" : " (" + problem + ")");
        return nullptr;
      }
      Example parsed;
      if (!readIds(example.get("context"), where + ": context", vocab,
                   parsed.tokens, error))
        return nullptr;
      parsed.contextLength = parsed.tokens.size();
      if (!readIds(example.get("completion"), where + ": completion", vocab,
                   parsed.tokens, error))
        return nullptr;
      if (parsed.tokens.size() == parsed.contextLength) {
        error = where + ": the completion is empty, so it counts no loss";
        return nullptr;
      }
      data->examples.push_back(std::move(parsed));
    }
    if (data->examples.empty()) {
      error = path + ": no examples";
      return nullptr;
    }
    return data;
  }
  error = path + ": unknown data format (expected .txt, .bin or .jsonl)";
  return nullptr;
}

int64_t Dataset::rowCount(int64_t seq) const {
  if (!stream.empty())
    return seq > 0 ? int64_t(stream.size() - 1) / seq : 0;
  if (!packedRows.empty())
    return int64_t(packedRows.size());
  return int64_t(examples.size());
}

void Dataset::Example::window(int64_t seq, size_t &begin, size_t &end) const {
  size_t size = tokens.size(), room = size_t(seq) + 1;
  size_t completion = size - contextLength;
  if (size <= room)
    begin = 0; // fits (padded)
  else if (completion < room)
    begin = size - room; // the context loses its oldest tokens
  else
    begin = contextLength == 0 ? 0 : contextLength - 1; // one context token
  end = std::min(size, begin + room);
}

bool Dataset::pack(int64_t seq, std::string &error) {
  if (examples.empty()) {
    error = what + ": --pack packs .jsonl examples; text and .bin rows are "
                   "already full windows";
    return false;
  }
  packedRows.clear();
  packedSeq = seq;
  size_t room = size_t(seq) + 1, used = room;
  for (size_t e = 0; e < examples.size(); ++e) {
    size_t begin = 0, end = 0;
    examples[e].window(seq, begin, end);
    if (used + (end - begin) > room) {
      packedRows.emplace_back();
      used = 0;
    }
    packedRows.back().push_back(e);
    used += end - begin;
  }
  orderPass = -1;
  return true;
}

void Dataset::shuffle(uint64_t seed) {
  shuffled = true;
  orderKey = mix64(mix64(seed) ^ nameHash("data order"));
  orderPass = -1;
}

int64_t Dataset::rowAt(int64_t index, int64_t seq) const {
  int64_t rows = rowCount(seq);
  if (!shuffled)
    return index % rows;
  int64_t pass = index / rows;
  if (pass != orderPass || int64_t(order.size()) != rows) {
    // Fisher-Yates on counter-based draws: the same order on every
    // platform (the standard library's distributions differ).
    order.resize(size_t(rows));
    for (int64_t i = 0; i < rows; ++i)
      order[size_t(i)] = i;
    uint64_t key = mix64(orderKey ^ uint64_t(pass));
    for (int64_t i = rows - 1; i > 0; --i) {
      uint64_t draw = mix64(key ^ mix64(uint64_t(i)));
      std::swap(order[size_t(i)], order[size_t(draw % uint64_t(i + 1))]);
    }
    orderPass = pass;
  }
  return order[size_t(index % rows)];
}

void Dataset::fillStreamRow(uint64_t start, int64_t seq, int64_t *ids,
                            int64_t *targets) const {
  uint64_t n = stream.size();
  for (int64_t t = 0; t < seq; ++t) {
    ids[t] = stream[(start + t) % n];
    targets[t] = stream[(start + t + 1) % n];
  }
}

size_t Dataset::placeExample(const Example &example, int64_t seq, size_t offset,
                             int64_t *ids, int64_t *targets) const {
  size_t begin = 0, end = 0;
  example.window(seq, begin, end);
  const int64_t *tokens = example.tokens.data() + begin;
  size_t length = end - begin;
  size_t contextLength = example.contextLength - begin; // begin <= it
  for (size_t t = 0; t < length && offset + t < size_t(seq); ++t) {
    size_t next = t + 1;
    ids[offset + t] = tokens[t];
    bool counts = next < length && next >= contextLength;
    targets[offset + t] = counts ? tokens[next] : kIgnoreIndex;
  }
  return length;
}

void Dataset::fill(int64_t step, int64_t batch, int64_t seq, int64_t *ids,
                   int64_t *targets) const {
  for (int64_t row = 0; row < batch; ++row) {
    int64_t *rowIds = ids + row * seq, *rowTargets = targets + row * seq;
    int64_t index = step * batch + row;
    if (!stream.empty()) {
      // In order, the windows follow one another around the text; shuffled,
      // they are the rowCount() windows that start at multiples of seq.
      uint64_t start = shuffled ? uint64_t(rowAt(index, seq)) * uint64_t(seq)
                                : (uint64_t(index) * uint64_t(seq)) %
                                      uint64_t(stream.size());
      fillStreamRow(start, seq, rowIds, rowTargets);
      continue;
    }
    std::fill_n(rowIds, seq, 0); // padding
    std::fill_n(rowTargets, seq, kIgnoreIndex);
    int64_t r = rowAt(index, seq);
    assert(packedRows.empty() || seq == packedSeq);
    if (packedRows.empty()) {
      placeExample(examples[size_t(r)], seq, 0, rowIds, rowTargets);
      continue;
    }
    size_t offset = 0;
    for (size_t e : packedRows[size_t(r)])
      offset += placeExample(examples[e], seq, offset, rowIds, rowTargets);
  }
}

double Dataset::paddingFraction(int64_t seq) const {
  if (!stream.empty() || seq <= 0)
    return 0.0;
  // Padding: input positions that hold no example's token.
  uint64_t used = 0;
  int64_t rows = rowCount(seq);
  auto windowLength = [&](const Example &example) {
    size_t begin = 0, end = 0;
    example.window(seq, begin, end);
    return uint64_t(end - begin);
  };
  if (packedRows.empty()) {
    for (const Example &example : examples)
      used += std::min<uint64_t>(windowLength(example), uint64_t(seq));
  } else {
    for (const std::vector<size_t> &members : packedRows) {
      uint64_t tokens = 0;
      for (size_t e : members)
        tokens += windowLength(examples[e]);
      used += std::min<uint64_t>(tokens, uint64_t(seq));
    }
  }
  return 1.0 - double(used) / (double(rows) * double(seq));
}

} // namespace slapo::rt
