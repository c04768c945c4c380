//===- Shards.cpp - one rank's block of a tensor-parallel parameter -------===//

#include "slapo/Runtime/Shards.h"

#include <cstring>

namespace slapo::rt {

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
  if (size != 0)
    std::memset(local, 0, size_t(localNumel()) * sizeof(float));
  forEachRun(rank, [&](int64_t l, int64_t f, int64_t n) {
    std::memcpy(local + l, full + f, size_t(n) * sizeof(float));
  });
}

void ShardLayout::insert(const float *local, float *full, int64_t rank) const {
  forEachRun(rank, [&](int64_t l, int64_t f, int64_t n) {
    std::memcpy(full + f, local + l, size_t(n) * sizeof(float));
  });
}

} // namespace slapo::rt
