// Every tensor category prints as the string it is parsed from, and a
// printed plan parses back to the same plan.
// RUN: slapo-opt %s | slapo-opt | FileCheck %s

plan.program @m {
  %0 = plan.tensor "input_ids" "input" : tensor<2x3xi64>
  %1 = plan.tensor "w" "param" {trainable = true} : tensor<4xf32>
  %2 = plan.tensor "grad:w" "grad" : tensor<4xf32>
  %3 = plan.tensor "w.exp_avg" "optimizer_state" : tensor<4xf32>
  %4 = plan.tensor "x" "activation" : tensor<4xf32>
}
// CHECK: plan.tensor "input_ids" "input" : tensor<2x3xi64>
// CHECK: plan.tensor "w" "param" {trainable = true} : tensor<4xf32>
// CHECK: plan.tensor "grad:w" "grad" : tensor<4xf32>
// CHECK: plan.tensor "w.exp_avg" "optimizer_state" : tensor<4xf32>
// CHECK: plan.tensor "x" "activation" : tensor<4xf32>
