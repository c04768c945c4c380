//===- CpuBackend.h - the CPU backend ---------------------------*- C++ -*-===//
#ifndef SLAPO_LIB_RUNTIME_CPU_CPUBACKEND_H
#define SLAPO_LIB_RUNTIME_CPU_CPUBACKEND_H

#include "slapo/Runtime/Backend.h"

#include <memory>

namespace slapo::rt {

/// Host memory, the calling thread, OpenBLAS and OpenMP kernels.
std::unique_ptr<Backend> createCpuBackend();

} // namespace slapo::rt

#endif // SLAPO_LIB_RUNTIME_CPU_CPUBACKEND_H
