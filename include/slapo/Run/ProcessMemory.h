//===- ProcessMemory.h - the memory a process really uses ------*- C++ -*-===//
//
// What slapo-run measures against the plan's memory: resident bytes now
// and at their peak (Linux /proc and getrusage).
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUN_PROCESSMEMORY_H
#define SLAPO_RUN_PROCESSMEMORY_H

#include <cstdint>

namespace slapo::run {

/// Resident memory now, in bytes.
uint64_t residentBytes();
/// The largest resident memory so far, in bytes.
uint64_t peakResidentBytes();
/// Starts OpenBLAS's and OpenMP's threads and buffers, so a memory
/// baseline taken afterwards leaves them out.
void startThreadPools();

} // namespace slapo::run

#endif // SLAPO_RUN_PROCESSMEMORY_H
