// Every verifier of the graph dialect, one case each.
// RUN: slapo-opt %s -split-input-file -verify-diagnostics

graph.model @m(%x: tensor<?x?x8xf32>, %w: tensor<4x6xf32>) -> tensor<?x?x4xf32> {
  // expected-error @+1 {{'graph.linear' op input has 8 features but the weight [4, 6] ([out, in]) expects 6}}
  %0 = graph.linear %x, %w : tensor<?x?x8xf32>, tensor<4x6xf32>
  graph.output %0 : tensor<?x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x?x6xf32>, %w: tensor<8x6xf32>) -> tensor<?x?x6xf32> {
  // expected-error @+1 {{'graph.linear' op input has 6 features but the weight [8, 6] ([in, out]) expects 8}}
  %0 = graph.linear %x, %w in_out : tensor<?x?x6xf32>, tensor<8x6xf32>
  graph.output %0 : tensor<?x?x6xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<5xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'graph.linear' op bias has 5 elements but the layer has 4 output features}}
  %0 = graph.linear %x, %w, %b : tensor<?x8xf32>, tensor<4x8xf32>, tensor<5xf32>
  graph.output %0 : tensor<?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>, %w: tensor<4x8x1xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'graph.linear' op weight must have rank 2, got 3 ([4, 8, 1])}}
  %0 = graph.linear %x, %w : tensor<?x8xf32>, tensor<4x8x1xf32>
  graph.output %0 : tensor<?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>, %w: tensor<4x8xbf16>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'graph.linear' op weight has element type 'bf16' but input has 'f32'}}
  %0 = graph.linear %x, %w : tensor<?x8xf32>, tensor<4x8xbf16>
  graph.output %0 : tensor<?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x8xi32>, %w: tensor<4x8xi32>) -> tensor<?x4xi32> {
  // expected-error @+1 {{'graph.linear' op operand #0 must be ranked tensor of floating-point values}}
  %0 = "graph.linear"(%x, %w) : (tensor<?x8xi32>, tensor<4x8xi32>) -> tensor<?x4xi32>
  graph.output %0 : tensor<?x4xi32>
}

// -----

graph.model @m(%a: tensor<2x3x4xf32>, %b: tensor<2x5x6xf32>) -> tensor<2x3x6xf32> {
  // expected-error @+1 {{'graph.matmul' op contracting dimensions differ: lhs [2, 3, 4] and rhs [2, 5, 6]}}
  %0 = graph.matmul %a, %b : tensor<2x3x4xf32>, tensor<2x5x6xf32>
  graph.output %0 : tensor<2x3x6xf32>
}

// -----

graph.model @m(%a: tensor<2x3x4xf32>, %b: tensor<3x4x6xf32>) -> tensor<2x3x6xf32> {
  // expected-error @+1 {{'graph.matmul' op batch dimension 0 differs: 2 vs 3}}
  %0 = graph.matmul %a, %b : tensor<2x3x4xf32>, tensor<3x4x6xf32>
  graph.output %0 : tensor<2x3x6xf32>
}

// -----

graph.model @m(%a: tensor<3x4xf32>, %b: tensor<2x4x6xf32>) -> tensor<3x6xf32> {
  // expected-error @+1 {{'graph.matmul' op operands must have the same rank >= 2, got [3, 4] and [2, 4, 6]}}
  %0 = graph.matmul %a, %b : tensor<3x4xf32>, tensor<2x4x6xf32>
  graph.output %0 : tensor<3x6xf32>
}

// -----

graph.model @m(%ids: tensor<?x?xi64>, %t: tensor<16xf32>) -> tensor<?x?x16xf32> {
  // expected-error @+1 {{'graph.embedding' op table must have rank 2, got 1 ([16])}}
  %0 = graph.embedding %ids, %t : tensor<?x?xi64>, tensor<16xf32>
  graph.output %0 : tensor<?x?x16xf32>
}

// -----

graph.model @m(%ids: tensor<?x?xf32>, %t: tensor<16x4xf32>) -> tensor<?x?x4xf32> {
  // expected-error @+1 {{'graph.embedding' op operand #0 must be ranked tensor of signless integer values}}
  %0 = graph.embedding %ids, %t : tensor<?x?xf32>, tensor<16x4xf32>
  graph.output %0 : tensor<?x?x4xf32>
}

// -----

graph.model @m(%ids: tensor<?xi64>) -> tensor<?xi64> {
  // expected-error @+1 {{'graph.position_ids' op ids must have rank 2, got 1 ([?])}}
  %0 = graph.position_ids %ids : tensor<?xi64>
  graph.output %0 : tensor<?xi64>
}

// -----

graph.model @m(%ids: tensor<?x?xi64>) -> tensor<?x?xi64> {
  // expected-error @+1 {{'graph.position_ids' op offset must be non-negative, got -1}}
  %0 = graph.position_ids %ids {offset = -1} : tensor<?x?xi64>
  graph.output %0 : tensor<?x?xi64>
}

// -----

graph.model @m(%x: tensor<?x8xf32>, %g: tensor<6xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.layer_norm' op gamma has 6 elements but the input has 8 features}}
  %0 = graph.layer_norm %x, %g, %b {epsilon = 1.0e-5 : f64} : tensor<?x8xf32>, tensor<6xf32>, tensor<8xf32>
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>, %g: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.layer_norm' op takes gamma and beta together or neither, got 1 affine operands}}
  %0 = graph.layer_norm %x, %g {epsilon = 1.0e-5 : f64} : tensor<?x8xf32>, tensor<8xf32>
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.layer_norm' op epsilon must be positive}}
  %0 = graph.layer_norm %x {epsilon = 0.0 : f64} : tensor<?x8xf32>
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.layer_norm' op requires attribute 'epsilon'}}
  %0 = graph.layer_norm %x : tensor<?x8xf32>
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>, %w: tensor<8x1xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.rms_norm' op weight must have rank 1, got 2 ([8, 1])}}
  %0 = graph.rms_norm %x, %w {epsilon = 1.0e-6 : f64} : tensor<?x8xf32>, tensor<8x1xf32>
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.softmax' op axis 2 is out of range for rank 2}}
  %0 = graph.softmax %x {axis = 2} : tensor<?x8xf32>
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%q: tensor<?x6x?x4xf32>, %k: tensor<?x4x?x4xf32>, %v: tensor<?x4x?x4xf32>) -> tensor<?x6x?x4xf32> {
  // expected-error @+1 {{'graph.attention' op query heads (6) must be a static multiple of key/value heads (4)}}
  %0 = graph.attention %q, %k, %v causal {scale = 0.5 : f64} : tensor<?x6x?x4xf32>, tensor<?x4x?x4xf32>, tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x6x?x4xf32>
}

// -----

graph.model @m(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x4xf32>, %v: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.attention' op query head size 8 differs from key head size 4}}
  %0 = graph.attention %q, %k, %v causal {scale = 0.5 : f64} : tensor<?x4x?x8xf32>, tensor<?x4x?x4xf32>, tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%q: tensor<?x4x?x4xf32>, %k: tensor<?x4x?x4xf32>, %v: tensor<?x2x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.attention' op key [?, 4, ?, 4] and value [?, 2, ?, 4] must have the same heads and length}}
  %0 = graph.attention %q, %k, %v causal {scale = 0.5 : f64} : tensor<?x4x?x4xf32>, tensor<?x4x?x4xf32>, tensor<?x2x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%q: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.attention' op dropout must be in [0, 1), got 1}}
  %0 = graph.attention %q, %q, %q causal {scale = 0.5 : f64, dropout = 1.0 : f64} : tensor<?x4x?x4xf32>, tensor<?x4x?x4xf32>, tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%q: tensor<?x4x?xf32>, %k: tensor<?x4x?x2xf32>) -> tensor<?x4x?xf32> {
  // expected-error @+1 {{'graph.attention' op query must have rank 4, got 3 ([?, 4, ?])}}
  %0 = graph.attention %q, %k, %k {scale = 0.5 : f64} : tensor<?x4x?xf32>, tensor<?x4x?x2xf32>, tensor<?x4x?x2xf32>
  graph.output %0 : tensor<?x4x?xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x5xf32>) -> tensor<?x4x?x5xf32> {
  // expected-error @+1 {{'graph.rope' op head size must be static and even, got 5}}
  %0 = graph.rope %x {theta = 10000.0 : f64} : tensor<?x4x?x5xf32>
  graph.output %0 : tensor<?x4x?x5xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.rope' op theta must be positive}}
  %0 = graph.rope %x {theta = 0.0 : f64} : tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.rope' op unknown scaling 'yarn' (expected linear or llama3)}}
  %0 = graph.rope %x {theta = 10000.0 : f64, scaling = "yarn", factor = 4.0 : f64} : tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.rope' op scaling 'llama3' needs original_max_positions}}
  %0 = graph.rope %x {theta = 10000.0 : f64, scaling = "llama3", factor = 8.0 : f64, low_freq_factor = 1.0 : f64, high_freq_factor = 4.0 : f64} : tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.rope' op scaling 'linear' needs factor}}
  %0 = graph.rope %x {theta = 10000.0 : f64, scaling = "linear"} : tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.rope' op factor is given without a scaling}}
  %0 = graph.rope %x {theta = 10000.0 : f64, factor = 4.0 : f64} : tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.rope' op low_freq_factor is not a field of scaling 'linear'}}
  %0 = graph.rope %x {theta = 10000.0 : f64, scaling = "linear", factor = 4.0 : f64, low_freq_factor = 1.0 : f64} : tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.rope' op scaling factors must be positive, got 0.000000e+00}}
  %0 = graph.rope %x {theta = 10000.0 : f64, scaling = "linear", factor = 0.0 : f64} : tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.rope' op low_freq_factor (4.000000e+00) must be less than high_freq_factor (2.000000e+00)}}
  %0 = graph.rope %x {theta = 10000.0 : f64, scaling = "llama3", factor = 8.0 : f64, low_freq_factor = 4.0 : f64, high_freq_factor = 2.0 : f64, original_max_positions = 64} : tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.rope' op original_max_positions must be positive, got 0}}
  %0 = graph.rope %x {theta = 10000.0 : f64, scaling = "llama3", factor = 8.0 : f64, low_freq_factor = 1.0 : f64, high_freq_factor = 4.0 : f64, original_max_positions = 0} : tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x4x?x4xf32>) -> tensor<?x4x?x4xf32> {
  // expected-error @+1 {{'graph.rope' op attribute 'factor' failed to satisfy constraint: 64-bit float attribute}}
  %0 = graph.rope %x {theta = 10000.0 : f64, scaling = "linear", factor = 4 : i64} : tensor<?x4x?x4xf32>
  graph.output %0 : tensor<?x4x?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.dropout' op probability must be in [0, 1), got -5.000000e-01}}
  %0 = graph.dropout %x {probability = -0.5 : f64} : tensor<?x8xf32>
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xi32>) -> tensor<?x8xi32> {
  // expected-error @+1 {{'graph.gelu' op operand #0 must be ranked tensor of floating-point values}}
  %0 = "graph.gelu"(%x) : (tensor<?x8xi32>) -> tensor<?x8xi32>
  graph.output %0 : tensor<?x8xi32>
}

// -----

graph.model @m(%a: tensor<?x8xf32>, %b: tensor<6xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.add' op shapes [?, 8] and [6] do not broadcast}}
  %0 = graph.add %a, %b : tensor<?x8xf32>, tensor<6xf32>
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%a: tensor<?x8xf32>, %b: tensor<8xf16>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.mul' op rhs has element type 'f16' but lhs has 'f32'}}
  %0 = graph.mul %a, %b : tensor<?x8xf32>, tensor<8xf16>
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x?x8xf32>) -> tensor<?x?x3x3xf32> {
  // expected-error @+1 {{'graph.reshape' op cannot reshape [?, ?, 8] to [?, ?, 3, 3]: 8 elements per row become 9}}
  %0 = graph.reshape %x : tensor<?x?x8xf32> -> tensor<?x?x3x3xf32>
  graph.output %0 : tensor<?x?x3x3xf32>
}

// -----

graph.model @m(%x: tensor<?x?x8xf32>) -> tensor<?x8x?xf32> {
  // expected-error @+1 {{'graph.reshape' op dynamic dimensions must be the same leading prefix of both shapes, got [?, ?, 8] -> [?, 8, ?]}}
  %0 = graph.reshape %x : tensor<?x?x8xf32> -> tensor<?x8x?xf32>
  graph.output %0 : tensor<?x8x?xf32>
}

// -----

graph.model @m(%x: tensor<2x8xf32>) -> tensor<16xf16> {
  // expected-error @+1 {{'graph.reshape' op cannot change the element type from 'f32' to 'f16'}}
  %0 = graph.reshape %x : tensor<2x8xf32> -> tensor<16xf16>
  graph.output %0 : tensor<16xf16>
}

// -----

graph.model @m(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  // expected-error @+1 {{'graph.transpose' op permutation must list each axis 0..2 exactly once}}
  %0 = graph.transpose %x {permutation = array<i64: 0, 0, 1>} : tensor<2x3x4xf32>
  graph.output %0 : tensor<2x3x4xf32>
}

// -----

graph.model @m(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  // expected-error @+1 {{'graph.transpose' op permutation has 2 entries but the input has rank 3}}
  %0 = graph.transpose %x {permutation = array<i64: 1, 0>} : tensor<2x3x4xf32>
  graph.output %0 : tensor<2x3x4xf32>
}

// -----

graph.model @m(%x: tensor<?x12xf32>) -> tensor<?x6xf32> {
  // expected-error @+1 {{'graph.split' op sizes add up to 10 but axis 1 has 12}}
  %0:2 = graph.split %x {axis = 1 : i64, sizes = array<i64: 5, 5>} : tensor<?x12xf32>
  graph.output %0#0 : tensor<?x5xf32>
}

// -----

graph.model @m(%x: tensor<?x12xf32>) -> tensor<?x12xf32> {
  // expected-error @+1 {{'graph.split' op sizes must be a non-empty list of positive sizes}}
  %0:2 = graph.split %x {axis = 1 : i64, sizes = array<i64: 12, 0>} : tensor<?x12xf32>
  graph.output %0#0 : tensor<?x12xf32>
}

// -----

graph.model @m(%a: tensor<?x4xf32>, %b: tensor<?x4x1xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.concat' op input #1 has rank 3, expected 2}}
  %0 = graph.concat %a, %b {axis = 1 : i64} : tensor<?x4xf32>, tensor<?x4x1xf32>
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%a: tensor<2x4xf32>, %b: tensor<3x4xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'graph.concat' op input #1 [3, 4] differs from input #0 [2, 4] outside the concatenation axis}}
  %0 = graph.concat %a, %b {axis = 1 : i64} : tensor<2x4xf32>, tensor<3x4xf32>
  graph.output %0 : tensor<2x8xf32>
}

// -----

graph.model @m(%l: tensor<?x?x16xf32>, %t: tensor<?xi64>) -> tensor<f32> {
  // expected-error @+1 {{'graph.cross_entropy' op targets [?] must have the shape of logits [?, ?, 16] without the vocabulary axis}}
  %0 = graph.cross_entropy %l, %t : tensor<?x?x16xf32>, tensor<?xi64>
  graph.output %0 : tensor<f32>
}

// -----

graph.model @m(%l: tensor<2x3x16xf32>, %t: tensor<2x4xi64>) -> tensor<f32> {
  // expected-error @+1 {{'graph.cross_entropy' op targets [2, 4] do not match logits [2, 3, 16]}}
  %0 = graph.cross_entropy %l, %t : tensor<2x3x16xf32>, tensor<2x4xi64>
  graph.output %0 : tensor<f32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'graph.param' op parameter shape must be static, got [?, 8]}}
    %w = graph.param @weight {init = #graph.init<zeros>, trainable = true} : tensor<?x8xf32>
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'graph.param' op name 'w.x' must be one non-empty path component (no '.')}}
    %w = graph.param @"w.x" {init = #graph.init<zeros>, trainable = true} : tensor<8xf32>
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'graph.param' op parameter element type must be a float, got 'i32'}}
    %w = graph.param @weight {init = #graph.init<zeros>, trainable = true} : tensor<8xi32>
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %0 : tensor<?x8xf32>
}

// -----

// expected-error @+1 {{'graph.param' op expects parent op to be one of 'graph.module, graph.model'}}
%w = graph.param @weight {init = #graph.init<zeros>, trainable = true} : tensor<8xf32>

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{normal initializer needs std > 0, got 0}}
    %w = graph.param @weight {init = #graph.init<normal, std = 0.0>, trainable = true} : tensor<8xf32>
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{unknown initializer 'gaussian', expected zeros, ones, normal or uniform}}
    %w = graph.param @weight {init = #graph.init<gaussian>, trainable = true} : tensor<8xf32>
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-note @+1 {{first defined here}}
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    graph.output %y : tensor<?x8xf32>
  }
  // expected-error @+1 {{'graph.module' op path 'a' is already taken}}
  %1 = graph.module @a(%y = %0) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %1 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'graph.module' op name '' must be one non-empty path component (no '.')}}
  %0 = graph.module @""(%y = %x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
  // expected-error @+2 {{'graph.output' op yields 'tensor<?x8xf32>' but the enclosing graph.module declares results 'tensor<?x4xf32>'}}
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>) -> tensor<?x4xf32> {
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %0 : tensor<?x4xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<f32> {
  // expected-error @+1 {{'graph.output' op yields 'tensor<?x8xf32>' but the enclosing graph.model declares results 'tensor<f32>'}}
  graph.output %x : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{custom op 'graph.module' module binds 1 values but its type has 2 inputs}}
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> {
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'graph.param_ref' op refers to 'b.weight', which is not a parameter of model @m}}
    %w = graph.param_ref "b.weight" : tensor<8xf32>
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    %w = graph.param @weight {init = #graph.init<ones>, trainable = true} : tensor<8xf32>
    graph.output %y : tensor<?x8xf32>
  }
  %1 = graph.module @b(%y = %0) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'graph.param_ref' op has type 'tensor<4xf32>' but the parameter 'a.weight' has type 'tensor<8xf32>'}}
    %w = graph.param_ref "a.weight" : tensor<4xf32>
    graph.output %y : tensor<?x8xf32>
  }
  graph.output %1 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-note @+1 {{required by region isolation constraints}}
  %0 = graph.module @a(%y = %x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{using value defined outside the region}}
    %z = graph.relu %x : tensor<?x8xf32>
    graph.output %z : tensor<?x8xf32>
  }
  graph.output %0 : tensor<?x8xf32>
}

// -----

graph.model @m(%x: tensor<2x3x4xf32>) -> tensor<3x4xf32> {
  // expected-error @+1 {{'graph.sum_to' op cannot sum [2, 3, 4] to [5, 4]: it does not broadcast back}}
  %0 = graph.sum_to %x : tensor<2x3x4xf32> -> tensor<5x4xf32>
  graph.output %0 : tensor<5x4xf32>
}

// -----

graph.model @m(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'graph.gradient' op first operand must be a graph.param}}
  graph.gradient %x, %x : tensor<4xf32>
  graph.output %x : tensor<4xf32>
}

// -----

graph.model @m(%x: tensor<4xf32>) -> tensor<4xf32> {
  %w = graph.param @w {init = #graph.init<zeros>, trainable = true} : tensor<4xf32>
  // expected-error @+1 {{'graph.adamw_update' op betas must be in [0, 1)}}
  graph.adamw_update %w, %x {beta1 = 1.0 : f64, beta2 = 0.999 : f64, epsilon = 1.0e-8 : f64, weight_decay = 0.0 : f64} : tensor<4xf32>
  graph.output %x : tensor<4xf32>
}

// -----

graph.model @m(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'graph.activation_grad' op unknown activation 'tanh', expected relu, silu, gelu or gelu_tanh}}
  %0 = graph.activation_grad %x, %x {activation = "tanh"} : tensor<4xf32>, tensor<4xf32>
  graph.output %0 : tensor<4xf32>
}

// -----

graph.model @m(%x: tensor<4x8xf32>, %g: tensor<4x6xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'graph.layer_norm_grad' op grad type 'tensor<4x6xf32>' must equal the input type 'tensor<4x8xf32>'}}
  %0 = graph.layer_norm_grad %x, %g {epsilon = 1.0e-5 : f64} : tensor<4x8xf32>, tensor<4x6xf32>
  graph.output %0 : tensor<4x8xf32>
}

// -----

graph.model @m(%x: tensor<4x8xf32>, %g: tensor<6xf32>) -> tensor<8x6xf32> {
  // expected-error @+1 {{'graph.linear_grad_weight' op input [4, 8] and grad [6] must have the same rank >= 1}}
  %0 = graph.linear_grad_weight %x, %g : tensor<4x8xf32>, tensor<6xf32>
  graph.output %0 : tensor<8x6xf32>
}

// -----

graph.model @m(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'graph.cast' op casts 'f32' to itself: drop the cast}}
  %0 = graph.cast %x : tensor<4x8xf32> to f32
  graph.output %0 : tensor<4x8xf32>
}

// -----

graph.model @m(%x: tensor<4x8xf32>) -> tensor<4x8xf64> {
  // expected-error @+1 {{'graph.cast' op converts between f32, bf16 and f16, got 'f32' to 'f64'}}
  %0 = graph.cast %x : tensor<4x8xf32> to f64
  graph.output %0 : tensor<4x8xf64>
}

// -----

graph.model @m(%x: tensor<4x8xi64>) -> tensor<4x8xbf16> {
  // expected-error @+1 {{'graph.cast' op converts between f32, bf16 and f16, got 'i64' to 'bf16'}}
  %0 = graph.cast %x : tensor<4x8xi64> to bf16
  graph.output %0 : tensor<4x8xbf16>
}

// -----

graph.model @m(%x: tensor<4x8xf32>) -> tensor<4x8xi32> {
  // expected-error @+1 {{'graph.cast' op attribute 'to' failed to satisfy constraint: type attribute of floating-point}}
  %0 = graph.cast %x : tensor<4x8xf32> to i32
  graph.output %0 : tensor<4x8xi32>
}

// -----

// The config's sizes are checked where the model is: a hand-edited zero is
// refused, not compiled.
// expected-error @+1 {{'graph.model' op config 'num_heads' must be a positive integer, got 0 : i64}}
graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> attributes {config = {num_heads = 0 : i64, num_kv_heads = 4 : i64}} {
  graph.output %x : tensor<?x8xf32>
}

// -----

// expected-error @+1 {{'graph.model' op config 'num_kv_heads' (3) does not divide 'num_heads' (4)}}
graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> attributes {config = {num_heads = 4 : i64, num_kv_heads = 3 : i64}} {
  graph.output %x : tensor<?x8xf32>
}

// -----

// The config's sizes are checked against the parameters that carry them.
// The token embedding (the graph.embedding of the token ids) has
// `vocab_size` rows, found by what it reads, through the module hierarchy.
// expected-error @+1 {{'graph.model' op parameter 'transformer.wte.weight' of shape [250, 8] has 250 rows but config 'vocab_size' is 256}}
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<f32> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64}} {
  %h = graph.module @transformer(%x = %ids) : (tensor<?x?xi64>) -> tensor<?x?x8xf32> {
    %e = graph.module @wte(%y = %x) : (tensor<?x?xi64>) -> tensor<?x?x8xf32> {
      %w = graph.param @weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<250x8xf32>
      %0 = graph.embedding %y, %w : tensor<?x?xi64>, tensor<250x8xf32>
      graph.output %0 : tensor<?x?x8xf32>
    }
    graph.output %e : tensor<?x?x8xf32>
  }
  %logits = graph.module @lm_head(%x = %h) : (tensor<?x?x8xf32>) -> tensor<?x?x250xf32> {
    %w = graph.param_ref "transformer.wte.weight" : tensor<250x8xf32>
    %0 = graph.linear %x, %w : tensor<?x?x8xf32>, tensor<250x8xf32>
    graph.output %0 : tensor<?x?x250xf32>
  }
  %loss = graph.cross_entropy %logits, %targets : tensor<?x?x250xf32>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}

// -----

// ... and `hidden_size` columns (seen through graph-autocast's cast) ...
// expected-error @+1 {{'graph.model' op parameter 'model.embed_tokens.weight' of shape [256, 6] has 6 columns but config 'hidden_size' is 8}}
graph.model @llama(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x6xbf16> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64}} {
  %w = graph.param @model.embed_tokens.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<256x6xf32>
  %w16 = graph.cast %w : tensor<256x6xf32> to bf16
  %0 = graph.embedding %ids, %w16 : tensor<?x?xi64>, tensor<256x6xbf16>
  graph.output %0 : tensor<?x?x6xbf16>
}

// -----

// ... unless a graph.linear projects its rows to `hidden_size` (OPT's
// project_in from word_embed_proj_dim), which this one does not.
// expected-error @+1 {{'graph.model' op parameter 'model.decoder.embed_tokens.weight' of shape [256, 4] has 4 columns but config 'hidden_size' is 8}}
graph.model @opt(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x6xf32> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64}} {
  %w = graph.param @model.decoder.embed_tokens.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<256x4xf32>
  %p = graph.param @model.decoder.project_in.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<6x4xf32>
  %0 = graph.embedding %ids, %w : tensor<?x?xi64>, tensor<256x4xf32>
  %1 = graph.linear %0, %p : tensor<?x?x4xf32>, tensor<6x4xf32>
  graph.output %1 : tensor<?x?x6xf32>
}

// -----

// The position embedding (the graph.embedding of graph.position_ids) has
// `max_positions` rows ...
// expected-error @+1 {{'graph.model' op parameter 'transformer.wpe.weight' of shape [32, 8] has 32 rows but config 'max_positions' is 16}}
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x8xf32> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64, max_positions = 16 : i64}} {
  %w = graph.param @transformer.wpe.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<32x8xf32>
  %p = graph.position_ids %ids : tensor<?x?xi64>
  %0 = graph.embedding %p, %w : tensor<?x?xi64>, tensor<32x8xf32>
  graph.output %0 : tensor<?x?x8xf32>
}

// -----

// ... plus the offset of the positions (OPT's 2) ...
// expected-error @+1 {{'graph.model' op parameter 'model.decoder.embed_positions.weight' of shape [16, 8] has 16 rows but config 'max_positions' is 16, 18 rows with the position offset 2}}
graph.model @opt(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x8xf32> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64, max_positions = 16 : i64}} {
  %w = graph.param @model.decoder.embed_positions.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<16x8xf32>
  %p = graph.position_ids %ids {offset = 2} : tensor<?x?xi64>
  %0 = graph.embedding %p, %w : tensor<?x?xi64>, tensor<16x8xf32>
  graph.output %0 : tensor<?x?x8xf32>
}

// -----

// ... and `hidden_size` columns.
// expected-error @+1 {{'graph.model' op parameter 'transformer.wpe.weight' of shape [16, 4] has 4 columns but config 'hidden_size' is 8}}
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x4xf32> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64, max_positions = 16 : i64}} {
  %w = graph.param @transformer.wpe.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<16x4xf32>
  %p = graph.position_ids %ids : tensor<?x?xi64>
  %0 = graph.embedding %p, %w : tensor<?x?xi64>, tensor<16x4xf32>
  graph.output %0 : tensor<?x?x4xf32>
}

// -----

// An LM head of its own (untied) has `vocab_size` outputs too.
// expected-error @+1 {{'graph.model' op parameter 'lm_head.weight' of shape [250, 8] has 250 rows but config 'vocab_size' is 256}}
graph.model @llama(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<f32> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64}} {
  %e = graph.param @model.embed_tokens.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<256x8xf32>
  %w = graph.param @lm_head.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<250x8xf32>
  %0 = graph.embedding %ids, %e : tensor<?x?xi64>, tensor<256x8xf32>
  %1 = graph.linear %0, %w : tensor<?x?x8xf32>, tensor<250x8xf32>
  %loss = graph.cross_entropy %1, %targets : tensor<?x?x250xf32>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}

// -----

// A table that is no parameter is checked too, and pointed at.
// expected-error @+1 {{'graph.model' op the table [250, 8] of graph.embedding has 250 rows but config 'vocab_size' is 256}}
graph.model @m(%ids: tensor<?x?xi64>, %table: tensor<250x8xf32>) -> tensor<?x?x8xf32> attributes {config = {vocab_size = 256 : i64}} {
  // expected-note @+1 {{read here}}
  %0 = graph.embedding %ids, %table : tensor<?x?xi64>, tensor<250x8xf32>
  graph.output %0 : tensor<?x?x8xf32>
}

// -----

// After graph-partition-tensor-parallel (the model's `tp`) a vocab-parallel
// table holds one rank's rows: 253 tokens at tp 2 are 127 a rank, the last
// rank's last row padding ...
// expected-error @+1 {{'graph.model' op parameter 'transformer.wte.weight' of shape [126, 8] has 126 rows but config 'vocab_size' is 253, 127 a rank at tp 2 with padding}}
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x8xf32> attributes {config = {vocab_size = 253 : i64, hidden_size = 8 : i64}, tp = 2 : i64} {
  %w = graph.param @transformer.wte.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 0 : i64, parts = 1 : i64, size = 253 : i64}, trainable = true} : tensor<126x8xf32>
  %0 = graph.embedding %ids, %w {vocab_parallel = 253 : i64} : tensor<?x?xi64>, tensor<126x8xf32>
  graph.output %0 : tensor<?x?x8xf32>
}

// -----

// ... whose shard keeps the whole size, the config's ...
// expected-error @+1 {{'graph.model' op parameter 'transformer.wte.weight' of shape [127, 8] holds 127 rows a rank at tp 2 of config 'vocab_size' 253, but its shard says the whole size is 254}}
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x8xf32> attributes {config = {vocab_size = 253 : i64, hidden_size = 8 : i64}, tp = 2 : i64} {
  %w = graph.param @transformer.wte.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 0 : i64, parts = 1 : i64, size = 254 : i64}, trainable = true} : tensor<127x8xf32>
  %0 = graph.embedding %ids, %w {vocab_parallel = 253 : i64} : tensor<?x?xi64>, tensor<127x8xf32>
  graph.output %0 : tensor<?x?x8xf32>
}

// -----

// expected-error @+1 {{'graph.model' op parameter 'transformer.wte.weight' of shape [127, 8] holds 127 rows a rank at tp 2 of config 'vocab_size' 253, but its shard does not say the whole size (size = 253)}}
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x8xf32> attributes {config = {vocab_size = 253 : i64, hidden_size = 8 : i64}, tp = 2 : i64} {
  %w = graph.param @transformer.wte.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 0 : i64, parts = 1 : i64}, trainable = true} : tensor<127x8xf32>
  %0 = graph.embedding %ids, %w {vocab_parallel = 253 : i64} : tensor<?x?xi64>, tensor<127x8xf32>
  graph.output %0 : tensor<?x?x8xf32>
}

// -----

// ... and a vocab-parallel op masks the config's vocabulary.
// expected-error @+1 {{'graph.model' op graph.cross_entropy is vocab-parallel over 250 tokens but config 'vocab_size' is 253}}
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<f32> attributes {config = {vocab_size = 253 : i64, hidden_size = 8 : i64}, tp = 2 : i64} {
  %w = graph.param @transformer.wte.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 0 : i64, parts = 1 : i64, size = 253 : i64}, trainable = true} : tensor<127x8xf32>
  %0 = graph.embedding %ids, %w {vocab_parallel = 253 : i64} : tensor<?x?xi64>, tensor<127x8xf32>
  %1 = graph.linear %0, %w : tensor<?x?x8xf32>, tensor<127x8xf32>
  %loss = graph.cross_entropy %1, %targets {vocab_parallel = 250 : i64} : tensor<?x?x127xf32>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}

// -----

// A split hidden axis is divided exactly: 8 columns at tp 2 are 4 a rank.
// expected-error @+1 {{'graph.model' op parameter 'transformer.wte.weight' of shape [256, 8] has 8 columns but config 'hidden_size' is 8, 4 a rank at tp 2}}
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x8xf32> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64}, tp = 2 : i64} {
  %w = graph.param @transformer.wte.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 1 : i64, parts = 1 : i64}, trainable = true} : tensor<256x8xf32>
  %0 = graph.embedding %ids, %w : tensor<?x?xi64>, tensor<256x8xf32>
  graph.output %0 : tensor<?x?x8xf32>
}

// -----

// expected-error @+1 {{'graph.model' op attribute 'tp' must be a positive integer (the tensor-parallel degree), got 0 : i64}}
graph.model @m(%x: tensor<?x8xf32>) -> tensor<?x8xf32> attributes {config = {vocab_size = 256 : i64}, tp = 0 : i64} {
  graph.output %x : tensor<?x8xf32>
}

// -----

// Only a vocabulary is padded: a split hidden axis divides by tp.
// expected-error @+1 {{'graph.model' op parameter 'transformer.wte.weight' of shape [256, 2] is split on axis 1 over tp 4, which does not divide config 'hidden_size' 6 (only the rows of a vocab-parallel table or logits are padded)}}
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x2xf32> attributes {config = {vocab_size = 256 : i64, hidden_size = 6 : i64}, tp = 4 : i64} {
  %w = graph.param @transformer.wte.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 1 : i64, parts = 1 : i64}, trainable = true} : tensor<256x2xf32>
  %0 = graph.embedding %ids, %w : tensor<?x?xi64>, tensor<256x2xf32>
  graph.output %0 : tensor<?x?x2xf32>
}

// -----

// expected-error @+1 {{'graph.model' op graph.embedding is vocab-parallel over 17 rows but config 'max_positions' is 16, 18 rows with the position offset 2}}
graph.model @opt(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x8xf32> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64, max_positions = 16 : i64}, tp = 2 : i64} {
  %w = graph.param @model.decoder.embed_positions.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 0 : i64, parts = 1 : i64}, trainable = true} : tensor<9x8xf32>
  %p = graph.position_ids %ids {offset = 2} : tensor<?x?xi64>
  %0 = graph.embedding %p, %w {vocab_parallel = 17 : i64} : tensor<?x?xi64>, tensor<9x8xf32>
  graph.output %0 : tensor<?x?x8xf32>
}
