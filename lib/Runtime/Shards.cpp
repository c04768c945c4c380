//===- Shards.cpp - one rank's block of a tensor-parallel parameter -------===//

#include "slapo/Runtime/Shards.h"

#include <algorithm>
#include <cstring>

namespace slapo::rt {

namespace {

/// Copies rank `rank`'s pieces between the whole tensor and its block:
/// [outer, parts, piece rows, inner] of the block against [outer, parts,
/// part rows, inner] of the whole, where piece r of a part starts at row
/// r * piece. Rows past a padded part's end are zeros in the block.
template <bool ToLocal>
void copyPieces(const ShardLayout &layout, float *full, float *local,
                int64_t rank) {
  if (!layout.sharded()) {
    int64_t n = layout.localNumel();
    if (ToLocal)
      std::memcpy(local, full, n * sizeof(float));
    else
      std::memcpy(full, local, n * sizeof(float));
    return;
  }
  const std::vector<int64_t> &shape = layout.localShape;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < int64_t(shape.size()); ++d)
    if (d < layout.axis)
      outer *= shape[d];
    else if (d > layout.axis)
      inner *= shape[d];
  int64_t block = shape[layout.axis], whole = layout.fullShape()[layout.axis];
  int64_t piece = block / layout.parts, part = whole / layout.parts;
  int64_t rows = std::clamp<int64_t>(part - rank * piece, 0, piece);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t p = 0; p < layout.parts; ++p) {
      float *f = full + (o * whole + p * part + rank * piece) * inner;
      float *l = local + (o * block + p * piece) * inner;
      if (!ToLocal) {
        std::memcpy(f, l, rows * inner * sizeof(float));
        continue;
      }
      std::memcpy(l, f, rows * inner * sizeof(float));
      std::memset(l + rows * inner, 0, (piece - rows) * inner * sizeof(float));
    }
}

} // namespace

std::vector<int64_t> ShardLayout::fullShape() const {
  std::vector<int64_t> shape = localShape;
  if (sharded())
    shape[axis] = size ? size : shape[axis] * ranks;
  return shape;
}

int64_t ShardLayout::localNumel() const {
  int64_t n = 1;
  for (int64_t d : localShape)
    n *= d;
  return n;
}

int64_t ShardLayout::fullNumel() const {
  int64_t n = 1;
  for (int64_t d : fullShape())
    n *= d;
  return n;
}

void ShardLayout::extract(const float *full, float *local, int64_t rank) const {
  copyPieces<true>(*this, const_cast<float *>(full), local, rank);
}

void ShardLayout::insert(const float *local, float *full, int64_t rank) const {
  copyPieces<false>(*this, full, const_cast<float *>(local), rank);
}

} // namespace slapo::rt
