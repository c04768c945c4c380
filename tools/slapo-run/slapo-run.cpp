//===- slapo-run.cpp - train a compiled .splan ----------------------------===//
//
//   [mpirun -np P] slapo-run model.splan [--data FILE] [--steps N | --epochs N]
//             [--lr X] [--init W.safetensors] [--save W.safetensors] ...
//
// Thin: the command line (Options.cpp; slapo-run --help lists it), then one
// call into lib/Run (slapo/Run/TrainingRun.h). No MLIR or LLVM here. Under
// an MPI launcher the P processes form tp-sized tensor-parallel groups (the
// plan's tp) and P/tp data-parallel ranks; rank 0 prints and writes.
//
//===----------------------------------------------------------------------===//

#include "slapo/Run/TrainingRun.h"
#include "slapo/Runtime/Job.h"
#include "slapo/Runtime/OpenBlasCore.h"

#include "Options.h"

#include <cstdio>
#include <exception>
#include <new>
#include <string>

using namespace slapo;

int main(int argc, char **argv) {
  rt::useOpenBlasKernelsForThisCpu(argv);
  std::string error;
  std::unique_ptr<rt::Job> job = rt::Job::start(&argc, &argv, error);
  if (!job) {
    std::fprintf(stderr, "slapo-run: error: %s\n", error.c_str());
    return 1;
  }
  bool leader = job->rank() == 0;
  run::Options options;
  run::ParseOutcome parsed = run::parseOptions(argc, argv, options, error);
  if (parsed == run::ParseOutcome::Help) {
    if (leader)
      std::fputs(error.c_str(), stdout);
    return 0;
  }
  // Every rank parsed the same line; a rank that failed says why.
  if (!job->agree(parsed == run::ParseOutcome::Run, error)) {
    if (leader)
      std::fprintf(stderr, "slapo-run: error: %s\n", error.c_str());
    return 1;
  }
  // What no check caught still ends in one line and exit 1, never an
  // abort (std::terminate); under MPI every rank ends with it (the others
  // may wait in a collective).
  try {
    return run::train(*job, std::move(options));
  } catch (const std::bad_alloc &e) {
    std::fprintf(stderr,
                 "slapo-run: error: out of memory (%s): a smaller --batch, "
                 "model or data may fit\n",
                 e.what());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "slapo-run: error: %s\n", e.what());
  }
  if (job->size() > 1)
    job->abort(1);
  return 1;
}
