//===- Passes.td - slapo conversion passes -----------------*- tablegen -*-===//
//
// The lowerings between slapo's dialects.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_CONVERSION_PASSES
#define SLAPO_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def ConvertGraphToPlan : Pass<"convert-graph-to-plan", "mlir::ModuleOp"> {
  let summary = "Lower a flat, static training step to plan kernel calls";
  let description = [{
    Every graph value becomes a `plan.tensor` (or a `plan.view` for a
    reshape) and every graph op a `plan.call` of the kernel with its name.
    Optimizer updates write their parameter in place; AdamW gets two
    optimizer-state tensors per parameter.
  }];
  let dependentDialects = ["::slapo::plan::PlanDialect"];
}

#endif // SLAPO_CONVERSION_PASSES
