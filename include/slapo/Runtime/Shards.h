//===- Shards.h - one rank's block of a tensor-parallel parameter -*- C++
//-*-===//
//
// A parameter sharded on `axis` in `parts` parts over `ranks` ranks: the
// full tensor's axis is `parts` equal parts (GPT-2's fused q/k/v is three),
// each cut into `ranks` equal pieces; rank r holds piece r of every part,
// in part order. With parts = 1 that is Megatron's contiguous block.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_SHARDS_H
#define SLAPO_RUNTIME_SHARDS_H

#include <cstdint>
#include <vector>

namespace slapo::rt {

struct ShardLayout {
  std::vector<int64_t> localShape;
  int64_t axis = -1; // -1: replicated
  int64_t parts = 1;
  int64_t ranks = 1;
  /// The whole axis when it is padded (a vocabulary the ranks do not
  /// divide): rank r holds rows [r * block, (r + 1) * block) of it, and
  /// those past `size` are padding (zeros). 0: not padded.
  int64_t size = 0;

  bool sharded() const { return axis >= 0 && ranks > 1; }
  /// The shape of the whole tensor.
  std::vector<int64_t> fullShape() const;
  int64_t localNumel() const;
  int64_t fullNumel() const;

  /// Calls `run(localOffset, fullOffset, count)` for each contiguous run of
  /// elements that rank `rank`'s block shares with the whole tensor, in
  /// order. Padding rows of the block (past a padded axis' end) are in no
  /// run.
  template <typename Run> void forEachRun(int64_t rank, Run run) const;

  /// Copies rank `rank`'s block of `full` into `local` (padding: zeros).
  void extract(const float *full, float *local, int64_t rank) const;
  /// Writes `local` as rank `rank`'s block of `full`.
  void insert(const float *local, float *full, int64_t rank) const;
};

template <typename Run>
void ShardLayout::forEachRun(int64_t rank, Run run) const {
  if (!sharded()) {
    run(int64_t(0), int64_t(0), localNumel());
    return;
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < int64_t(localShape.size()); ++d)
    if (d < axis)
      outer *= localShape[d];
    else if (d > axis)
      inner *= localShape[d];
  int64_t block = localShape[axis], whole = fullShape()[axis];
  int64_t piece = block / parts, part = whole / parts;
  int64_t rows = part - rank * piece;
  rows = rows < 0 ? 0 : rows > piece ? piece : rows;
  if (rows == 0)
    return;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t p = 0; p < parts; ++p)
      run((o * block + p * piece) * inner,
          (o * whole + p * part + rank * piece) * inner, rows * inner);
}

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_SHARDS_H
