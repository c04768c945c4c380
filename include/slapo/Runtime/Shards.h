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

  /// Copies rank `rank`'s block of `full` into `local`.
  void extract(const float *full, float *local, int64_t rank) const;
  /// Writes `local` as rank `rank`'s block of `full`.
  void insert(const float *local, float *full, int64_t rank) const;
};

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_SHARDS_H
