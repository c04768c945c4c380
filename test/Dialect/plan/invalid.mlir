// plan.tensor's category is the plan dialect's MemoryCategory, written as
// its string: an unknown one, and workspace (the kernels' scratch region,
// never a tensor), are refused.
// RUN: slapo-opt %s -split-input-file -verify-diagnostics

plan.program @m {
  // expected-error @+1 {{unknown category 'weights', expected input, param, grad, optimizer_state or activation}}
  %0 = plan.tensor "w" "weights" : tensor<2xf32>
}

// -----

plan.program @m {
  // expected-error @+1 {{a tensor cannot be workspace (the kernels' scratch region)}}
  %0 = plan.tensor "scratch" "workspace" : tensor<2xf32>
}
