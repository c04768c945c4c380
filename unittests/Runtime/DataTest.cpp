//===- DataTest.cpp - training data files ---------------------------------===//
//
// Token files with a header (uint16 and uint32 ids) and without (nanoGPT's
// uint16), damaged headers, .txt refused for a vocabulary that is not bytes,
// and the .jsonl window: an example too long for T + 1 tokens keeps its
// completion and loses the context's oldest tokens (Data.h); packing
// examples into rows, and the seeded order of shuffled rows.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Data.h"
#include "slapo/Tokenizer/TokenFile.h"

#include "../TempDirectory.h"

#include "gtest/gtest.h"

#include <algorithm>

using namespace slapo::rt;

namespace {

class DataFiles : public slapo::testing::TempDirectoryTest {
protected:
  std::string tokenFile(const std::string &name,
                        const std::vector<uint32_t> &ids, uint32_t elementSize,
                        uint64_t vocab) const {
    std::string bytes, error;
    EXPECT_TRUE(
        slapo::tok::encodeTokenFile(ids, elementSize, vocab, bytes, error))
        << error;
    return write(name, bytes);
  }
};

/// Row 0 of step 0 with one-row batches of `seq` tokens.
void firstRow(const Dataset &data, int64_t seq, std::vector<int64_t> &ids,
              std::vector<int64_t> &targets) {
  ids.assign(seq, -1);
  targets.assign(seq, -1);
  data.fill(0, 1, seq, ids.data(), targets.data());
}

TEST_F(DataFiles, HeaderRecordsTheIdType) {
  struct Case {
    uint32_t elementSize;
    std::vector<uint32_t> ids;
    uint64_t vocab;
  } cases[] = {{4, {70000, 5, 128255, 1}, 128256}, {2, {65535, 7, 3}, 65536}};
  for (const Case &c : cases) {
    std::string path = tokenFile("ids" + std::to_string(c.elementSize) + ".bin",
                                 c.ids, c.elementSize, c.vocab);
    std::string error;
    auto data = Dataset::open(path, int64_t(c.vocab), error);
    ASSERT_TRUE(data) << error;
    int64_t seq = int64_t(c.ids.size()) - 1;
    std::vector<int64_t> ids, targets;
    firstRow(*data, seq, ids, targets);
    EXPECT_EQ(ids, std::vector<int64_t>(c.ids.begin(), c.ids.end() - 1));
    EXPECT_EQ(targets, std::vector<int64_t>(c.ids.begin() + 1, c.ids.end()));
  }
}

TEST_F(DataFiles, HeaderlessBinIsLegacyUint16) {
  // nanoGPT's format: ids 1, 300, 2 as little-endian uint16.
  std::string path =
      write("legacy.bin", std::string("\x01\x00\x2c\x01\x02\x00", 6));
  std::string error;
  auto data = Dataset::open(path, 512, error);
  ASSERT_TRUE(data) << error;
  std::vector<int64_t> ids, targets;
  firstRow(*data, 2, ids, targets);
  EXPECT_EQ(ids, (std::vector<int64_t>{1, 300}));
  EXPECT_EQ(targets, (std::vector<int64_t>{300, 2}));
}

TEST_F(DataFiles, DamagedHeadersAreRefused) {
  std::string bytes, error;
  ASSERT_TRUE(slapo::tok::encodeTokenFile({1, 2, 3, 4}, 4, 100, bytes, error));
  ASSERT_EQ(bytes.size(), 32u + 16u);
  struct Case {
    std::string name, bytes, message;
  } cases[] = {
      {"header.bin", bytes.substr(0, 20),
       "truncated token file header (20 of 32 bytes)"},
      {"short.bin", bytes.substr(0, bytes.size() - 1),
       "the header records 4 uint32 ids, but the file holds 15 bytes of ids "
       "(truncated or damaged file?)"},
      {"long.bin", bytes + std::string(4, '\0'),
       "the header records 4 uint32 ids, but the file holds 20 bytes of ids"},
      {"version.bin", bytes.substr(0, 8) + '\x07' + bytes.substr(9),
       "token file version 7; this slapo reads version 1"},
      {"element.bin", bytes.substr(0, 12) + '\x08' + bytes.substr(13),
       "token file element size 8 (expected 2 for uint16 ids or 4 for "
       "uint32)"},
      // A count so large that count * element size wraps around.
      {"count.bin",
       bytes.substr(0, 16) +
           std::string("\x01\x00\x00\x00\x00\x00\x00\x40", 8) +
           bytes.substr(24),
       "the header records 4611686018427387905 uint32 ids"},
      {"vocab.bin",
       bytes.substr(0, 24) +
           std::string("\x00\x00\x01\x00\x00\x00\x00\x00", 8) +
           bytes.substr(32),
       "written with a tokenizer of 65536 tokens, more than the model's "
       "vocabulary size 1000"},
  };
  for (const Case &c : cases) {
    std::string path = write(c.name, c.bytes);
    error.clear();
    EXPECT_FALSE(Dataset::open(path, 1000, error)) << c.name;
    EXPECT_NE(error.find(path + ": " + c.message), std::string::npos)
        << c.name << ": " << error;
  }
}

TEST_F(DataFiles, IdsBeyondTheVocabularyAreRefused) {
  std::string path = tokenFile("ids.bin", {1, 2, 999}, 2, 0);
  std::string error;
  EXPECT_FALSE(Dataset::open(path, 999, error));
  EXPECT_NE(error.find("token 2 is id 999, not below the model's vocabulary "
                       "size 999"),
            std::string::npos)
      << error;
}

TEST_F(DataFiles, TextIsForByteModelsOnly) {
  std::string path = write("a.txt", "hello, world");
  std::string error;
  EXPECT_TRUE(Dataset::open(path, 256, error)) << error;
  for (int64_t vocab : {50257, 512, 128256}) {
    error.clear();
    EXPECT_FALSE(Dataset::open(path, vocab, error));
    EXPECT_NE(error.find(path +
                         ": a .txt file is read as bytes (token = "
                         "byte), but the model's vocabulary has " +
                         std::to_string(vocab) +
                         " tokens, not 256: tokenize it first (slapo-tokenize"),
              std::string::npos)
        << error;
  }
}

/// The window of the single example {context, completion} for `seq`.
void jsonlRow(const std::string &path, int64_t seq, std::vector<int64_t> &ids,
              std::vector<int64_t> &targets) {
  std::string error;
  auto data = Dataset::open(path, 1000, error);
  ASSERT_TRUE(data) << error;
  firstRow(*data, seq, ids, targets);
}

constexpr int64_t X = kIgnoreIndex;

TEST_F(DataFiles, JsonlThatFitsIsPadded) {
  std::string path =
      write("fits.jsonl", "{\"context\": [1, 2], \"completion\": [10, 11]}\n");
  std::vector<int64_t> ids, targets;
  jsonlRow(path, 5, ids, targets);
  EXPECT_EQ(ids, (std::vector<int64_t>{1, 2, 10, 11, 0}));
  EXPECT_EQ(targets, (std::vector<int64_t>{X, 10, 11, X, X}));
}

TEST_F(DataFiles, LongContextLosesItsOldestTokens) {
  std::string path = write("long.jsonl", "{\"context\": [1, 2, 3, 4, 5, 6, 7, "
                                         "8, 9], \"completion\": [10, 11, "
                                         "12]}\n");
  std::vector<int64_t> ids, targets;
  jsonlRow(path, 5, ids, targets);
  // T + 1 = 6 tokens: the context's last 3, the whole completion.
  EXPECT_EQ(ids, (std::vector<int64_t>{7, 8, 9, 10, 11}));
  EXPECT_EQ(targets, (std::vector<int64_t>{X, X, 10, 11, 12}));
}

TEST_F(DataFiles, LongCompletionKeepsOneContextTokenAndItsStart) {
  std::string path = write("completion.jsonl",
                           "{\"context\": [1, 2, 3], \"completion\": [10, 11, "
                           "12, 13, 14, 15, 16]}\n");
  std::vector<int64_t> ids, targets;
  jsonlRow(path, 4, ids, targets);
  // The completion (7) is longer than T + 1 = 5: the context's last token,
  // then the completion's first T, all of them counted.
  EXPECT_EQ(ids, (std::vector<int64_t>{3, 10, 11, 12}));
  EXPECT_EQ(targets, (std::vector<int64_t>{10, 11, 12, 13}));
  // Exactly T + 1 completion tokens: the same rule.
  path = write("exact.jsonl", "{\"context\": [1, 2], \"completion\": [10, 11, "
                              "12, 13, 14]}\n");
  jsonlRow(path, 4, ids, targets);
  EXPECT_EQ(ids, (std::vector<int64_t>{2, 10, 11, 12}));
  EXPECT_EQ(targets, (std::vector<int64_t>{10, 11, 12, 13}));
  // One short of it: the whole completion and one context token.
  path = write("short.jsonl", "{\"context\": [1, 2], \"completion\": [10, 11, "
                              "12, 13]}\n");
  jsonlRow(path, 4, ids, targets);
  EXPECT_EQ(ids, (std::vector<int64_t>{2, 10, 11, 12}));
  EXPECT_EQ(targets, (std::vector<int64_t>{10, 11, 12, 13}));
}

TEST_F(DataFiles, LongCompletionWithoutContextKeepsItsStart) {
  std::string path = write("text.jsonl", "{\"context\": [], \"completion\": "
                                         "[10, 11, 12, 13, 14, 15]}\n");
  std::vector<int64_t> ids, targets;
  jsonlRow(path, 3, ids, targets);
  EXPECT_EQ(ids, (std::vector<int64_t>{10, 11, 12}));
  EXPECT_EQ(targets, (std::vector<int64_t>{11, 12, 13}));
}

/// Steps [0, steps) of one-row batches: each row's ids.
std::vector<std::vector<int64_t>> rows(const Dataset &data, int64_t seq,
                                       int64_t steps) {
  std::vector<std::vector<int64_t>> out;
  std::vector<int64_t> ids(seq), targets(seq);
  for (int64_t s = 0; s < steps; ++s) {
    data.fill(s, 1, seq, ids.data(), targets.data());
    out.push_back(ids);
  }
  return out;
}

TEST_F(DataFiles, PackedExamplesShareRowsButNoTarget) {
  // Windows of 4, 3, 3 and 5 tokens into rows of T + 1 = 8: {4, 3}, {3, 5}.
  std::string path =
      write("pack.jsonl", "{\"context\": [1, 2], \"completion\": [10, 11]}\n"
                          "{\"context\": [3], \"completion\": [12, 13]}\n"
                          "{\"context\": [4, 5], \"completion\": [14]}\n"
                          "{\"context\": [6], \"completion\": [15, 16, 17, "
                          "18]}\n");
  std::string error;
  std::unique_ptr<Dataset> data = Dataset::open(path, 256, error);
  ASSERT_TRUE(data) << error;
  EXPECT_NEAR(data->paddingFraction(7), 1.0 - (4 + 3 + 3 + 5) / 28.0, 1e-12);
  ASSERT_TRUE(data->pack(7, error)) << error;
  EXPECT_EQ(data->rowCount(7), 2);
  EXPECT_NEAR(data->paddingFraction(7), 1.0 - (7 + 7) / 14.0, 1e-12);
  std::vector<int64_t> ids(14), targets(14);
  data->fill(0, 2, 7, ids.data(), targets.data());
  // An example's last token predicts nothing: not the next one's first.
  EXPECT_EQ(ids, (std::vector<int64_t>{1, 2, 10, 11, 3, 12, 13, //
                                       4, 5, 14, 6, 15, 16, 17}));
  EXPECT_EQ(targets, (std::vector<int64_t>{X, 10, 11, X, 12, 13, X, //
                                           X, 14, X, 15, 16, 17, 18}));
  // The rows wrap after the last.
  std::vector<int64_t> again(7), againTargets(7);
  data->fill(2, 1, 7, again.data(), againTargets.data());
  EXPECT_EQ(again, std::vector<int64_t>(ids.begin(), ids.begin() + 7));
}

TEST_F(DataFiles, PackingIsForJsonl) {
  std::string path = write("text.txt", "some text to train on");
  std::string error;
  std::unique_ptr<Dataset> data = Dataset::open(path, 256, error);
  ASSERT_TRUE(data) << error;
  EXPECT_FALSE(data->pack(4, error));
  EXPECT_NE(error.find("--pack packs .jsonl examples"), std::string::npos)
      << error;
}

TEST_F(DataFiles, ShuffledPassesTakeEveryRowOnceInASeededOrder) {
  std::string text;
  for (int i = 0; i < 41; ++i)
    text += char('a' + i % 26);
  std::string path = write("rows.txt", text); // 10 windows of 4 + 1 tokens
  std::string error;
  std::unique_ptr<Dataset> data = Dataset::open(path, 256, error);
  ASSERT_TRUE(data) << error;
  ASSERT_EQ(data->rowCount(4), 10);
  std::vector<std::vector<int64_t>> inOrder = rows(*data, 4, 10);
  data->shuffle(7);
  std::vector<std::vector<int64_t>> first = rows(*data, 4, 30);
  // Each pass of 10 rows is a permutation of the windows at multiples of 4.
  for (int pass = 0; pass < 3; ++pass) {
    std::vector<std::vector<int64_t>> taken(first.begin() + pass * 10,
                                            first.begin() + pass * 10 + 10);
    std::sort(taken.begin(), taken.end());
    std::vector<std::vector<int64_t>> expected = inOrder;
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(taken, expected) << "pass " << pass;
  }
  EXPECT_NE(
      std::vector<std::vector<int64_t>>(first.begin(), first.begin() + 10),
      inOrder);
  EXPECT_NE(
      std::vector<std::vector<int64_t>>(first.begin(), first.begin() + 10),
      std::vector<std::vector<int64_t>>(first.begin() + 10, first.begin() + 20))
      << "every pass has its own order";
  // The same seed gives the same rows, read in any order (a resumed run).
  std::unique_ptr<Dataset> other = Dataset::open(path, 256, error);
  other->shuffle(7);
  std::vector<int64_t> ids(4), targets(4);
  for (int64_t s : {25, 3, 17}) {
    other->fill(s, 1, 4, ids.data(), targets.data());
    EXPECT_EQ(ids, first[size_t(s)]) << "step " << s;
  }
  // Another seed, another order.
  other->shuffle(8);
  EXPECT_NE(rows(*other, 4, 10), std::vector<std::vector<int64_t>>(
                                     first.begin(), first.begin() + 10));
}

} // namespace
