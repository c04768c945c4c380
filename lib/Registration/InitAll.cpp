//===- InitAll.cpp - register every slapo dialect and pass ---------------===//

#include "slapo/InitAll.h"

#include "graph/GraphDialect.h"
#include "plan/PlanDialect.h"
#include "slapo/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void slapo::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<slapo::graph::GraphDialect, slapo::plan::PlanDialect>();
}

void slapo::registerAllPasses() {
  mlir::registerTransformsPasses();
  slapo::registerSlapoPasses();
}
