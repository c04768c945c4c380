//===- TokenizerTest.cpp - the tokenizer library without the references ---===//
//
// The rules of byte-level BPE on small hand-made tokenizer.json files (the
// lit tests in test/Tokenizer check whole texts against the tokenizers and
// sentencepiece packages): merges by rank, leftmost first; ignore_merges;
// added tokens with lstrip / rstrip; add_prefix_space on each piece between
// added tokens; unk and fuse_unk; UTF-8 checks; token file round trips.
//
//===----------------------------------------------------------------------===//

#include "slapo/Tokenizer/Tokenizer.h"
#include "slapo/Tokenizer/TokenFile.h"

#include "../TempDirectory.h"

#include "gtest/gtest.h"

#include <algorithm>

using namespace slapo::tok;

namespace {

/// GPT-2's printable stand-in of byte b, as UTF-8.
std::string standIn(int b) {
  bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) ||
                   (b >= 0xae && b <= 0xff);
  uint32_t code = uint32_t(b);
  if (!printable) {
    code = 256;
    for (int c = 0; c < b; ++c)
      if (!((c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) ||
            (c >= 0xae && c <= 0xff)))
        ++code;
  }
  if (code < 0x80)
    return std::string(1, char(code));
  return {char(0xc0 | (code >> 6)), char(0x80 | (code & 0x3f))};
}

struct Spec {
  std::vector<std::string> extraVocab; // after the 256 bytes, in order
  std::vector<std::pair<std::string, std::string>> merges;
  std::string addedTokens = "[]";
  bool ignoreMerges = false, addPrefixSpace = false;
  std::string unk = "null";
  bool fuseUnk = false;
  std::vector<int> withoutBytes;
};

std::string quoted(const std::string &text) {
  std::string out = "\"";
  for (char c : text)
    out += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

std::string tokenizerJson(const Spec &spec) {
  std::string vocab;
  int id = 0;
  auto entry = [&](const std::string &token) {
    vocab += (vocab.empty() ? "" : ", ") + quoted(token) + ": " +
             std::to_string(id++);
  };
  for (int b = 0; b < 256; ++b)
    if (std::find(spec.withoutBytes.begin(), spec.withoutBytes.end(), b) ==
        spec.withoutBytes.end())
      entry(standIn(b));
  for (const std::string &token : spec.extraVocab)
    entry(token);
  std::string merges;
  for (const auto &[a, b] : spec.merges)
    merges +=
        (merges.empty() ? "[" : ", [") + quoted(a) + ", " + quoted(b) + "]";
  std::string byteLevel = std::string("{\"type\": \"ByteLevel\", "
                                      "\"add_prefix_space\": ") +
                          (spec.addPrefixSpace ? "true" : "false") +
                          ", \"trim_offsets\": true, \"use_regex\": true}";
  return "{\"version\": \"1.0\", \"added_tokens\": " + spec.addedTokens +
         ", \"normalizer\": null, \"pre_tokenizer\": " + byteLevel +
         ", \"decoder\": " + byteLevel +
         ", \"model\": {\"type\": \"BPE\", \"unk_token\": " + spec.unk +
         ", \"fuse_unk\": " + (spec.fuseUnk ? "true" : "false") +
         ", \"ignore_merges\": " + (spec.ignoreMerges ? "true" : "false") +
         ", \"vocab\": {" + vocab + "}, \"merges\": [" + merges + "]}}";
}

class TokenizerFiles : public slapo::testing::TempDirectoryTest {
protected:
  std::unique_ptr<Tokenizer> open(const Spec &spec) {
    std::string path = write("tokenizer.json", tokenizerJson(spec));
    std::string error;
    auto tokenizer = Tokenizer::open(path, error);
    EXPECT_TRUE(tokenizer) << error;
    return tokenizer;
  }
  static std::vector<uint32_t> encode(const Tokenizer &tokenizer,
                                      const std::string &text) {
    std::vector<uint32_t> ids;
    std::string error;
    EXPECT_TRUE(tokenizer.encode(text, ids, error)) << error;
    return ids;
  }
};

TEST_F(TokenizerFiles, MergesGoByRankThenLeftmost) {
  Spec spec;
  spec.extraVocab = {"bc", "ab", "abc", "aa"}; // ids 256..259
  spec.merges = {{"b", "c"}, {"a", "b"}, {"a", "bc"}, {"a", "a"}};
  auto tokenizer = open(spec);
  ASSERT_TRUE(tokenizer);
  // "b c" ranks before "a b", so "abc" is a + bc, then abc.
  EXPECT_EQ(encode(*tokenizer, "abc"), (std::vector<uint32_t>{258}));
  // "abx": only "a b" applies.
  EXPECT_EQ(encode(*tokenizer, "abx"), (std::vector<uint32_t>{257, 'x'}));
  // Equal pairs merge from the left: aa + a.
  EXPECT_EQ(encode(*tokenizer, "aaa"), (std::vector<uint32_t>{259, 'a'}));
  std::string text, error;
  ASSERT_TRUE(tokenizer->decode({258, 259, 'a'}, text, error)) << error;
  EXPECT_EQ(text, "abcaaa");
  EXPECT_FALSE(tokenizer->decode({9999}, text, error));
}

TEST_F(TokenizerFiles, IgnoreMergesTakesWholeWords) {
  Spec spec;
  spec.extraVocab = {"xyz"}; // no merge makes it
  auto merging = open(spec);
  ASSERT_TRUE(merging);
  EXPECT_EQ(encode(*merging, "xyz"), (std::vector<uint32_t>{'x', 'y', 'z'}));
  spec.ignoreMerges = true;
  auto whole = open(spec);
  ASSERT_TRUE(whole);
  EXPECT_EQ(encode(*whole, "xyz"), (std::vector<uint32_t>{256}));
}

TEST_F(TokenizerFiles, AddedTokensStripAndPrefixEachPiece) {
  Spec spec;
  spec.addPrefixSpace = true;
  spec.addedTokens =
      "[{\"id\": 256, \"content\": \"<m>\", \"single_word\": false, "
      "\"lstrip\": true, \"rstrip\": true, \"normalized\": false, "
      "\"special\": false}, {\"id\": 257, \"content\": \"<e>\", "
      "\"special\": true, \"normalized\": false}]";
  auto tokenizer = open(spec);
  ASSERT_TRUE(tokenizer);
  uint32_t space = ' ';
  // "a  <m>  b": the spaces go into <m>; each piece gets its prefix space.
  EXPECT_EQ(encode(*tokenizer, "a  <m>  b"),
            (std::vector<uint32_t>{space, 'a', 256, space, 'b'}));
  // <e> takes no whitespace; "x" after it is prefixed again.
  EXPECT_EQ(encode(*tokenizer, "<e>x"),
            (std::vector<uint32_t>{257, space, 'x'}));
  EXPECT_EQ(tokenizer->tokenId("<e>"), std::optional<uint32_t>(257));
  EXPECT_EQ(tokenizer->tokenId("<none>"), std::nullopt);
  EXPECT_EQ(tokenizer->vocabSize(), 258u);
}

TEST_F(TokenizerFiles, BytesWithoutEntries) {
  Spec spec;
  spec.withoutBytes = {0xc3, 0xa9}; // é is c3 a9
  spec.extraVocab = {"<unk>"};      // id 254
  auto refusing = open(spec);
  ASSERT_TRUE(refusing);
  std::vector<uint32_t> ids;
  std::string error;
  EXPECT_FALSE(refusing->encode("caf\xc3\xa9", ids, error));
  EXPECT_EQ(error, "byte 0xc3 has no token in model.vocab and model.unk_token "
                   "is null (Hugging Face would drop it)");
  spec.unk = "\"<unk>\"";
  auto unk = open(spec);
  ASSERT_TRUE(unk);
  EXPECT_EQ(encode(*unk, "caf\xc3\xa9"),
            (std::vector<uint32_t>{'c', 'a', 'f', 254, 254}));
  spec.fuseUnk = true;
  auto fused = open(spec);
  ASSERT_TRUE(fused);
  EXPECT_EQ(encode(*fused, "caf\xc3\xa9"),
            (std::vector<uint32_t>{'c', 'a', 'f', 254}));
}

TEST_F(TokenizerFiles, OpenRefusesMissingAndUnknownFiles) {
  std::string error;
  EXPECT_FALSE(Tokenizer::open(path("none.json"), error));
  EXPECT_NE(error.find("none.json: no such tokenizer file"), std::string::npos)
      << error;
  std::string other = write("vocab.txt", "a\n");
  EXPECT_FALSE(Tokenizer::open(other, error));
  EXPECT_NE(error.find("vocab.txt: unknown tokenizer file"), std::string::npos)
      << error;
}

TEST(Utf8, InvalidBytesAreFound) {
  using namespace std::string_literals;
  EXPECT_EQ(findInvalidUtf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(findInvalidUtf8("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"),
            std::string_view::npos);
  EXPECT_EQ(findInvalidUtf8("ok \xff"), 3u);          // not a lead byte
  EXPECT_EQ(findInvalidUtf8("ab\xc3"), 2u);           // cut short
  EXPECT_EQ(findInvalidUtf8("\xc0\xaf"), 0u);         // overlong '/'
  EXPECT_EQ(findInvalidUtf8("x\xed\xa0\x80"), 1u);    // a surrogate
  EXPECT_EQ(findInvalidUtf8("\xf4\x90\x80\x80"), 0u); // above U+10FFFF
  EXPECT_EQ(findInvalidUtf8("\xe6\x97x"), 0u);        // bad continuation
  EXPECT_EQ(findInvalidUtf8("a\0b"s), std::string_view::npos);
}

TEST(TokenFile, RoundTripsAndRefusesIdsTheTypeCannotHold) {
  std::string bytes, error;
  ASSERT_TRUE(encodeTokenFile({0, 65535, 7}, 2, 65536, bytes, error));
  EXPECT_EQ(bytes.size(), kTokenFileHeaderSize + 6);
  std::vector<int64_t> ids;
  TokenFileInfo info;
  ASSERT_TRUE(readTokenFile(bytes, "a.bin", ids, info, error)) << error;
  EXPECT_EQ(ids, (std::vector<int64_t>{0, 65535, 7}));
  EXPECT_FALSE(info.legacy);
  EXPECT_EQ(info.elementSize, 2u);
  EXPECT_EQ(info.vocabSize, 65536u);

  ASSERT_TRUE(encodeTokenFile({128255, 65536}, 4, 128256, bytes, error));
  ids.clear();
  ASSERT_TRUE(readTokenFile(bytes, "b.bin", ids, info, error)) << error;
  EXPECT_EQ(ids, (std::vector<int64_t>{128255, 65536}));
  EXPECT_EQ(info.elementSize, 4u);

  EXPECT_FALSE(encodeTokenFile({1, 65536}, 2, 70000, bytes, error));
  EXPECT_EQ(error, "token 1 is id 65536, which uint16 cannot hold");
  EXPECT_EQ(tokenElementSize(65536), 2u);
  EXPECT_EQ(tokenElementSize(65537), 4u);
}

} // namespace
