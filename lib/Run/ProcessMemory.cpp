//===- ProcessMemory.cpp - the memory a process really uses ---------------===//

#include "slapo/Run/ProcessMemory.h"

#include <cblas.h>
#include <fstream>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

namespace slapo::run {

uint64_t residentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

uint64_t peakResidentBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return uint64_t(usage.ru_maxrss) * 1024;
}

void startThreadPools() {
  std::vector<float> a(64 * 64, 1.0f), c(64 * 64);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 64, 64, 64, 1.0f,
              a.data(), 64, a.data(), 64, 0.0f, c.data(), 64);
  volatile float sink = 0.0f;
#pragma omp parallel
  sink = sink + 1.0f;
}

} // namespace slapo::run
