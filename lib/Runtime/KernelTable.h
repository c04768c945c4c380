//===- KernelTable.h - a backend's kernels by name and dtypes ---*- C++ -*-===//
//
// What every backend's kernel table shares: its entries (made from
// KernelTable.def), the lookup by name and operand dtypes, and the check
// that the executor's own vector calls are on f32. Private to lib/Runtime.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_KERNELTABLE_H
#define SLAPO_LIB_RUNTIME_KERNELTABLE_H

#include "slapo/Runtime/Kernels.h"

#include <string>
#include <vector>

namespace slapo::rt {

struct TableKernel {
  const char *name;
  /// For operands whose floats are all f32, and for those with bf16
  /// activations (null: none). Parameters, optimizer state and the loss
  /// are f32 in both.
  KernelFn f32, bf16;
};

/// The kernel `name` of `table` for operands of these dtypes: the bf16
/// form when any operand is bf16 (the load-time checks decide which mixes
/// of float dtypes a kernel takes), none for f16 or an unknown name.
KernelFn findTableKernel(const std::vector<TableKernel> &table,
                         const std::string &name,
                         const std::vector<DType> &operands);

/// Aborts, as an internal error of backend `backend`, unless `dtype` is
/// f32: the executor's own vector calls are on f32 gradients only.
void requireF32(const char *backend, DType dtype, const char *what);

} // namespace slapo::rt

#endif // SLAPO_LIB_RUNTIME_KERNELTABLE_H
