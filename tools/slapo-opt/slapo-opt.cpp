//===- slapo-opt.cpp - the slapo compiler driver -------------------------===//
//
// An mlir-opt style driver with every slapo dialect and pass registered.
// With --compile it instead compiles the input model's training step into a
// .splan file for slapo-run:
//   slapo-opt model.mlir [--schedule s.sched]... [--print-transform]
//             [--compile --batch B --seq T [--optimizer adamw|sgd] [--tp N]
//              [--precision fp32|bf16]]
//             [-o out]
// Schedules are applied in order; without --compile the scheduled graph is
// printed (to -o or stdout).
//
//===----------------------------------------------------------------------===//

#include "slapo/InitAll.h"
#include "slapo/Plan/Compile.h"
#include "slapo/Schedule/Schedule.h"
#include "slapo/Verify/Verify.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <algorithm>
#include <vector>

using namespace llvm;

namespace {

/// The command line of the schedule/compile driver, once parsed.
struct DriverOptions {
  std::string output;
  bool compile = false, verify = false, printTransform = false,
       printPlan = false;
  slapo::CompileOptions compileOptions;
};

int compileMain(const std::shared_ptr<SourceMgr> &sourceMgr,
                ArrayRef<unsigned> scheduleBuffers, mlir::MLIRContext &context,
                const DriverOptions &o);

// --help lists these; MLIR's and LLVM's options stay behind --help-hidden.
cl::OptionCategory driverOptions("slapo-opt options");

int scheduleMain(int argc, char **argv) {
  cl::opt<std::string> input(cl::Positional, cl::cat(driverOptions),
                             cl::desc("<model.mlir>"), cl::init("-"));
  cl::opt<std::string> output(
      "o", cl::cat(driverOptions),
      cl::desc("where to write the .splan (--compile) or the graph"),
      cl::value_desc("file"), cl::init("-"));
  cl::opt<bool> compile("compile", cl::cat(driverOptions),
                        cl::desc("compile one training step"));
  cl::opt<int64_t> batch("batch", cl::cat(driverOptions),
                         cl::desc("rows per step"), cl::init(0));
  cl::opt<int64_t> seq("seq", cl::cat(driverOptions),
                       cl::desc("tokens per row"), cl::init(0));
  cl::opt<std::string> optimizer("optimizer", cl::cat(driverOptions),
                                 cl::desc("adamw (default) or sgd"),
                                 cl::init("adamw"));
  cl::opt<double> beta1("beta1", cl::cat(driverOptions),
                        cl::desc("AdamW beta1"), cl::init(0.9));
  cl::opt<double> beta2("beta2", cl::cat(driverOptions),
                        cl::desc("AdamW beta2"), cl::init(0.999));
  cl::opt<double> epsilon("eps", cl::cat(driverOptions),
                          cl::desc("AdamW epsilon"), cl::init(1e-8));
  cl::opt<double> weightDecay("weight-decay", cl::cat(driverOptions),
                              cl::desc("AdamW weight decay"), cl::init(0.01));
  cl::opt<bool> decayNormsAndBiases(
      "decay-norms-and-biases", cl::cat(driverOptions),
      cl::desc("also apply weight decay to biases and norm weights (by "
               "default exempt, as in Hugging Face Trainer)"));
  cl::list<std::string> schedules(
      "schedule", cl::cat(driverOptions),
      cl::desc("a .sched file to apply before compiling"),
      cl::value_desc("s.sched"));
  cl::opt<int64_t> tp("tp", cl::cat(driverOptions),
                      cl::desc("tensor-parallel degree"), cl::init(1));
  cl::opt<std::string> precision(
      "precision", cl::cat(driverOptions),
      cl::desc("fp32 (default) or bf16: bf16 compute with f32 master "
               "weights (graph-autocast)"),
      cl::init("fp32"));
  cl::opt<bool> verify(
      "verify", cl::cat(driverOptions),
      cl::desc("check on random weights and tokens that the "
               "schedules preserve the loss and every gradient"));
  cl::opt<bool> printTransform(
      "print-transform", cl::cat(driverOptions),
      cl::desc("print the transform IR each schedule became"));
  cl::opt<bool> verifyDiagnostics(
      "verify-diagnostics", cl::cat(driverOptions),
      cl::desc("check the errors against expected-error comments in the "
               "model and schedule files (for tests)"));
  cl::opt<bool> printPlan("print-plan", cl::cat(driverOptions),
                          cl::desc("also print the plan dialect to stdout"));
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  // -mlir-print-ir-after-all, -mlir-timing and the rest work on --compile
  // (behind --help-hidden).
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  cl::HideUnrelatedOptions(driverOptions);
  cl::ParseCommandLineOptions(
      argc, argv,
      "slapo-opt: schedule a model (--schedule), check a schedule (--verify) "
      "and compile its training step (--compile)\n\n"
      "  slapo-opt model.mlir [--schedule s.sched]... --compile --batch B "
      "--seq T -o model.splan\n\n"
      "Without --schedule, --verify or --compile, slapo-opt is an mlir-opt "
      "with slapo's dialects and passes: --help-mlir lists its options.\n");

  DriverOptions o;
  o.output = output;
  o.compile = compile;
  o.verify = verify;
  o.printTransform = printTransform;
  o.printPlan = printPlan;
  slapo::CompileOptions &options = o.compileOptions;
  options.batch = batch;
  options.seq = seq;
  options.optimizer = optimizer;
  options.beta1 = beta1;
  options.beta2 = beta2;
  options.epsilon = epsilon;
  options.weightDecay = weightDecay;
  options.decayNormsAndBiases = decayNormsAndBiases;
  options.tp = tp;
  options.precision = precision;

  if (compile && output == "-" && sys::Process::StandardOutIsDisplayed()) {
    errs() << "slapo-opt: error: --compile writes a binary .splan: give -o "
              "FILE (or redirect stdout)\n";
    return 1;
  }
  if (StringRef(input).ends_with(".json")) {
    errs() << "slapo-opt: error: " << input
           << " is a config.json: run slapo-import --config " << input
           << " -o model.mlir first, then slapo-opt model.mlir\n";
    return 1;
  }
  mlir::DialectRegistry registry;
  slapo::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  // Errors name the file, line and option; they never print the model.
  context.printOpOnDiagnostic(false);
  std::string error;
  auto file = mlir::openInputFile(input, &error);
  if (!file) {
    errs() << "slapo-opt: error: " << error << "\n";
    return 1;
  }
  auto sourceMgr = std::make_shared<SourceMgr>();
  sourceMgr->AddNewSourceBuffer(std::move(file), SMLoc());
  // Every file is read before diagnostics start, so that expected-error
  // comments in the schedules are seen too.
  std::vector<unsigned> scheduleBuffers;
  for (const std::string &path : schedules) {
    auto buffer = mlir::openInputFile(path, &error);
    if (!buffer) {
      errs() << "slapo-opt: error: " << error << "\n";
      return 1;
    }
    scheduleBuffers.push_back(
        sourceMgr->AddNewSourceBuffer(std::move(buffer), SMLoc()));
  }
  if (verifyDiagnostics) {
    mlir::SourceMgrDiagnosticVerifierHandler handler(*sourceMgr, &context);
    (void)compileMain(sourceMgr, scheduleBuffers, context, o);
    return mlir::failed(handler.verify()) ? 1 : 0;
  }
  mlir::SourceMgrDiagnosticHandler handler(*sourceMgr, &context);
  return compileMain(sourceMgr, scheduleBuffers, context, o);
}

int compileMain(const std::shared_ptr<SourceMgr> &sourceMgr,
                ArrayRef<unsigned> scheduleBuffers, mlir::MLIRContext &context,
                const DriverOptions &o) {
  std::string error;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  mlir::OwningOpRef<mlir::ModuleOp> original;
  if (o.verify)
    original = module->clone();
  for (unsigned id : scheduleBuffers) {
    mlir::OwningOpRef<mlir::ModuleOp> transforms =
        slapo::schedule::parseSchedule(*sourceMgr, id, &context);
    if (!transforms)
      return 1;
    if (o.printTransform)
      transforms->print(outs());
    if (mlir::failed(slapo::schedule::applySchedule(*module, *transforms)))
      return 1;
  }
  if (o.verify &&
      mlir::failed(slapo::verifySchedule(*original, *module, outs())))
    return 1;
  if (o.verify && !o.compile)
    return 0;
  if (!o.compile) {
    auto out = mlir::openOutputFile(o.output, &error);
    if (!out) {
      errs() << "slapo-opt: error: " << error << "\n";
      return 1;
    }
    module->print(out->os());
    out->keep();
    return 0;
  }

  if (mlir::failed(slapo::compileTrainingStep(*module, o.compileOptions,
                                              /*applyCommandLine=*/true)))
    return 1;
  if (o.printPlan)
    module->print(outs());

  auto out = mlir::openOutputFile(o.output, &error);
  if (!out) {
    errs() << "slapo-opt: error: " << error << "\n";
    return 1;
  }
  if (mlir::failed(slapo::writePlan(*module, out->os())))
    return 1;
  out->keep();
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  // --help is slapo-opt's own; --help-mlir is mlir-opt's.
  std::vector<char *> args(argv, argv + argc);
  for (char *&arg : args)
    if (StringRef(arg) == "--help-mlir")
      arg = const_cast<char *>("--help");
  bool help = std::any_of(argv + 1, argv + argc, [](const char *arg) {
    StringRef flag(arg);
    return flag == "--help" || flag == "-help" || flag == "-h";
  });
  bool ours = help || std::any_of(argv + 1, argv + argc, [](const char *arg) {
                StringRef flag(arg);
                return flag == "--compile" || flag == "-compile" ||
                       flag == "--verify" || flag.starts_with("--schedule") ||
                       flag.starts_with("-schedule") ||
                       StringRef(arg).ends_with(".json");
              });
  if (ours)
    return scheduleMain(argc, argv);
  argv = args.data();

  mlir::DialectRegistry registry;
  slapo::registerAllDialects(registry);
  slapo::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "slapo compiler driver\n", registry));
}
