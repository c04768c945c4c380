//===- KernelTable.cpp - a backend's kernels by name and dtypes -----------===//

#include "KernelTable.h"

#include <cstdio>
#include <cstdlib>

namespace slapo::rt {

KernelFn findTableKernel(const std::vector<TableKernel> &table,
                         const std::string &name,
                         const std::vector<DType> &operands) {
  bool bf16 = false;
  for (DType dtype : operands) {
    if (dtype == DType::BF16)
      bf16 = true;
    else if (isFloat(dtype) && dtype != DType::F32)
      return nullptr; // no f16 kernels
  }
  for (const TableKernel &entry : table)
    if (name == entry.name)
      return bf16 ? entry.bf16 : entry.f32;
  return nullptr;
}

void requireF32(const char *backend, DType dtype, const char *what) {
  if (dtype == DType::F32)
    return;
  std::fprintf(stderr,
               "slapo-run: internal error: the %s backend %s f32 only, not "
               "%s\n",
               backend, what, dtypeName(dtype));
  std::abort();
}

} // namespace slapo::rt
