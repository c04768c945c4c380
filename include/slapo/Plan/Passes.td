//===- Passes.td - slapo plan dialect passes ---------------*- tablegen -*-===//
//
// Passes on the plan dialect.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_PLAN_PASSES
#define SLAPO_PLAN_PASSES

include "mlir/Pass/PassBase.td"

def PlanAssignOffsets : Pass<"plan-assign-offsets", "mlir::ModuleOp"> {
  let summary = "Static memory plan: place every tensor in one arena";
  let description = [{
    Inputs, parameters, gradients and optimizer state are resident for the
    whole step. Activations share one region by liveness: tensors whose
    lifetimes do not overlap reuse offsets. Kernel scratch (attention
    probabilities) is one workspace region sized for the largest need.
    Records `arena_bytes` and the per-category totals on the program.
  }];
}

#endif // SLAPO_PLAN_PASSES
