//===- slapo-translate.cpp - the .splan as a translation ------------------===//
//
//   slapo-translate --plan-to-splan plan.mlir -o model.splan
//
// An mlir-translate with slapo's dialects: --plan-to-splan writes the
// plan.program a pipeline left (slapo-opt --pass-pipeline=
// 'builtin.module(slapo-compile{batch=B seq=T})') as the .splan FlatBuffer
// slapo-run executes. slapo-opt --compile runs both steps at once.
//
//===----------------------------------------------------------------------===//

#include "slapo/InitAll.h"
#include "slapo/Plan/Compile.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"

int main(int argc, char **argv) {
  mlir::TranslateFromMLIRRegistration toSplan(
      "plan-to-splan", "write the plan.program as a .splan for slapo-run",
      [](mlir::Operation *op, llvm::raw_ostream &os) {
        // Errors name the file and line; they never print the module
        // (as in slapo-opt).
        op->getContext()->printOpOnDiagnostic(false);
        auto module = llvm::dyn_cast<mlir::ModuleOp>(op);
        if (!module)
          return mlir::LogicalResult(op->emitError("expected a module"));
        return slapo::writePlan(module, os);
      },
      [](mlir::DialectRegistry &registry) {
        slapo::registerAllDialects(registry);
      });
  return mlir::failed(mlir::mlirTranslateMain(argc, argv, "slapo translator"))
             ? 1
             : 0;
}
