//===- JobTestMain.h - GoogleTest main for tests under mpirun ---*- C++ -*-===//
//
// Starts the job, runs every test on every rank with only rank 0 printing,
// and fails on every rank when any rank failed.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_UNITTESTS_PARALLEL_JOBTESTMAIN_H
#define SLAPO_UNITTESTS_PARALLEL_JOBTESTMAIN_H

#include "slapo/Runtime/Job.h"

#include "gtest/gtest.h"

#include <cstdio>

namespace slapo::test {

/// `ranksOk` says whether the job's size suits the tests.
template <typename RanksOk>
int runUnderJob(int argc, char **argv, rt::Job *&job, RanksOk ranksOk) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string error;
  std::unique_ptr<rt::Job> started = rt::Job::start(&argc, &argv, error);
  if (!started) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  if (!ranksOk(started->size())) {
    std::fprintf(stderr, "not for a job of %d ranks\n", started->size());
    return 1;
  }
  job = started.get();
  ::testing::TestEventListeners &listeners =
      ::testing::UnitTest::GetInstance()->listeners();
  if (job->rank() != 0)
    delete listeners.Release(listeners.default_result_printer());
  int64_t failed = RUN_ALL_TESTS() != 0;
  job->world().allReduce(&failed, 1, rt::ReduceOp::Max);
  return failed ? 1 : 0;
}

} // namespace slapo::test

#endif // SLAPO_UNITTESTS_PARALLEL_JOBTESTMAIN_H
