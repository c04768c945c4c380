//===- HuggingFace.cpp - byte-level BPE from a tokenizer.json -------------===//
//
// What Hugging Face tokenizers does for encode(text, add_special_tokens=
// False), for the parts of tokenizer.json that GPT-2, OPT and Llama 3 use:
//
//  1. Added tokens are matched first, leftmost-longest (tokenizers uses
//     Aho-Corasick; we walk a byte trie from each position), in two passes:
//     tokens with normalized=false over the text, then tokens with
//     normalized=true over the pieces between (there is no normalizer, so
//     normalizing is the identity). lstrip / rstrip take the whitespace
//     beside a match into it.
//  2. Each piece between added tokens goes through the pre-tokenizer: zero or
//     more Split(regex, Isolated) steps, then ByteLevel, which prepends a
//     space when add_prefix_space is set and the piece does not start with
//     one, splits with the GPT-2 regex when use_regex is set, and maps each
//     byte to its printable stand-in.
//  3. Each word is merged by BPE: symbols start as bytes, and the pair of
//     lowest merge rank (the leftmost among equals) is merged until none is
//     left, exactly as tokenizers' Word::merge_all (including its test for
//     a stale queue entry). With ignore_merges a word that is a vocabulary
//     entry is that entry. Words are cached.
//
// The regexes are Oniguruma's in tokenizers; here they run on PCRE2 in UTF
// and UCP mode. Where the two disagree we rewrite the pattern: Oniguruma's
// \s is U+0009-U+000D, U+0085 and \p{Z} (PCRE2's also has U+180E), and its
// \w is \p{L}\p{M}\p{N}\p{Pc} (PCRE2's lacks marks and connectors).
// Patterns using \b, \B, \Q, POSIX classes, or \S and \W inside a class are
// refused.
//
//===----------------------------------------------------------------------===//

#include "Loaders.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <unordered_map>

namespace slapo::tok {

namespace {

using nlohmann::json;

/// The printable stand-in of each byte (GPT-2's bytes_to_unicode): '!'..'~',
/// U+00A1..U+00AC and U+00AE..U+00FF stand for themselves, the other bytes
/// for U+0100 onwards in order.
struct ByteMap {
  std::array<uint32_t, 256> codepoint{};
  std::array<int, 324> byte; // codepoint -> byte, -1 for none

  ByteMap() {
    byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) ||
                       (b >= 0xae && b <= 0xff);
      codepoint[b] = printable ? uint32_t(b) : next++;
      byte[codepoint[b]] = b;
    }
  }
};

const ByteMap &byteMap() {
  static const ByteMap map;
  return map;
}

/// Decodes the code point at text[i] (valid UTF-8) and advances i.
uint32_t nextCodepoint(std::string_view text, size_t &i) {
  auto lead = uint8_t(text[i]);
  size_t length = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
  uint32_t code = length == 1 ? lead
                              : lead & (length == 2   ? 0x1f
                                        : length == 3 ? 0x0f
                                                      : 7);
  for (size_t k = 1; k < length && i + k < text.size(); ++k)
    code = (code << 6) | (uint8_t(text[i + k]) & 0x3f);
  i += length;
  return code;
}

/// The bytes a byte-level vocabulary entry stands for; false if a character
/// of it is no byte's stand-in.
bool standInsToBytes(std::string_view token, std::string &bytes) {
  bytes.clear();
  const ByteMap &map = byteMap();
  for (size_t i = 0; i < token.size();) {
    uint32_t code = nextCodepoint(token, i);
    if (code >= map.byte.size() || map.byte[code] < 0)
      return false;
    bytes.push_back(char(map.byte[code]));
  }
  return true;
}

/// Rust's char::is_whitespace (the Unicode White_Space property), which
/// tokenizers uses for lstrip / rstrip.
bool isUnicodeWhitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
         c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/// Rewrites an Oniguruma pattern (as tokenizers runs it) for PCRE2 in UCP
/// mode; see the file comment.
bool translatePattern(const std::string &pattern, std::string &out,
                      std::string &problem) {
  static const char *kSpace = "\\t-\\r\\x{85}\\p{Z}";
  static const char *kWord = "\\p{L}\\p{M}\\p{N}\\p{Pc}";
  out.clear();
  bool inClass = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char d = pattern[++i];
      bool negated = d == 'S' || d == 'W';
      const char *set = (d == 's' || d == 'S')   ? kSpace
                        : (d == 'w' || d == 'W') ? kWord
                                                 : nullptr;
      if (set && inClass && negated) {
        problem = std::string("\\") + d +
                  " inside a character class is not supported";
        return false;
      }
      if (set) {
        out += inClass ? std::string(set)
                       : std::string(negated ? "[^" : "[") + set + "]";
        continue;
      }
      if (!inClass && (d == 'b' || d == 'B' || d == 'Q')) {
        problem = std::string("\\") + d + " is not supported";
        return false;
      }
      out += c;
      out += d;
      continue;
    }
    if (!inClass && c == '[') {
      inClass = true;
      out += c;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^')
        out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']')
        out += pattern[++i]; // a literal ']' first in the class
      continue;
    }
    if (inClass && c == '[' && i + 1 < pattern.size() &&
        pattern[i + 1] == ':') {
      problem = "POSIX character classes ([:name:]) are not supported";
      return false;
    }
    if (inClass && c == ']')
      inClass = false;
    out += c;
  }
  return true;
}

/// A compiled PCRE2 pattern (UTF, UCP, JIT where available).
class Regex {
public:
  ~Regex() {
    if (code)
      pcre2_code_free(code);
  }
  bool compile(const std::string &pattern, std::string &problem) {
    int status = 0;
    PCRE2_SIZE offset = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                         pattern.size(), PCRE2_UTF | PCRE2_UCP, &status,
                         &offset, nullptr);
    if (!code) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(status, message, sizeof(message));
      problem = std::string(reinterpret_cast<char *>(message)) + " at offset " +
                std::to_string(offset);
      return false;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); // falls back if it fails
    return true;
  }
  pcre2_code *get() const { return code; }

private:
  pcre2_code *code = nullptr;
};

/// The match data one encode call uses (sized for any of our patterns).
class MatchData {
public:
  MatchData() : data(pcre2_match_data_create(4, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(data); }
  MatchData(const MatchData &) = delete;
  MatchData &operator=(const MatchData &) = delete;
  pcre2_match_data *get() const { return data; }

private:
  pcre2_match_data *data;
};

/// Splits `text` by `regex` with tokenizers' Isolated behaviour: every match
/// is a piece, and so is every stretch between matches. Empty pieces are
/// dropped. False with `error` if PCRE2 fails.
template <typename OnPiece>
bool splitIsolated(const Regex &regex, std::string_view text,
                   const MatchData &match, std::string &error,
                   OnPiece &&onPiece) {
  size_t last = 0, offset = 0;
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  while (offset <= text.size()) {
    int rc = pcre2_match(regex.get(), subject, text.size(), offset,
                         PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH)
      break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      error = std::string("regular expression failed: ") +
              reinterpret_cast<char *>(message);
      return false;
    }
    PCRE2_SIZE *range = pcre2_get_ovector_pointer(match.get());
    size_t begin = range[0], end = range[1];
    if (begin == end) { // an empty match: try again one character on
      if (end >= text.size())
        break;
      size_t next = end;
      nextCodepoint(text, next);
      offset = next;
      continue;
    }
    if (begin > last && !onPiece(text.substr(last, begin - last)))
      return false;
    if (!onPiece(text.substr(begin, end - begin)))
      return false;
    last = offset = end;
  }
  if (last < text.size())
    return onPiece(text.substr(last));
  return true;
}

/// GPT-2's pre-tokenizer regex, as tokenizers' ByteLevel writes it.
constexpr const char *kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
    "\\s+(?!\\S)|\\s+";

struct AddedToken {
  uint32_t id = 0;
  std::string content;
  bool lstrip = false, rstrip = false;
};

/// Added tokens by their bytes, matched leftmost-longest.
class AddedTokenTrie {
public:
  void add(const AddedToken &token) {
    uint32_t node = 0;
    for (unsigned char byte : token.content) {
      uint64_t key = uint64_t(node) << 8 | byte;
      auto it = edges.find(key);
      if (it == edges.end()) {
        it = edges.emplace(key, uint32_t(terminal.size())).first;
        terminal.push_back(-1);
      }
      node = it->second;
    }
    first[uint8_t(token.content[0])] = true;
    terminal[node] = int32_t(tokens.size());
    tokens.push_back(token);
  }
  bool empty() const { return tokens.empty(); }

  /// The longest token starting at text[pos], or null.
  const AddedToken *longestAt(std::string_view text, size_t pos) const {
    if (!first[uint8_t(text[pos])])
      return nullptr;
    uint32_t node = 0;
    int32_t best = -1;
    for (size_t i = pos; i < text.size(); ++i) {
      auto it = edges.find(uint64_t(node) << 8 | uint8_t(text[i]));
      if (it == edges.end())
        break;
      node = it->second;
      if (terminal[node] >= 0)
        best = terminal[node];
    }
    return best < 0 ? nullptr : &tokens[best];
  }

private:
  std::unordered_map<uint64_t, uint32_t> edges;
  std::vector<int32_t> terminal{-1}; // the token ending at each node
  std::vector<AddedToken> tokens;
  std::array<bool, 256> first{};
};

/// tokenizers' AddedVocabulary::find_matches: calls onPiece(piece, token)
/// for each stretch of `text`, `token` the added token it is or null.
template <typename OnPiece>
bool splitAddedTokens(const AddedTokenTrie &trie, std::string_view text,
                      OnPiece &&onPiece) {
  if (trie.empty())
    return onPiece(text, nullptr);
  size_t done = 0; // tokenizers' start_offset
  for (size_t pos = 0; pos < text.size();) {
    const AddedToken *token = trie.longestAt(text, pos);
    if (!token) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + token->content.size();
    pos = stop; // the search goes on after the match itself
    if (token->lstrip) {
      // Back over the whitespace before the match, but not into the last
      // piece: start = max(space_leftmost_at_end(text[..start]), done).
      size_t begin = done;
      for (size_t i = done; i < start;)
        if (!isUnicodeWhitespace(nextCodepoint(text, i)))
          begin = i;
      start = begin;
    }
    if (token->rstrip) {
      size_t i = stop;
      while (i < text.size()) {
        size_t at = i;
        if (!isUnicodeWhitespace(nextCodepoint(text, i))) {
          i = at;
          break;
        }
      }
      stop = i;
    }
    if (done < start && !onPiece(text.substr(done, start - done), nullptr))
      return false;
    if (!onPiece(text.substr(start, std::max(stop, start) - start), token))
      return false;
    done = stop;
  }
  if (done < text.size())
    return onPiece(text.substr(done), nullptr);
  return true;
}

/// What one encode call carries: the regex match data and the progress.
struct EncodeState {
  MatchData match;
  const Progress &progress;
  size_t total, done = 0, reported = 0; // bytes of the text
  void advance(size_t bytes) {
    done = std::min(total, done + bytes);
    if (progress && done - reported >= (size_t(1) << 18)) {
      progress(done);
      reported = done;
    }
  }
};

struct PreTokenizerStep {
  std::unique_ptr<Regex> split; // Split(Isolated); null: ByteLevel
  bool addPrefixSpace = false, useRegex = true;
};

class HuggingFaceBpe final : public Tokenizer {
public:
  explicit HuggingFaceBpe(std::string path) : Tokenizer(std::move(path)) {}

  bool load(const json &root, std::string &error);

  bool encode(std::string_view text, std::vector<uint32_t> &ids,
              std::string &error, const Progress &progress) const override;
  bool decode(const std::vector<uint32_t> &ids, std::string &text,
              std::string &error) const override;
  uint64_t vocabSize() const override { return idToToken.size(); }
  std::optional<uint32_t> tokenId(std::string_view token) const override;
  std::string kind() const override { return "byte-level BPE"; }

private:
  bool fail(std::string &error, const std::string &field,
            const std::string &message) const {
    error = path() + ": " + field + ": " + message;
    return false;
  }
  bool loadModel(const json &model, std::string &error);
  bool loadPreTokenizer(const json &node, std::string &error);
  bool loadAddedTokens(const json &node, std::string &error);
  bool checkDecoder(const json &node, std::string &error);

  bool encodePiece(std::string_view piece, size_t step, EncodeState &state,
                   std::vector<uint32_t> &ids, std::string &error) const;
  bool encodeWord(std::string_view word, EncodeState &state,
                  std::vector<uint32_t> &ids, std::string &error) const;
  bool mergeWord(std::string_view word, std::vector<uint32_t> &out,
                 std::string &error) const;

  // The model.
  std::unordered_map<std::string, uint32_t> vocab;     // as the file writes it
  std::unordered_map<std::string, uint32_t> byteVocab; // by the bytes
  std::array<int64_t, 256> byteIds{};                  // -1: none
  std::unordered_map<uint64_t, std::pair<uint32_t, uint32_t>> merges;
  std::optional<uint32_t> unkId;
  bool fuseUnk = false, ignoreMerges = false;
  // The pipeline.
  std::vector<PreTokenizerStep> steps;
  std::unique_ptr<Regex> gpt2Regex;
  AddedTokenTrie rawAdded, normalizedAdded;
  std::unordered_map<std::string, uint32_t> addedIds;
  // Decoding: each id's bytes; ids no entry names are empty and not valid.
  std::vector<std::string> idToToken;
  std::vector<bool> validId;

  mutable std::unordered_map<std::string, std::vector<uint32_t>> cache;
};

std::string typeOf(const json &node) {
  if (node.is_object() && node.contains("type") && node["type"].is_string())
    return node["type"].get<std::string>();
  return "";
}

/// The boolean `key` of `node` (`fallback` if absent); false with `bad` set
/// if it is not a boolean.
bool optionalBool(const json &node, const char *key, bool fallback, bool &value,
                  bool &bad) {
  value = fallback;
  if (!node.contains(key) || node[key].is_null())
    return true;
  if (!node[key].is_boolean()) {
    bad = true;
    return false;
  }
  value = node[key].get<bool>();
  return true;
}

bool HuggingFaceBpe::load(const json &root, std::string &error) {
  if (!root.is_object())
    return fail(error, "top level", "expected a JSON object");
  if (root.contains("version") &&
      !(root["version"].is_string() && root["version"] == "1.0"))
    return fail(error, "version",
                "expected \"1.0\" (the only version tokenizers reads)");
  if (!root.contains("model") || !root["model"].is_object())
    return fail(error, "model", "missing (a tokenizer.json has a model)");
  if (!loadModel(root["model"], error))
    return false;
  const json null;
  const json &normalizer =
      root.contains("normalizer") ? root["normalizer"] : null;
  if (!normalizer.is_null())
    return fail(error, "normalizer",
                "'" + typeOf(normalizer) +
                    "' is not supported (slapo-tokenize implements no "
                    "normalizers; byte-level BPE tokenizers have none)");
  if (!loadPreTokenizer(
          root.contains("pre_tokenizer") ? root["pre_tokenizer"] : null, error))
    return false;
  if (!checkDecoder(root.contains("decoder") ? root["decoder"] : null, error))
    return false;
  if (!loadAddedTokens(root.contains("added_tokens") ? root["added_tokens"]
                                                     : json::array(),
                       error))
    return false;
  gpt2Regex = std::make_unique<Regex>();
  std::string problem, translated;
  if (!translatePattern(kGpt2Pattern, translated, problem) ||
      !gpt2Regex->compile(translated, problem))
    return fail(error, "pre_tokenizer", "GPT-2 regex: " + problem);
  return true;
}

bool HuggingFaceBpe::loadModel(const json &model, std::string &error) {
  std::string type = typeOf(model);
  if (type != "BPE")
    return fail(error, "model.type",
                "'" + type +
                    "' is not supported (slapo-tokenize reads byte-level BPE "
                    "tokenizer.json files and SentencePiece .model files)");
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0))
    return fail(error, "model.dropout",
                "BPE dropout is not supported (it samples other ids on "
                "every call; give null)");
  for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(key) && !model[key].is_null() &&
        !(model[key].is_string() && model[key].get<std::string>().empty()))
      return fail(error, std::string("model.") + key,
                  "is not supported in a byte-level BPE (give null)");
  bool bad = false, byteFallback = false;
  if (!optionalBool(model, "byte_fallback", false, byteFallback, bad) ||
      byteFallback)
    return fail(error, "model.byte_fallback",
                bad ? "expected a boolean"
                    : "true is not supported (that is a SentencePiece-style "
                      "BPE: use its tokenizer.model)");
  if (!optionalBool(model, "fuse_unk", false, fuseUnk, bad))
    return fail(error, "model.fuse_unk", "expected a boolean");
  if (!optionalBool(model, "ignore_merges", false, ignoreMerges, bad))
    return fail(error, "model.ignore_merges", "expected a boolean");

  if (!model.contains("vocab") || !model["vocab"].is_object())
    return fail(error, "model.vocab", "expected an object of token: id");
  uint64_t size = 0;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_unsigned() ||
        it.value().get<uint64_t>() >= (uint64_t(1) << 32))
      return fail(error, "model.vocab['" + it.key() + "']",
                  "expected an id (a non-negative integer below 2^32)");
    uint32_t id = it.value().get<uint32_t>();
    vocab[it.key()] = id;
    size = std::max<uint64_t>(size, uint64_t(id) + 1);
  }
  idToToken.assign(size, std::string());
  validId.assign(size, false);
  std::string bytes;
  for (const auto &[token, id] : vocab) {
    // tokenizers' ByteLevel decoder: stand-ins to bytes, or the token's
    // own UTF-8 if one of its characters stands for no byte.
    bool mapped = standInsToBytes(token, bytes);
    idToToken[id] = mapped ? bytes : token;
    validId[id] = true;
    if (mapped)
      byteVocab.emplace(bytes, id);
  }
  const ByteMap &map = byteMap();
  for (int b = 0; b < 256; ++b) {
    std::string standIn;
    uint32_t code = map.codepoint[b];
    if (code < 0x80) {
      standIn.push_back(char(code));
    } else {
      standIn.push_back(char(0xc0 | (code >> 6)));
      standIn.push_back(char(0x80 | (code & 0x3f)));
    }
    auto it = vocab.find(standIn);
    byteIds[b] = it == vocab.end() ? -1 : int64_t(it->second);
  }
  if (model.contains("unk_token") && !model["unk_token"].is_null()) {
    if (!model["unk_token"].is_string())
      return fail(error, "model.unk_token", "expected a string or null");
    auto it = vocab.find(model["unk_token"].get<std::string>());
    if (it == vocab.end())
      return fail(error, "model.unk_token",
                  "'" + model["unk_token"].get<std::string>() +
                      "' is not in model.vocab");
    unkId = it->second;
  }

  if (!model.contains("merges") || !model["merges"].is_array())
    return fail(error, "model.merges", "expected an array");
  const json &list = model["merges"];
  for (size_t rank = 0; rank < list.size(); ++rank) {
    const json &merge = list[rank];
    std::string field = "model.merges[" + std::to_string(rank) + "]";
    std::string left, right;
    if (merge.is_string()) { // "a b", the older form
      const std::string &text = merge.get_ref<const std::string &>();
      size_t space = text.find(' ');
      if (space == std::string::npos || space == 0 ||
          space + 1 == text.size() ||
          text.find(' ', space + 1) != std::string::npos)
        return fail(error, field,
                    "expected two tokens separated by one space, got '" + text +
                        "'");
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) { // ["a", "b"], the newer form
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      return fail(error, field, "expected \"a b\" or [\"a\", \"b\"]");
    }
    auto a = vocab.find(left), b = vocab.find(right),
         ab = vocab.find(left + right);
    const std::string &missing = a == vocab.end()   ? left
                                 : b == vocab.end() ? right
                                                    : left + right;
    if (a == vocab.end() || b == vocab.end() || ab == vocab.end())
      return fail(error, field, "'" + missing + "' is not in model.vocab");
    // A repeated merge keeps its later rank, as in tokenizers.
    merges[uint64_t(a->second) << 32 | b->second] = {uint32_t(rank),
                                                     ab->second};
  }
  return true;
}

bool HuggingFaceBpe::loadPreTokenizer(const json &node, std::string &error) {
  std::string type = typeOf(node);
  const char *expected = "slapo-tokenize reads byte-level pre-tokenizers: "
                         "ByteLevel, or a Sequence of Split steps ending in "
                         "ByteLevel";
  std::vector<std::pair<const json *, std::string>> list;
  if (type == "Sequence") {
    if (!node.contains("pretokenizers") || !node["pretokenizers"].is_array())
      return fail(error, "pre_tokenizer.pretokenizers", "expected an array");
    for (size_t i = 0; i < node["pretokenizers"].size(); ++i)
      list.push_back(
          {&node["pretokenizers"][i],
           "pre_tokenizer.pretokenizers[" + std::to_string(i) + "]"});
  } else {
    list.push_back({&node, "pre_tokenizer"});
  }
  if (node.is_null())
    return fail(error, "pre_tokenizer",
                std::string("null is not supported (") + expected + ")");
  for (auto &[step, field] : list) {
    std::string stepType = typeOf(*step);
    if (stepType != "ByteLevel" && stepType != "Split")
      return fail(error, field + ".type",
                  "'" + stepType + "' is not supported (" + expected + ")");
  }
  if (list.empty() || typeOf(*list.back().first) != "ByteLevel")
    return fail(
        error,
        list.empty() ? "pre_tokenizer.pretokenizers" : list.back().second,
        std::string("the last step must be ByteLevel (") + expected + ")");
  for (auto &[step, field] : list) {
    std::string stepType = typeOf(*step);
    PreTokenizerStep parsed;
    if (stepType == "ByteLevel") {
      if (&step != &list.back().first)
        return fail(error, field,
                    std::string("ByteLevel must be the last step (") +
                        expected + ")");
      bool bad = false;
      if (!step->contains("add_prefix_space") ||
          !(*step)["add_prefix_space"].is_boolean())
        return fail(error, field + ".add_prefix_space", "expected a boolean");
      parsed.addPrefixSpace = (*step)["add_prefix_space"].get<bool>();
      if (!optionalBool(*step, "use_regex", true, parsed.useRegex, bad))
        return fail(error, field + ".use_regex", "expected a boolean");
    } else { // Split
      std::string behavior =
          step->contains("behavior") && (*step)["behavior"].is_string()
              ? (*step)["behavior"].get<std::string>()
              : "";
      if (behavior != "Isolated")
        return fail(error, field + ".behavior",
                    "'" + behavior +
                        "' is not supported (slapo-tokenize implements "
                        "Isolated)");
      bool invert = false, bad = false;
      if (!optionalBool(*step, "invert", false, invert, bad) || invert)
        return fail(error, field + ".invert",
                    bad ? "expected a boolean" : "true is not supported");
      const json empty;
      const json &pattern =
          step->contains("pattern") ? (*step)["pattern"] : empty;
      std::string regex, problem;
      if (pattern.is_object() && pattern.contains("Regex") &&
          pattern["Regex"].is_string()) {
        if (!translatePattern(pattern["Regex"].get<std::string>(), regex,
                              problem))
          return fail(error, field + ".pattern.Regex", problem);
      } else if (pattern.is_object() && pattern.contains("String") &&
                 pattern["String"].is_string()) {
        for (char c : pattern["String"].get<std::string>()) {
          if (uint8_t(c) < 0x80 && !std::isalnum(uint8_t(c)))
            regex += '\\';
          regex += c;
        }
      } else {
        return fail(error, field + ".pattern",
                    "expected {\"Regex\": ...} or {\"String\": ...}");
      }
      parsed.split = std::make_unique<Regex>();
      if (!parsed.split->compile(regex, problem))
        return fail(error, field + ".pattern", problem);
    }
    steps.push_back(std::move(parsed));
  }
  return true;
}

bool HuggingFaceBpe::checkDecoder(const json &node, std::string &error) {
  if (typeOf(node) != "ByteLevel")
    return fail(error, "decoder",
                "'" + (node.is_null() ? std::string("null") : typeOf(node)) +
                    "' is not supported (slapo-tokenize decodes with "
                    "ByteLevel)");
  return true;
}

bool HuggingFaceBpe::loadAddedTokens(const json &node, std::string &error) {
  if (!node.is_array())
    return fail(error, "added_tokens", "expected an array");
  // tokenizers does not take an added token's id from the file: it adds the
  // tokens in order (AddedVocabulary::add_tokens), a token in model.vocab
  // keeping its id and a new one getting the model's vocabulary size, or one
  // more than the largest added id once that reaches it, and only warns
  // when the file says otherwise. A file whose ids disagree is refused.
  uint64_t modelSize = vocab.size();
  std::optional<uint32_t> largest;
  for (size_t i = 0; i < node.size(); ++i) {
    const json &entry = node[i];
    std::string field = "added_tokens[" + std::to_string(i) + "]";
    if (!entry.is_object() || !entry.contains("id") ||
        !entry["id"].is_number_unsigned() ||
        entry["id"].get<uint64_t>() >= (uint64_t(1) << 32) ||
        !entry.contains("content") || !entry["content"].is_string() ||
        entry["content"].get<std::string>().empty())
      return fail(error, field,
                  "expected an object with an id and a non-empty content");
    AddedToken token;
    token.id = entry["id"].get<uint32_t>();
    token.content = entry["content"].get<std::string>();
    bool singleWord = false, special = false, normalized = false, bad = false;
    if (!optionalBool(entry, "special", false, special, bad) ||
        !optionalBool(entry, "single_word", false, singleWord, bad) ||
        singleWord)
      return fail(error, field + ".single_word",
                  bad ? "expected a boolean"
                      : "true is not supported ('" + token.content + "')");
    if (!optionalBool(entry, "lstrip", false, token.lstrip, bad) ||
        !optionalBool(entry, "rstrip", false, token.rstrip, bad) ||
        !optionalBool(entry, "normalized", !special, normalized, bad))
      return fail(error, field,
                  "special, lstrip, rstrip and normalized are booleans");
    if (addedIds.count(token.content))
      return fail(error, field,
                  "'" + token.content + "' is added more than once");
    uint32_t expected;
    if (auto it = vocab.find(token.content); it != vocab.end())
      expected = it->second;
    else if (!largest)
      expected = uint32_t(modelSize);
    else
      expected = *largest >= modelSize || modelSize == 0 ? *largest + 1
                                                         : uint32_t(modelSize);
    if (token.id != expected)
      return fail(error, field + ".id",
                  "'" + token.content + "' has id " + std::to_string(token.id) +
                      " in the file, but Hugging Face tokenizers gives it " +
                      std::to_string(expected) +
                      " when it loads the file (the added tokens' ids do not "
                      "follow model.vocab)");
    largest = std::max(largest.value_or(expected), expected);
    if (token.id >= idToToken.size()) {
      idToToken.resize(uint64_t(token.id) + 1);
      validId.resize(uint64_t(token.id) + 1, false);
    }
    // The ByteLevel decoder reads an added token like any other token.
    std::string bytes;
    idToToken[token.id] =
        standInsToBytes(token.content, bytes) ? bytes : token.content;
    validId[token.id] = true;
    addedIds[token.content] = token.id;
    (normalized ? normalizedAdded : rawAdded).add(token);
  }
  return true;
}

std::optional<uint32_t> HuggingFaceBpe::tokenId(std::string_view token) const {
  std::string key(token);
  if (auto it = addedIds.find(key); it != addedIds.end())
    return it->second;
  if (auto it = vocab.find(key); it != vocab.end())
    return it->second;
  return std::nullopt;
}

bool HuggingFaceBpe::encode(std::string_view text, std::vector<uint32_t> &ids,
                            std::string &error,
                            const Progress &progress) const {
  size_t bad = findInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    error = "byte " + std::to_string(bad) + " is not valid UTF-8";
    return false;
  }
  EncodeState state{MatchData(), progress, text.size()};
  auto onNormalized = [&](std::string_view piece, const AddedToken *token) {
    if (!token)
      return encodePiece(piece, 0, state, ids, error);
    ids.push_back(token->id);
    state.advance(piece.size());
    return true;
  };
  auto onRaw = [&](std::string_view piece, const AddedToken *token) {
    if (!token)
      return splitAddedTokens(normalizedAdded, piece, onNormalized);
    ids.push_back(token->id);
    state.advance(piece.size());
    return true;
  };
  if (!splitAddedTokens(rawAdded, text, onRaw))
    return false;
  if (progress)
    progress(text.size());
  return true;
}

bool HuggingFaceBpe::encodePiece(std::string_view piece, size_t step,
                                 EncodeState &state, std::vector<uint32_t> &ids,
                                 std::string &error) const {
  if (piece.empty())
    return true;
  const PreTokenizerStep &current = steps[step];
  if (current.split)
    return splitIsolated(
        *current.split, piece, state.match, error, [&](std::string_view part) {
          return encodePiece(part, step + 1, state, ids, error);
        });
  // ByteLevel, the last step.
  std::string prefixed;
  if (current.addPrefixSpace && piece[0] != ' ') {
    prefixed = " ";
    prefixed += piece;
    piece = prefixed;
  }
  if (!current.useRegex)
    return encodeWord(piece, state, ids, error);
  return splitIsolated(*gpt2Regex, piece, state.match, error,
                       [&](std::string_view word) {
                         return encodeWord(word, state, ids, error);
                       });
}

bool HuggingFaceBpe::encodeWord(std::string_view word, EncodeState &state,
                                std::vector<uint32_t> &ids,
                                std::string &error) const {
  state.advance(word.size()); // a prefix space counts too: near enough
  std::string key(word);
  if (ignoreMerges) {
    if (auto it = byteVocab.find(key); it != byteVocab.end()) {
      ids.push_back(it->second);
      return true;
    }
  }
  auto hit = cache.find(key);
  if (hit == cache.end()) {
    std::vector<uint32_t> merged;
    if (!mergeWord(word, merged, error))
      return false;
    if (cache.size() >= (size_t(1) << 20))
      cache.clear();
    hit = cache.emplace(std::move(key), std::move(merged)).first;
  }
  ids.insert(ids.end(), hit->second.begin(), hit->second.end());
  return true;
}

bool HuggingFaceBpe::mergeWord(std::string_view word,
                               std::vector<uint32_t> &out,
                               std::string &error) const {
  struct Symbol {
    uint32_t id;
    int64_t prev, next;
    size_t length; // 0: merged into its left neighbour
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](uint32_t id, size_t length) {
    int64_t index = int64_t(symbols.size());
    symbols.push_back({id, index - 1, -1, length});
    if (index > 0)
      symbols[index - 1].next = index;
  };
  // tokenizers' merge_word: one symbol a byte; bytes without an entry
  // become unk (fused if fuse_unk), or are refused where tokenizers would
  // drop them.
  size_t unkLength = 0; // bytes of a pending unk symbol
  for (unsigned char byte : word) {
    if (byteIds[byte] >= 0) {
      if (unkLength)
        add(*unkId, unkLength), unkLength = 0;
      add(uint32_t(byteIds[byte]), 1);
      continue;
    }
    if (!unkId) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02x", byte);
      error = std::string("byte ") + hex +
              " has no token in model.vocab and model.unk_token is null "
              "(Hugging Face would drop it)";
      return false;
    }
    if (unkLength && !fuseUnk)
      add(*unkId, unkLength), unkLength = 0;
    unkLength += 1;
  }
  if (unkLength)
    add(*unkId, unkLength);

  struct Merge {
    uint32_t rank;
    size_t pos;
    uint32_t newId;
  };
  // A min-heap on (rank, pos), as tokenizers' Merge ordering.
  auto later = [](const Merge &a, const Merge &b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::vector<Merge> queue;
  auto push = [&](size_t pos, uint32_t left, uint32_t right) {
    auto it = merges.find(uint64_t(left) << 32 | right);
    if (it == merges.end())
      return;
    queue.push_back({it->second.first, pos, it->second.second});
    std::push_heap(queue.begin(), queue.end(), later);
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i)
    push(i, symbols[i].id, symbols[i + 1].id);
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), later);
    Merge top = queue.back();
    queue.pop_back();
    Symbol &current = symbols[top.pos];
    if (current.length == 0 || current.next < 0)
      continue;
    Symbol &right = symbols[current.next];
    auto pair = merges.find(uint64_t(current.id) << 32 | right.id);
    if (pair == merges.end() || pair->second.second != top.newId)
      continue; // an expired entry
    current.id = top.newId;
    current.length += right.length;
    current.next = right.next;
    right.length = 0;
    if (current.next >= 0)
      symbols[current.next].prev = int64_t(top.pos);
    if (current.prev >= 0)
      push(size_t(current.prev), symbols[current.prev].id, current.id);
    if (current.next >= 0)
      push(top.pos, current.id, symbols[current.next].id);
  }
  for (const Symbol &symbol : symbols)
    if (symbol.length != 0)
      out.push_back(symbol.id);
  return true;
}

bool HuggingFaceBpe::decode(const std::vector<uint32_t> &ids, std::string &text,
                            std::string &error) const {
  text.clear();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= validId.size() || !validId[ids[i]]) {
      error = "token " + std::to_string(i) + " is id " +
              std::to_string(ids[i]) + ", which " + path() + " does not have";
      return false;
    }
    text += idToToken[ids[i]];
  }
  return true;
}

} // namespace

std::unique_ptr<Tokenizer> openHuggingFace(const std::string &path,
                                           std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open";
    return nullptr;
  }
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  json root;
  if (!parseJson(text, path, root, error))
    return nullptr;
  auto tokenizer = std::make_unique<HuggingFaceBpe>(path);
  if (!tokenizer->load(root, error))
    return nullptr;
  return tokenizer;
}

} // namespace slapo::tok
