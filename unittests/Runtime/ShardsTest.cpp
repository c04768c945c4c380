//===- ShardsTest.cpp - a rank's block of a sharded parameter -------------===//

#include "slapo/Runtime/Shards.h"

#include "gtest/gtest.h"

#include <numeric>

using namespace slapo::rt;

// GPT-2's fused q/k/v weight [in 2, out 3 parts * 4] over 2 ranks: rank r
// holds columns {q, k, v}[2r, 2r + 2).
TEST(ShardLayout, TakesEachRanksPieceOfEveryPart) {
  ShardLayout layout{{2, 6}, /*axis=*/1, /*parts=*/3, /*ranks=*/2};
  EXPECT_EQ(layout.fullShape(), (std::vector<int64_t>{2, 12}));
  std::vector<float> full(24);
  std::iota(full.begin(), full.end(), 0.0f);
  std::vector<float> rank1(12);
  layout.extract(full.data(), rank1.data(), 1);
  EXPECT_EQ(rank1,
            (std::vector<float>{2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23}));
  std::vector<float> back(24, -1.0f), rank0(12);
  layout.extract(full.data(), rank0.data(), 0);
  layout.insert(rank0.data(), back.data(), 0);
  layout.insert(rank1.data(), back.data(), 1);
  EXPECT_EQ(back, full);
}

// A row-parallel weight [out 4, in 3] split on axis 0 over 4 ranks.
TEST(ShardLayout, ContiguousBlocksOnTheFirstAxis) {
  ShardLayout layout{{1, 3}, 0, 1, 4};
  std::vector<float> full(12);
  std::iota(full.begin(), full.end(), 0.0f);
  std::vector<float> rank2(3);
  layout.extract(full.data(), rank2.data(), 2);
  EXPECT_EQ(rank2, (std::vector<float>{6, 7, 8}));
  ShardLayout replicated{{5}, -1, 1, 4};
  EXPECT_FALSE(replicated.sharded());
  EXPECT_EQ(replicated.fullShape(), (std::vector<int64_t>{5}));
}

// A 5-row vocabulary over 2 ranks is padded to 3 rows a rank: rank 1 holds
// rows 3, 4 and one row of zeros; inserting it back drops the padding.
TEST(ShardLayout, PadsAVocabularyTheRanksDoNotDivide) {
  ShardLayout layout{{3, 2}, 0, 1, 2, /*size=*/5};
  EXPECT_EQ(layout.fullShape(), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(layout.fullNumel(), 10);
  std::vector<float> full(10);
  std::iota(full.begin(), full.end(), 1.0f);
  std::vector<float> rank1(6, -1.0f), rank0(6);
  layout.extract(full.data(), rank1.data(), 1);
  EXPECT_EQ(rank1, (std::vector<float>{7, 8, 9, 10, 0, 0}));
  layout.extract(full.data(), rank0.data(), 0);
  std::vector<float> back(10, -1.0f);
  layout.insert(rank0.data(), back.data(), 0);
  layout.insert(rank1.data(), back.data(), 1);
  EXPECT_EQ(back, full);
}
