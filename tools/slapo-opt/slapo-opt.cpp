//===- slapo-opt.cpp - the slapo compiler driver -------------------------===//
//
// An mlir-opt style driver with every slapo dialect and pass registered.
//
//===----------------------------------------------------------------------===//

#include "slapo/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  slapo::registerAllDialects(registry);
  slapo::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "slapo compiler driver\n", registry));
}
