//===- OpenBlasCore.h - make OpenBLAS use the CPU's kernels ----*- C++ -*-===//
//
// OpenBLAS (Debian's 0.3.21, DYNAMIC_ARCH) picks its kernels once, when it
// loads, from the CPU model. A CPU newer than it knows (a Sapphire Rapids
// that a hypervisor calls "Intel(R) Xeon(R) Processor") gets the generic
// "Prescott" kernels, six times slower than its AVX-512 ones (measured
// here: 30 against 189 GFLOP/s for a 2048^3 sgemm on 2 threads).
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_OPENBLASCORE_H
#define SLAPO_RUNTIME_OPENBLASCORE_H

namespace slapo::rt {

/// When OpenBLAS fell back to its generic kernels on a CPU with AVX-512
/// (or AVX2) and OPENBLAS_CORETYPE is unset, sets OPENBLAS_CORETYPE to
/// SkylakeX (or Haswell) and re-executes the program with the same
/// arguments, so the library loads again with those kernels; otherwise
/// returns. Call it first in main, before MPI or threads start. A user's
/// OPENBLAS_CORETYPE is never overridden.
void useOpenBlasKernelsForThisCpu(char **argv);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_OPENBLASCORE_H
