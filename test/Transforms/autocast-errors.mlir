// What graph-autocast refuses.
// RUN: slapo-opt %s -split-input-file -graph-autocast -verify-diagnostics
// RUN: %expect-exit 1 slapo-opt %s -split-input-file -graph-autocast=precision=fp8 2>&1 | FileCheck %s --check-prefix=PRECISION
// PRECISION: error: graph-autocast: unknown precision 'fp8', expected bf16 or f16

// expected-error @+1 {{'graph.model' op has graph.module ops left: run graph-flatten before graph-autocast}}
graph.model @nested(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.module @embed(%i = %ids) : (tensor<2x3xi64>) -> tensor<2x3x4xf32> {
    %w = graph.param @weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<8x4xf32>
    %e = graph.embedding %i, %w : tensor<2x3xi64>, tensor<8x4xf32>
    graph.output %e : tensor<2x3x4xf32>
  }
  %l = graph.cross_entropy %x, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// expected-error @+1 {{'graph.model' op already has a backward pass: run graph-autocast before graph-generate-backward}}
graph.model @backward(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %w = graph.param @w {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x4xf32>
  %l = graph.cross_entropy %w, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  %g = graph.cross_entropy_grad %w, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.gradient %w, %g : tensor<2x3x4xf32>
  graph.output %l : tensor<f32>
}

// -----

graph.model @f64(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %w = graph.param @w {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x4xf64>
  // expected-error @+1 {{'graph.relu' op has an operand of element type 'f64': graph-autocast takes f32 models}}
  %r = graph.relu %w : tensor<2x3x4xf64>
  %l = graph.cross_entropy %r, %t : tensor<2x3x4xf64>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

graph.model @unknown(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  // expected-error @+1 {{'graph.zeros' op has no graph-autocast rule: add it to the table in lib/Transforms/Autocast.cpp}}
  %z = graph.zeros : tensor<2x3x4xf32>
  %l = graph.cross_entropy %z, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}
