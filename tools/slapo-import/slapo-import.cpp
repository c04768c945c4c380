//===- slapo-import.cpp - Hugging Face config.json to graph IR -----------===//

#include "graph/GraphDialect.h"
#include "graph/GraphUtils.h"
#include "slapo/Import/Importer.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace llvm;

// --help lists these; LLVM's own options stay behind --help-hidden.
static cl::OptionCategory importOptions("slapo-import options");

static cl::opt<std::string> configPath(
    "config", cl::Required, cl::value_desc("config.json"),
    cl::cat(importOptions),
    cl::desc("Hugging Face config.json (model_type gpt2, opt or llama)"));
static cl::opt<std::string> outputPath(
    "o", cl::value_desc("model.mlir"), cl::cat(importOptions),
    cl::desc("write the graph IR here (default: stdout, unless --summary or "
             "--params)"));
static cl::opt<bool>
    summary("summary", cl::desc("print a summary with the parameter count"),
            cl::cat(importOptions));
static cl::opt<bool>
    params("params", cl::desc("list every parameter: name, shape, dtype, init"),
           cl::cat(importOptions));

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(importOptions);
  cl::ParseCommandLineOptions(
      argc, argv,
      "slapo-import: a Hugging Face config.json as slapo graph IR\n");

  Expected<slapo::import::ModelConfig> config =
      slapo::import::loadModelConfig(configPath);
  if (!config) {
    errs() << "slapo-import: error: " << toString(config.takeError()) << "\n";
    return 1;
  }

  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      slapo::import::importModel(context, *config);
  if (!module)
    return 1;

  auto model = *module->getOps<slapo::graph::ModelOp>().begin();
  // The config.json itself travels with the model into the plan, so that
  // slapo-run --save DIR writes a directory from_pretrained loads.
  if (ErrorOr<std::unique_ptr<MemoryBuffer>> text =
          MemoryBuffer::getFile(configPath, /*IsText=*/true)) {
    mlir::NamedAttrList entries(model.getConfigAttr());
    entries.set("hf_config",
                mlir::StringAttr::get(&context, (*text)->getBuffer()));
    model.setConfigAttr(entries.getDictionary(&context));
  }
  if (summary)
    slapo::graph::printSummary(model, outs());
  if (params)
    slapo::graph::printParameters(model, outs());
  if ((summary || params) && outputPath.empty())
    return 0;

  std::string error;
  std::unique_ptr<ToolOutputFile> output = mlir::openOutputFile(
      outputPath.empty() ? std::string("-") : outputPath.getValue(), &error);
  if (!output) {
    errs() << "slapo-import: error: " << error << "\n";
    return 1;
  }
  module->print(output->os());
  output->keep();
  return 0;
}
