//===- Importer.h - Hugging Face config to graph IR ------------*- C++ -*-===//
#ifndef SLAPO_IMPORT_IMPORTER_H
#define SLAPO_IMPORT_IMPORTER_H

#include "slapo/Import/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace slapo::import {

/// Builds the graph-dialect model a validated config describes, as a
/// builtin.module holding one graph.model, and verifies it. Returns null
/// (after emitting diagnostics) if the result does not verify.
mlir::OwningOpRef<mlir::ModuleOp> importModel(mlir::MLIRContext &context,
                                              const ModelConfig &config);

} // namespace slapo::import

#endif // SLAPO_IMPORT_IMPORTER_H
