//===- InitAll.h - register every slapo dialect and pass -------*- C++ -*-===//
#ifndef SLAPO_INITALL_H
#define SLAPO_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace slapo {

/// Adds every dialect slapo's tools understand to `registry`.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers slapo's passes and the upstream ones its pipelines use
/// (canonicalize, cse, ...) with the global pass registry.
void registerAllPasses();

} // namespace slapo

#endif // SLAPO_INITALL_H
