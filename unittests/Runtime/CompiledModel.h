//===- CompiledModel.h - compile a config to .splan bytes in tests
//-*-C++-*-===//
#ifndef SLAPO_UNITTESTS_RUNTIME_COMPILEDMODEL_H
#define SLAPO_UNITTESTS_RUNTIME_COMPILEDMODEL_H

#include "slapo/Import/Importer.h"
#include "slapo/InitAll.h"
#include "slapo/Plan/Compile.h"
#include "slapo/Schedule/Schedule.h"

#include "mlir/IR/MLIRContext.h"

#include <string>
#include <vector>

namespace slapo::test {

/// The .splan bytes of one training step of the model `configJson`
/// describes, after the .sched text `schedule` (if any), for one rank of
/// `tp`, in `precision` ("fp32" or "bf16"); empty if anything fails.
inline std::vector<uint8_t>
compileToSplan(const std::string &configJson, int64_t batch, int64_t seq,
               const std::string &optimizer, const std::string &schedule = "",
               int64_t tp = 1, const std::string &precision = "fp32") {
  llvm::Expected<import::ModelConfig> config =
      import::parseModelConfig(configJson, "test.json");
  if (!config) {
    llvm::consumeError(config.takeError());
    return {};
  }
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      import::importModel(context, *config);
  if (module && !schedule.empty()) {
    llvm::SourceMgr sourceMgr;
    unsigned id = sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(schedule, "test.sched"),
        llvm::SMLoc());
    mlir::OwningOpRef<mlir::ModuleOp> transforms =
        schedule::parseSchedule(sourceMgr, id, &context);
    if (!transforms ||
        mlir::failed(schedule::applySchedule(*module, *transforms)))
      return {};
  }
  CompileOptions options;
  options.batch = batch;
  options.seq = seq;
  options.optimizer = optimizer;
  options.tp = tp;
  options.precision = precision;
  if (!module || mlir::failed(compileTrainingStep(*module, options)))
    return {};
  std::string bytes;
  llvm::raw_string_ostream os(bytes);
  if (mlir::failed(writePlan(*module, os)))
    return {};
  os.flush();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

} // namespace slapo::test

#endif // SLAPO_UNITTESTS_RUNTIME_COMPILEDMODEL_H
