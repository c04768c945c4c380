//===- InitAll.cpp - register every slapo dialect and pass ---------------===//

#include "slapo/InitAll.h"

#include "graph/GraphDialect.h"
#include "plan/PlanDialect.h"
#include "slapo/Schedule/SchedOps.h"

#include "mlir/Dialect/Transform/IR/TransformDialect.h"
#include "slapo/Conversion/Passes.h"
#include "slapo/Plan/Compile.h"
#include "slapo/Plan/Passes.h"
#include "slapo/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void slapo::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<slapo::graph::GraphDialect, slapo::plan::PlanDialect,
                  mlir::transform::TransformDialect>();
  slapo::sched::registerSchedExtension(registry);
}

void slapo::registerAllPasses() {
  mlir::registerTransformsPasses();
  slapo::registerSlapoPasses();
  slapo::registerSlapoConversionPasses();
  slapo::registerSlapoPlanPasses();
  slapo::registerTrainingStepPipeline();
}
