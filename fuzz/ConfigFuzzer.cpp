//===- ConfigFuzzer.cpp - libFuzzer harness: config.json reader -----------===//
//
// Any bytes as a Hugging Face config.json: parseModelConfig must refuse
// them with an error or accept a config within its documented limits; an
// accepted config with few layers is imported and must give a graph that
// verifies (importModel verifies it) or a diagnostic, never a crash.
//
//===----------------------------------------------------------------------===//

#include "slapo/Import/Importer.h"
#include "slapo/Import/ModelConfig.h"
#include "slapo/InitAll.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

/// What parseModelConfig promises of a config it accepts.
void checkLimits(const slapo::import::ModelConfig &config) {
  bool within = config.numLayers >= 1 && config.numLayers <= 1024 &&
                config.hiddenSize >= 1 && config.numHeads >= 1 &&
                config.vocabSize >= 1 && config.parameterCount >= 1 &&
                config.parameterCount <= (int64_t(1) << 40);
  if (!within) {
    std::fprintf(stderr, "accepted a config out of its limits\n");
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef json(reinterpret_cast<const char *>(data), size);
  llvm::Expected<slapo::import::ModelConfig> config =
      slapo::import::parseModelConfig(json, "fuzz.json");
  if (!config) {
    if (llvm::toString(config.takeError()).empty())
      std::abort(); // a refusal says why
    return 0;
  }
  checkLimits(*config);
  // Importing builds ops per layer: keep each input fast.
  if (config->numLayers > 4)
    return 0;
  static mlir::DialectRegistry *registry = [] {
    auto *r = new mlir::DialectRegistry;
    slapo::registerAllDialects(*r);
    return r;
  }();
  mlir::MLIRContext context(*registry);
  mlir::ScopedDiagnosticHandler quiet(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  (void)slapo::import::importModel(context, *config);
  return 0;
}
