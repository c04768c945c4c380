//===- RopeFrequencies.h - RoPE's inverse frequencies -----------*- C++ -*-===//
//
// The frequencies a rope call rotates by, from its theta and its scaling
// (none, linear or llama3). Every backend takes them from here, computed on
// the host in float32, so the backends rotate by the same numbers to the
// bit. Private to lib/Runtime.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_ROPEFREQUENCIES_H
#define SLAPO_LIB_RUNTIME_ROPEFREQUENCIES_H

#include "slapo/Runtime/Kernels.h"

#include <cstdint>
#include <vector>

namespace slapo::rt {

/// The headDim / 2 inverse frequencies of `call` for heads of `headDim`
/// values: pair i (values i and i + headDim / 2) turns by position times
/// frequency i.
std::vector<float> ropeInverseFrequencies(const KernelCall &call,
                                          int64_t headDim);

} // namespace slapo::rt

#endif // SLAPO_LIB_RUNTIME_ROPEFREQUENCIES_H
