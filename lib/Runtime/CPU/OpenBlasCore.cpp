//===- OpenBlasCore.cpp - make OpenBLAS use the CPU's kernels -------------===//

#include "slapo/Runtime/OpenBlasCore.h"

#include <cblas.h>

#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace slapo::rt {

void useOpenBlasKernelsForThisCpu(char **argv) {
  if (std::getenv("OPENBLAS_CORETYPE"))
    return; // the user's choice, or this is the restarted process
  const char *core = openblas_get_corename();
  if (!core || std::strcmp(core, "Prescott") != 0)
    return; // OpenBLAS knows this CPU
  // SkylakeX kernels use AVX-512 F, BW, DQ and VL.
  bool avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const char *better = avx512                           ? "SkylakeX"
                       : __builtin_cpu_supports("avx2") ? "Haswell"
                                                        : nullptr;
  if (!better)
    return;
  setenv("OPENBLAS_CORETYPE", better, 1);
  execv("/proc/self/exe", argv);
  // Could not restart (no /proc): go on with the generic kernels.
}

} // namespace slapo::rt
