// The sharding rules (ShardingOpInterface, dialects/graph/GraphSharding.cpp),
// one family at a time: graph-test-sharding records each result's state.
// Parameters are frozen so that only the forward rules are under test
// (the gradient checks are test/Schedule/tp-errors.test's).
// RUN: slapo-opt %s -split-input-file -graph-test-sharding | FileCheck %s
// RUN: slapo-opt %S/Inputs/sharding-refusals.mlir -split-input-file -graph-test-sharding -verify-diagnostics

// Elementwise: a split passes through activations and scales; a partial sum
// passes through a scale (linear in its input).
// CHECK-LABEL: graph.model @elementwise
// CHECK: graph.relu %{{.*}} {sharding = ["split on axis 2"]}
// CHECK: graph.gelu %{{.*}} tanh {sharding = ["split on axis 2"]}
// CHECK: graph.scale %{{.*}} {factor = 2.000000e+00 : f64, sharding = ["split on axis 2"]}
// CHECK: graph.add %{{.*}}, %{{.*}} {sharding = ["split on axis 2"]}
// CHECK: graph.cross_entropy %{{.*}}, %{{.*}} {sharding = ["replicated"], vocab_parallel}
graph.model @elementwise(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %w = graph.param @w {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 2 : i64, parts = 1 : i64}} : tensor<2x3x8xf32>
  %a = graph.relu %w : tensor<2x3x8xf32>
  %b = graph.gelu %a tanh : tensor<2x3x8xf32>
  %c = graph.scale %b {factor = 2.0 : f64} : tensor<2x3x8xf32>
  %d = graph.add %c, %a : tensor<2x3x8xf32>, tensor<2x3x8xf32>
  %l = graph.cross_entropy %d, %t : tensor<2x3x8xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Linear: a weight split on its output axis (column-parallel) splits the
// last axis; split on its input axis (row-parallel) it makes a partial sum,
// which `sync forward=all_reduce` makes whole.
// CHECK-LABEL: graph.model @linear
// CHECK: graph.linear %{{.*}}, %{{.*}} {sharding = ["split on axis 2"]}
// CHECK: graph.linear %{{.*}}, %{{.*}} {sharding = ["a partial sum"]}
// CHECK: graph.sync %{{.*}} {backward = "identity", forward = "all_reduce", sharding = ["replicated"]}
graph.model @linear(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = false} : tensor<2x3x4xf32>
  %up = graph.param @up {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 0 : i64, parts = 1 : i64}} : tensor<8x4xf32>
  %down = graph.param @down {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 1 : i64, parts = 1 : i64}} : tensor<4x8xf32>
  %h = graph.linear %x, %up : tensor<2x3x4xf32>, tensor<8x4xf32>
  %y = graph.linear %h, %down : tensor<2x3x8xf32>, tensor<4x8xf32>
  %z = graph.sync %y {forward = "all_reduce", backward = "identity"} : tensor<2x3x4xf32>
  %l = graph.cross_entropy %z, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Attention: query, key and value split by heads (axis 1) give a result
// split by heads (and RoPE keeps a split by heads); a transpose moves the
// split axis with it.
// CHECK-LABEL: graph.model @attention
// CHECK: graph.rope %{{.*}} {sharding = ["split on axis 1"], theta = 1.000000e+04 : f64}
// CHECK: graph.attention %{{.*}}, %{{.*}}, %{{.*}} causal {{{.*}}sharding = ["split on axis 1"]}
// CHECK: graph.transpose %{{.*}} {permutation = array<i64: 0, 2, 1, 3>, sharding = ["split on axis 2"]}
// CHECK: graph.sync %{{.*}} {axis = 2 : i64, backward = "split", forward = "all_gather", sharding = ["replicated"]}
graph.model @attention(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %q = graph.param @q {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 1 : i64, parts = 1 : i64}} : tensor<2x4x3x2xf32>
  %k = graph.param @k {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 1 : i64, parts = 1 : i64}} : tensor<2x4x3x2xf32>
  %v = graph.param @v {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 1 : i64, parts = 1 : i64}} : tensor<2x4x3x2xf32>
  %qr = graph.rope %q {theta = 10000.0 : f64} : tensor<2x4x3x2xf32>
  %o = graph.attention %qr, %k, %v causal {scale = 0.5 : f64} : tensor<2x4x3x2xf32>, tensor<2x4x3x2xf32>, tensor<2x4x3x2xf32>
  %p = graph.transpose %o {permutation = array<i64: 0, 2, 1, 3>} : tensor<2x4x3x2xf32>
  %g = graph.sync %p {forward = "all_gather", backward = "split", axis = 2 : i64} : tensor<2x3x4x2xf32>
  %r = graph.reshape %g : tensor<2x3x4x2xf32> -> tensor<2x3x8xf32>
  %l = graph.cross_entropy %r, %t : tensor<2x3x8xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Embedding: a table split by rows (the vocabulary) gives partial sums and
// is vocab-parallel; split by columns it splits the hidden axis.
// CHECK-LABEL: graph.model @embedding
// CHECK: graph.embedding %{{.*}}, %{{.*}} {sharding = ["a partial sum"], vocab_parallel}
// CHECK: graph.embedding %{{.*}}, %{{.*}} {sharding = ["split on axis 2"]}
graph.model @embedding(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %rows = graph.param @rows {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 0 : i64, parts = 1 : i64}} : tensor<8x4xf32>
  %cols = graph.param @cols {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 1 : i64, parts = 1 : i64}} : tensor<8x4xf32>
  %a = graph.embedding %ids, %rows : tensor<2x3xi64>, tensor<8x4xf32>
  %b = graph.embedding %ids, %cols : tensor<2x3xi64>, tensor<8x4xf32>
  %c = graph.sync %a {forward = "all_reduce", backward = "identity"} : tensor<2x3x4xf32>
  %g = graph.sync %b {forward = "all_gather", backward = "split", axis = 2 : i64} : tensor<2x3x4xf32>
  %s = graph.add %c, %g : tensor<2x3x4xf32>, tensor<2x3x4xf32>
  %l = graph.cross_entropy %s, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Norms: an input split on an axis other than the normalised one stays
// split.
// CHECK-LABEL: graph.model @norm
// CHECK: graph.layer_norm %{{.*}} {epsilon = 1.000000e-05 : f64, sharding = ["split on axis 0"]}
// CHECK: graph.rms_norm %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64, sharding = ["split on axis 0"]}
graph.model @norm(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 0 : i64, parts = 1 : i64}} : tensor<2x3x4xf32>
  %g = graph.param @g {init = #graph.init<ones>, trainable = false} : tensor<4xf32>
  %a = graph.layer_norm %x {epsilon = 1.0e-5 : f64} : tensor<2x3x4xf32>
  %b = graph.rms_norm %a, %g {epsilon = 1.0e-5 : f64} : tensor<2x3x4xf32>, tensor<4xf32>
  %c = graph.sync %b {forward = "all_gather", backward = "split", axis = 0 : i64} : tensor<2x3x4xf32>
  %l = graph.cross_entropy %c, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Reductions: a softmax over an axis that is not split keeps the split; a
// cross-entropy over vocabulary-split logits is vocab-parallel and its loss
// whole.
// CHECK-LABEL: graph.model @reduction
// CHECK: graph.softmax %{{.*}} {axis = 1 : i64, sharding = ["split on axis 2"]}
// CHECK: graph.cross_entropy %{{.*}}, %{{.*}} {sharding = ["replicated"], vocab_parallel}
graph.model @reduction(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 2 : i64, parts = 1 : i64}} : tensor<2x3x8xf32>
  %s = graph.softmax %x {axis = 1 : i64} : tensor<2x3x8xf32>
  %l = graph.cross_entropy %s, %t : tensor<2x3x8xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}
