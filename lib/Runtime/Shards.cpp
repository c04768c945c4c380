//===- Shards.cpp - one rank's block of a tensor-parallel parameter -------===//

#include "slapo/Runtime/Shards.h"

#include <cstring>

namespace slapo::rt {

namespace {

/// The shard as [outer, parts, piece * inner] pieces of the local tensor.
struct Pieces {
  int64_t outer = 1, piece = 0;
  explicit Pieces(const ShardLayout &layout) {
    int64_t inner = 1;
    for (int64_t d = 0; d < int64_t(layout.localShape.size()); ++d)
      if (d < layout.axis)
        outer *= layout.localShape[d];
      else if (d > layout.axis)
        inner *= layout.localShape[d];
    piece = layout.localShape[layout.axis] / layout.parts * inner;
  }
};

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
  Pieces p(layout);
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t part = 0; part < layout.parts; ++part) {
      float *f =
          full + ((o * layout.parts + part) * layout.ranks + rank) * p.piece;
      float *l = local + (o * layout.parts + part) * p.piece;
      if (ToLocal)
        std::memcpy(l, f, p.piece * sizeof(float));
      else
        std::memcpy(f, l, p.piece * sizeof(float));
    }
}

} // namespace

std::vector<int64_t> ShardLayout::fullShape() const {
  std::vector<int64_t> shape = localShape;
  if (sharded())
    shape[axis] *= ranks;
  return shape;
}

int64_t ShardLayout::localNumel() const {
  int64_t n = 1;
  for (int64_t d : localShape)
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
