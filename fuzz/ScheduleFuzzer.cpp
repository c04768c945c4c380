//===- ScheduleFuzzer.cpp - libFuzzer harness: .sched parser and matcher --===//
//
// Any bytes as a .sched file: parseSchedule must give transform IR or
// file:line:col diagnostics; transform IR it gives is applied to the tiny
// GPT-2 and Llama models (models/*-tiny.json), which matches every path
// pattern against their module and parameter paths. Whatever the schedule
// does, the model must then still verify, or the schedule must have
// failed with a diagnostic.
//
//===----------------------------------------------------------------------===//

#include "slapo/Import/Importer.h"
#include "slapo/Import/ModelConfig.h"
#include "slapo/InitAll.h"
#include "slapo/Schedule/Schedule.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

/// The tiny models' configs, read once.
const std::vector<slapo::import::ModelConfig> &models() {
  static const std::vector<slapo::import::ModelConfig> configs = [] {
    std::vector<slapo::import::ModelConfig> result;
    for (const char *name :
         {"gpt2-tiny.json", "llama-tiny.json", "opt-tiny.json"}) {
      llvm::Expected<slapo::import::ModelConfig> config =
          slapo::import::loadModelConfig(std::string(SLAPO_SOURCE_DIR) +
                                         "/models/" + name);
      if (!config) {
        std::fprintf(stderr, "%s\n",
                     llvm::toString(config.takeError()).c_str());
        std::abort();
      }
      result.push_back(*config);
    }
    return result;
  }();
  return configs;
}

const mlir::DialectRegistry &registry() {
  static mlir::DialectRegistry *registry = [] {
    auto *r = new mlir::DialectRegistry;
    slapo::registerAllDialects(*r);
    return r;
  }();
  return *registry;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::MLIRContext context(registry());
  mlir::ScopedDiagnosticHandler quiet(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  llvm::SourceMgr sourceMgr;
  unsigned id = sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size),
          "fuzz.sched"),
      llvm::SMLoc());
  mlir::OwningOpRef<mlir::ModuleOp> schedule =
      slapo::schedule::parseSchedule(sourceMgr, id, &context);
  if (!schedule)
    return 0;
  for (const slapo::import::ModelConfig &config : models()) {
    mlir::OwningOpRef<mlir::ModuleOp> model =
        slapo::import::importModel(context, config);
    if (!model)
      std::abort(); // the tiny models always import
    if (mlir::succeeded(slapo::schedule::applySchedule(*model, *schedule)) &&
        mlir::failed(mlir::verify(*model))) {
      std::fprintf(stderr, "a schedule that applied left a model that does "
                           "not verify\n");
      std::abort();
    }
  }
  return 0;
}
