//===- DataFuzzer.cpp - libFuzzer harness: the --data readers -------------===//
//
// Any bytes as a training data file. The first byte picks the format (the
// extension: .txt bytes, .bin token ids with or without slapo-tokenize's
// header, .jsonl context/completion examples) and the vocabulary (256 or
// OPT's 50272); the rest is the file. Dataset::open refuses it with an
// error, or gives a dataset whose batches hold only ids in the vocabulary
// and targets in it or the ignore index, also packed and shuffled.
//
//===----------------------------------------------------------------------===//

#include "FuzzFile.h"

#include "slapo/Runtime/Data.h"

#include <cstdlib>
#include <string>
#include <vector>

namespace {

void checkBatch(const slapo::rt::Dataset &dataset, int64_t step,
                int64_t vocab) {
  constexpr int64_t batch = 2, seq = 8;
  std::vector<int64_t> ids(batch * seq), targets(batch * seq);
  dataset.fill(step, batch, seq, ids.data(), targets.data());
  for (int64_t i = 0; i < batch * seq; ++i)
    if (ids[i] < 0 || ids[i] >= vocab ||
        (targets[i] != slapo::rt::kIgnoreIndex &&
         (targets[i] < 0 || targets[i] >= vocab)))
      std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  static const char *const extensions[] = {".txt", ".bin", ".jsonl"};
  const char *extension = extensions[(data[0] & 0x7f) % 3];
  int64_t vocab = data[0] & 0x80 ? 50272 : 256;
  std::string path = slapo::fuzz::writeInput(data + 1, size - 1, extension);
  std::string error;
  std::unique_ptr<slapo::rt::Dataset> dataset =
      slapo::rt::Dataset::open(path, vocab, error);
  if (!dataset) {
    if (error.empty())
      std::abort();
    return 0;
  }
  (void)dataset->paddingFraction(8);
  for (int64_t step = 0; step < 3; ++step)
    checkBatch(*dataset, step, vocab);
  // As slapo-run: a dataset shorter than one row is never shuffled.
  if (dataset->rowCount(8) > 0) {
    dataset->shuffle(size);
    checkBatch(*dataset, 0, vocab);
  }
  if (dataset->pack(8, error)) {
    checkBatch(*dataset, 0, vocab);
    checkBatch(*dataset, 1, vocab);
  }
  return 0;
}
