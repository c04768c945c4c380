//===- Data.h - training data for slapo-run --------------------*- C++ -*-===//
//
//   .txt    bytes are tokens (token = byte)
//   .bin    little-endian uint16 token ids
//   .jsonl  one example a line: {"context": [ids], "completion": [ids]};
//           the loss counts completion tokens only
// Text and .bin batches are taken in order: row i of step s is the window
// starting at token (s*B + i)*T, inputs T tokens and targets shifted by one,
// wrapping to the start when the data runs out. Row i of step s of a .jsonl
// file is example (s*B + i) mod N, cut or padded to T + 1 tokens.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_DATA_H
#define SLAPO_RUNTIME_DATA_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace slapo::rt {

/// The target value for tokens that count no loss.
inline constexpr int64_t kIgnoreIndex = -100;

class Dataset {
public:
  /// Reads `path` (by extension) and checks every token id is < vocab.
  static std::unique_ptr<Dataset> open(const std::string &path, int64_t vocab,
                                       std::string &error);
  /// The embedded default corpus (English text, byte tokens).
  static std::unique_ptr<Dataset> builtin(int64_t vocab, std::string &error);

  /// Fills [batch, seq] token ids and targets for 0-based step `step`.
  void fill(int64_t step, int64_t batch, int64_t seq, int64_t *ids,
            int64_t *targets) const;

  /// Rows that fill() gives before it wraps to the start: the windows of
  /// seq + 1 tokens that fit one after another (text and .bin), or the
  /// examples (.jsonl). Evaluation reads each of them once.
  int64_t rowCount(int64_t seq) const;

  const std::string &description() const { return what; }

private:
  struct Example {
    std::vector<int64_t> tokens;
    size_t contextLength = 0;
  };
  static std::unique_ptr<Dataset> fromStream(std::vector<int64_t> tokens,
                                             const std::string &what,
                                             int64_t vocab, std::string &error);

  std::vector<int64_t> stream;   // .txt and .bin
  std::vector<Example> examples; // .jsonl
  std::string what;
};

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_DATA_H
