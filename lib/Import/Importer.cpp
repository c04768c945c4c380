//===- Importer.cpp - Hugging Face config to graph IR --------------------===//

#include "slapo/Import/Importer.h"
#include "GraphBuilder.h"

#include "mlir/IR/Verifier.h"

namespace slapo::import {

mlir::OwningOpRef<mlir::ModuleOp> importModel(mlir::MLIRContext &context,
                                              const ModelConfig &config) {
  GraphBuilder builder(context, config);
  mlir::OwningOpRef<mlir::ModuleOp> module;
  switch (config.family) {
  case ModelFamily::GPT2:
    module = buildGPT2(builder);
    break;
  case ModelFamily::OPT:
    module = buildOPT(builder);
    break;
  case ModelFamily::Llama:
    module = buildLlama(builder);
    break;
  }
  if (!module || mlir::failed(mlir::verify(*module)))
    return nullptr;
  return module;
}

} // namespace slapo::import
