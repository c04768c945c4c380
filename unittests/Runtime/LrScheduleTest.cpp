//===- LrScheduleTest.cpp - the learning rate of each step ----------------===//
//
// The edges of transformers' schedules (test/Reference/optimization.test
// compares whole runs with transformers itself): the first warmup step
// trains at 0, decay ends at 0 on the last step + 1 and never goes below,
// and a warmup longer than the run never reaches the peak.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/LrSchedule.h"

#include "gtest/gtest.h"

using namespace slapo::rt;

namespace {

LrSchedule schedule(LrSchedule::Kind kind, int64_t warmup, int64_t total) {
  LrSchedule s;
  s.kind = kind;
  s.peak = 2.0;
  s.warmupSteps = warmup;
  s.totalSteps = total;
  return s;
}

TEST(LrSchedule, WarmupRisesLinearlyFromZero) {
  for (auto kind : {LrSchedule::Kind::Constant, LrSchedule::Kind::Linear,
                    LrSchedule::Kind::Cosine}) {
    LrSchedule s = schedule(kind, 4, 10);
    EXPECT_EQ(s.at(0), 0.0);
    EXPECT_EQ(s.at(1), 0.5);
    EXPECT_EQ(s.at(3), 1.5);
    EXPECT_EQ(s.at(4), 2.0); // the peak, once warmup is over
  }
}

TEST(LrSchedule, DecayEndsAtZero) {
  LrSchedule linear = schedule(LrSchedule::Kind::Linear, 2, 10);
  EXPECT_EQ(linear.at(6), 1.0);
  EXPECT_EQ(linear.at(10), 0.0);
  EXPECT_EQ(linear.at(12), 0.0); // past the end: 0, not negative
  LrSchedule cosine = schedule(LrSchedule::Kind::Cosine, 2, 10);
  EXPECT_DOUBLE_EQ(cosine.at(6), 1.0); // half way: half the peak
  EXPECT_NEAR(cosine.at(10), 0.0, 1e-15);
  EXPECT_GE(cosine.at(13), 0.0);
  EXPECT_EQ(schedule(LrSchedule::Kind::Constant, 0, 10).at(9), 2.0);
}

TEST(LrSchedule, WarmupLongerThanTheRun) {
  LrSchedule s = schedule(LrSchedule::Kind::Cosine, 20, 10);
  EXPECT_EQ(s.at(9), 2.0 * 9 / 20);
}

TEST(LrSchedule, ParsesItsNames) {
  LrSchedule::Kind kind;
  EXPECT_TRUE(parseLrScheduleKind("cosine", kind));
  EXPECT_EQ(kind, LrSchedule::Kind::Cosine);
  EXPECT_TRUE(parseLrScheduleKind("linear", kind));
  EXPECT_EQ(kind, LrSchedule::Kind::Linear);
  EXPECT_TRUE(parseLrScheduleKind("constant", kind));
  EXPECT_EQ(kind, LrSchedule::Kind::Constant);
  EXPECT_FALSE(parseLrScheduleKind("Cosine", kind));
  EXPECT_FALSE(parseLrScheduleKind("", kind));
}

} // namespace
