//===- CPUKernels.h - CPU kernel entry points ------------------*- C++ -*-===//
//
// One function per kernel name of the plan; CpuBackend.cpp binds them by
// name and operand dtypes (their load-time checks are in
// lib/Runtime/KernelChecks.cpp). Kernels over activations are templates on
// the element type (Element.h), instantiated for float and bf16 where they
// are defined; parameters, optimizer state and losses are always float.
// Private to lib/Runtime/CPU.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_CPU_CPUKERNELS_H
#define SLAPO_LIB_RUNTIME_CPU_CPUKERNELS_H

#include "Element.h"

namespace slapo::rt::cpu {

// Every kernel of the table (KernelTable.def), each defined in the file of
// its family (Dense.cpp, Norms.cpp, Attention.cpp, Elementwise.cpp,
// Shape.cpp, Collectives.cpp, Loss.cpp, Optimizers.cpp).
#define SLAPO_TYPED_KERNEL(name, fn) template <class T> void fn(KernelContext &c);
#define SLAPO_SHARED_KERNEL(name, fn) void fn(KernelContext &c);
#define SLAPO_F32_KERNEL(name, fn) void fn(KernelContext &c);
#include "../KernelTable.def"

// The backend's own vector calls (Elementwise.cpp).
/// y += alpha * x (the backend's gradient accumulation).
void accumulate(float *y, const float *x, int64_t count, float alpha);
/// sum of x[i]^2, in double.
double sumOfSquares(const float *x, int64_t count);
/// x *= factor.
void scale(float *x, int64_t count, float factor);

} // namespace slapo::rt::cpu

#endif // SLAPO_LIB_RUNTIME_CPU_CPUKERNELS_H
