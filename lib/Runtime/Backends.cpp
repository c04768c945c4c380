//===- Backends.cpp - the backends this slapo-run was built with ----------===//
//
// The one place that knows every backend (IREE's driver registry): the core
// itself includes none of them.
//
//===----------------------------------------------------------------------===//

#include "CPU/CpuBackend.h"
#include "slapo/Runtime/Backend.h"
#if SLAPO_CUDA_BACKEND
#include "CUDA/CudaBackend.h"
#endif

#include <cstdio>
#include <cstdlib>

namespace slapo::rt {

std::vector<std::string> backendNames() {
#if SLAPO_CUDA_BACKEND
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

std::unique_ptr<Backend> createBackend(const std::string &name,
                                       std::string &error) {
  if (name == "cpu")
    return createCpuBackend();
#if SLAPO_CUDA_BACKEND
  if (name == "cuda")
    return createCudaBackend(error);
#endif
  error = "--device " + name + ": no such backend in this slapo-run (it has:";
  for (const std::string &known : backendNames())
    error += " " + known;
  error += ")";
  return nullptr;
}

void View::wrongDType(DType want) const {
  std::fprintf(stderr,
               "slapo-run: internal error: tensor '%s' is %s, read as %s\n",
               info->name.c_str(), dtypeName(info->dtype), dtypeName(want));
  std::abort();
}

} // namespace slapo::rt
