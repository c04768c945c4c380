//===- Data.h - training data for slapo-run --------------------*- C++ -*-===//
//
//   .txt    bytes are tokens (token = byte), for byte-level models only: a
//           model whose vocabulary is not 256 is refused (tokenize the text
//           with slapo-tokenize first; docs/tokenizer.md)
//   .bin    token ids: a token file with a header that records the id type
//           (uint16 or uint32) and count (slapo/Tokenizer/TokenFile.h), or,
//           without one, little-endian uint16 ids (nanoGPT's headerless
//           format, kept as the legacy one)
//   .jsonl  one example a line: {"context": [ids], "completion": [ids]};
//           the loss counts completion tokens only
// Text and .bin batches are taken in order: row i of step s is the window
// starting at token (s*B + i)*T, inputs T tokens and targets shifted by one,
// wrapping to the start when the data runs out.
//
// Row i of step s of a .jsonl file is example (s*B + i) mod N, in a window
// of T + 1 tokens (T inputs, and targets shifted by one): an example that
// fits is padded (padding and context tokens count no loss). One that does
// not fit keeps its completion, the tokens the loss is about, and loses the
// context's oldest tokens, so the completion is predicted from the context
// nearest to it. When the completion alone fills the window (C >= T + 1
// tokens), the row is the context's last token and the completion's first T
// tokens: the first completion token is still predicted from the context,
// and the row counts T tokens of loss, as many as a window can. An example
// without context is its completion's first T + 1 tokens.
//
// pack(T) puts several .jsonl examples into each row instead (docs/
// training.md): each example's window, as above, goes whole into the
// current row while the row's T + 1 tokens have room, else it starts the
// next row; examples keep the file's order. A row's tokens attend to the
// earlier examples of their row (the attention is causal, not masked per
// example) and continue their positions, as in TRL's packing=True. No
// token is predicted across an example's end: the target of an example's
// last token counts no loss.
//
// shuffle(seed) takes the rows in an order drawn from the seed, a new one
// for each pass over the rowCount() rows: row i of step s is row
// order_p[(s*B + i) mod R] with p = (s*B + i) div R. Text and .bin rows are
// then the R windows of T + 1 tokens that start at multiples of T. Every
// order is a function of (seed, pass) only, so a resumed run sees the
// first run's rows.
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

  /// Packs .jsonl examples into rows of seq + 1 tokens (see the file
  /// comment); fill() must then be given the same seq. False with `error`
  /// for text and .bin data, whose rows have no padding to save.
  bool pack(int64_t seq, std::string &error);
  /// Rows in an order drawn from `seed`, a new one each pass.
  void shuffle(uint64_t seed);

  /// The share of a pass's input positions that are padding (0 for text
  /// and .bin data).
  double paddingFraction(int64_t seq) const;

  const std::string &description() const { return what; }

private:
  struct Example {
    std::vector<int64_t> tokens;
    size_t contextLength = 0;
    /// The tokens [begin, end) a window of seq + 1 tokens takes (see the
    /// file comment).
    void window(int64_t seq, size_t &begin, size_t &end) const;
  };
  /// The row that global row `index` (step * batch + row) reads.
  int64_t rowAt(int64_t index, int64_t seq) const;
  void fillStreamRow(uint64_t start, int64_t seq, int64_t *ids,
                     int64_t *targets) const;
  /// Appends example `e`'s window to a row at `offset`; returns its length.
  size_t placeExample(const Example &example, int64_t seq, size_t offset,
                      int64_t *ids, int64_t *targets) const;
  static std::unique_ptr<Dataset> fromStream(std::vector<int64_t> tokens,
                                             const std::string &what,
                                             int64_t vocab, std::string &error);

  std::vector<int64_t> stream;   // .txt and .bin
  std::vector<Example> examples; // .jsonl
  /// pack(): the examples of each row, and the seq they were packed for.
  std::vector<std::vector<size_t>> packedRows;
  int64_t packedSeq = 0;
  bool shuffled = false;
  uint64_t orderKey = 0;
  /// The order of one pass, kept for the pass fill() reads now.
  mutable std::vector<int64_t> order;
  mutable int64_t orderPass = -1;
  std::string what;
};

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_DATA_H
