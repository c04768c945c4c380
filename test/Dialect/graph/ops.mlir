// Every graph op parses, verifies, prints, and parses again to the same text,
// in the custom and in the generic form.
// RUN: slapo-opt %s | slapo-opt | FileCheck %s
// RUN: slapo-opt %s --mlir-print-op-generic | slapo-opt | FileCheck %s

// CHECK-LABEL: graph.model @everything(
// CHECK-SAME:    %[[IDS:.*]]: tensor<?x?xi64>, %[[TGT:.*]]: tensor<?x?xi64>) -> tensor<f32>
// CHECK-SAME:    attributes {config = {model_type = "test"}}
graph.model @everything(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<f32>
    attributes {config = {model_type = "test"}} {
  // CHECK: %[[EMB:.*]] = graph.module @embed(%[[A:.*]] = %[[IDS]]) : (tensor<?x?xi64>) -> tensor<?x?x8xf32> {
  %h = graph.module @embed(%x = %ids) : (tensor<?x?xi64>) -> tensor<?x?x8xf32> {
    // CHECK: %[[W:.*]] = graph.param @weight {init = #graph.init<normal, std = 2.000000e-02>, trainable = true} : tensor<16x8xf32>
    %w = graph.param @weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<16x8xf32>
    // CHECK: %[[P:.*]] = graph.param @positions {init = #graph.init<zeros>, trainable = false} : tensor<10x8xf32>
    %p = graph.param @positions {init = #graph.init<zeros>, trainable = false} : tensor<10x8xf32>
    // CHECK: graph.embedding %[[A]], %[[W]] : tensor<?x?xi64>, tensor<16x8xf32>
    %e = graph.embedding %x, %w : tensor<?x?xi64>, tensor<16x8xf32>
    // CHECK: %[[POS:.*]] = graph.position_ids %[[A]] {offset = 2 : i64} : tensor<?x?xi64>
    %pos = graph.position_ids %x {offset = 2} : tensor<?x?xi64>
    %pe = graph.embedding %pos, %p : tensor<?x?xi64>, tensor<10x8xf32>
    // CHECK: graph.add %{{.*}}, %{{.*}} : tensor<?x?x8xf32>, tensor<?x?x8xf32>
    %s = graph.add %e, %pe : tensor<?x?x8xf32>, tensor<?x?x8xf32>
    // CHECK: graph.output %{{.*}} : tensor<?x?x8xf32>
    graph.output %s : tensor<?x?x8xf32>
  }
  %blk = graph.module @block(%x = %h) : (tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
    %g = graph.param @g {init = #graph.init<ones>, trainable = true} : tensor<8xf32>
    %b = graph.param @b {init = #graph.init<zeros>, trainable = true} : tensor<8xf32>
    // CHECK: graph.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : tensor<?x?x8xf32>, tensor<8xf32>, tensor<8xf32>
    %ln = graph.layer_norm %x, %g, %b {epsilon = 1.0e-5 : f64} : tensor<?x?x8xf32>, tensor<8xf32>, tensor<8xf32>
    // CHECK: graph.layer_norm %{{.*}} {epsilon = 1.000000e-05 : f64} : tensor<?x?x8xf32>
    %ln2 = graph.layer_norm %x {epsilon = 1.0e-5 : f64} : tensor<?x?x8xf32>
    // CHECK: graph.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : tensor<?x?x8xf32>, tensor<8xf32>
    %rms = graph.rms_norm %ln2, %g {epsilon = 1.0e-6 : f64} : tensor<?x?x8xf32>, tensor<8xf32>
    %wc = graph.param @w_conv {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<8x24xf32>
    %bc = graph.param @b_conv {init = #graph.init<zeros>, trainable = true} : tensor<24xf32>
    // CHECK: graph.linear %{{.*}}, %{{.*}}, %{{.*}} in_out : tensor<?x?x8xf32>, tensor<8x24xf32>, tensor<24xf32>
    %qkv = graph.linear %ln, %wc, %bc in_out : tensor<?x?x8xf32>, tensor<8x24xf32>, tensor<24xf32>
    // CHECK: %{{.*}}:3 = graph.split %{{.*}} {axis = 2 : i64, sizes = array<i64: 8, 8, 8>} : tensor<?x?x24xf32>
    %q, %k, %v = graph.split %qkv {axis = 2 : i64, sizes = array<i64: 8, 8, 8>} : tensor<?x?x24xf32>
    // CHECK: graph.reshape %{{.*}} : tensor<?x?x8xf32> -> tensor<?x?x4x2xf32>
    %q4 = graph.reshape %q : tensor<?x?x8xf32> -> tensor<?x?x4x2xf32>
    %k4 = graph.reshape %k : tensor<?x?x8xf32> -> tensor<?x?x2x4xf32>
    %v4 = graph.reshape %v : tensor<?x?x8xf32> -> tensor<?x?x2x4xf32>
    // CHECK: graph.transpose %{{.*}} {permutation = array<i64: 0, 2, 1, 3>} : tensor<?x?x4x2xf32>
    %qh = graph.transpose %q4 {permutation = array<i64: 0, 2, 1, 3>} : tensor<?x?x4x2xf32>
    %qq = graph.reshape %q : tensor<?x?x8xf32> -> tensor<?x?x2x4xf32>
    %qt = graph.transpose %qq {permutation = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x4xf32>
    %kt = graph.transpose %k4 {permutation = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x4xf32>
    %vt = graph.transpose %v4 {permutation = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x4xf32>
    // CHECK: graph.rope %{{.*}} {theta = 1.000000e+04 : f64} : tensor<?x2x?x4xf32>
    %qr = graph.rope %qt {theta = 10000.0 : f64} : tensor<?x2x?x4xf32>
    %kr = graph.rope %kt {theta = 10000.0 : f64} : tensor<?x2x?x4xf32>
    // CHECK: graph.rope %{{.*}} {factor = 4.000000e+00 : f64, scaling = "linear", theta = 1.000000e+04 : f64} : tensor<?x2x?x4xf32>
    %ql = graph.rope %qt {theta = 10000.0 : f64, scaling = "linear", factor = 4.0 : f64} : tensor<?x2x?x4xf32>
    // CHECK: graph.rope %{{.*}} inverse {factor = 3.200000e+01 : f64, high_freq_factor = 4.000000e+00 : f64, low_freq_factor = 1.000000e+00 : f64, original_max_positions = 8192 : i64, scaling = "llama3", theta = 5.000000e+05 : f64} : tensor<?x2x?x4xf32>
    %q3 = graph.rope %qt inverse {theta = 500000.0 : f64, scaling = "llama3", factor = 32.0 : f64, low_freq_factor = 1.0 : f64, high_freq_factor = 4.0 : f64, original_max_positions = 8192} : tensor<?x2x?x4xf32>
    // CHECK: graph.attention %{{.*}}, %{{.*}}, %{{.*}} causal {dropout = 1.000000e-01 : f64, scale = 5.000000e-01 : f64} : tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
    %att = graph.attention %qr, %kr, %vt causal {scale = 0.5 : f64, dropout = 0.1 : f64} : tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
    // Grouped-query attention: 4 query heads over 2 key/value heads.
    %k1 = graph.reshape %k : tensor<?x?x8xf32> -> tensor<?x?x2x4xf32>
    %q2 = graph.reshape %qkv : tensor<?x?x24xf32> -> tensor<?x?x6x4xf32>
    %q2t = graph.transpose %q2 {permutation = array<i64: 0, 2, 1, 3>} : tensor<?x?x6x4xf32>
    // CHECK: graph.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 5.000000e-01 : f64} : tensor<?x6x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
    %gqa = graph.attention %q2t, %kr, %vt {scale = 0.5 : f64} : tensor<?x6x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
    // CHECK: graph.matmul %{{.*}}, %{{.*}} transpose_b : tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
    %scores = graph.matmul %qr, %kr transpose_b : tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
    // CHECK: graph.softmax %{{.*}} : tensor<?x2x?x?xf32>
    %probs = graph.softmax %scores {axis = -1} : tensor<?x2x?x?xf32>
    // CHECK: graph.matmul %{{.*}}, %{{.*}} : tensor<?x2x?x?xf32>, tensor<?x2x?x4xf32>
    %ctx = graph.matmul %probs, %vt : tensor<?x2x?x?xf32>, tensor<?x2x?x4xf32>
    %back = graph.transpose %att {permutation = array<i64: 0, 2, 1, 3>} : tensor<?x2x?x4xf32>
    %merged = graph.reshape %back : tensor<?x?x2x4xf32> -> tensor<?x?x8xf32>
    // CHECK: graph.concat %{{.*}}, %{{.*}} {axis = 2 : i64} : tensor<?x?x8xf32>, tensor<?x?x8xf32>
    %cat = graph.concat %merged, %rms {axis = 2 : i64} : tensor<?x?x8xf32>, tensor<?x?x8xf32>
    %wl = graph.param @w_lin {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<8x16xf32>
    // CHECK: graph.linear %{{.*}}, %{{.*}} : tensor<?x?x16xf32>, tensor<8x16xf32>
    %lin = graph.linear %cat, %wl : tensor<?x?x16xf32>, tensor<8x16xf32>
    // CHECK: graph.gelu %{{.*}} tanh : tensor<?x?x8xf32>
    %g1 = graph.gelu %lin tanh : tensor<?x?x8xf32>
    // CHECK: graph.gelu %{{.*}} : tensor<?x?x8xf32>
    %g2 = graph.gelu %g1 : tensor<?x?x8xf32>
    // CHECK: graph.relu %{{.*}} : tensor<?x?x8xf32>
    %r = graph.relu %g2 : tensor<?x?x8xf32>
    // CHECK: graph.silu %{{.*}} : tensor<?x?x8xf32>
    %si = graph.silu %r : tensor<?x?x8xf32>
    // CHECK: graph.mul %{{.*}}, %{{.*}} : tensor<?x?x8xf32>, tensor<8xf32>
    %m = graph.mul %si, %g : tensor<?x?x8xf32>, tensor<8xf32>
    // CHECK: graph.scale %{{.*}} {factor = 1.250000e-01 : f64} : tensor<?x?x8xf32>
    %sc = graph.scale %m {factor = 0.125 : f64} : tensor<?x?x8xf32>
    // CHECK: graph.dropout %{{.*}} {probability = 1.000000e-01 : f64} : tensor<?x?x8xf32>
    %d = graph.dropout %sc {probability = 0.1 : f64} : tensor<?x?x8xf32>
    %out = graph.add %x, %d : tensor<?x?x8xf32>, tensor<?x?x8xf32>
    graph.output %out : tensor<?x?x8xf32>
  }
  %logits = graph.module @lm_head(%x = %blk) : (tensor<?x?x8xf32>) -> tensor<?x?x16xf32> {
    // CHECK: graph.param_ref "embed.weight" : tensor<16x8xf32>
    %w = graph.param_ref "embed.weight" : tensor<16x8xf32>
    %l = graph.linear %x, %w : tensor<?x?x8xf32>, tensor<16x8xf32>
    graph.output %l : tensor<?x?x16xf32>
  }
  // CHECK: graph.cross_entropy %{{.*}}, %[[TGT]] : tensor<?x?x16xf32>, tensor<?x?xi64>
  %loss = graph.cross_entropy %logits, %targets {ignore_index = -100} : tensor<?x?x16xf32>, tensor<?x?xi64>
  // CHECK: graph.output %{{.*}} : tensor<f32>
  graph.output %loss : tensor<f32>
}

// 16-bit tensors through the compute ops, and the casts between them.
// CHECK-LABEL: graph.model @casts(
graph.model @casts(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<f32> {
  %w = graph.param @w {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<16x8xf32>
  // CHECK: %[[W16:.*]] = graph.cast %{{.*}} : tensor<16x8xf32> to bf16
  %w16 = graph.cast %w : tensor<16x8xf32> to bf16
  // CHECK: graph.embedding %{{.*}}, %[[W16]] : tensor<?x?xi64>, tensor<16x8xbf16>
  %e = graph.embedding %ids, %w16 : tensor<?x?xi64>, tensor<16x8xbf16>
  // CHECK: graph.linear %{{.*}}, %[[W16]] in_out : tensor<?x?x16xbf16>, tensor<16x8xbf16>
  %l = graph.linear %e, %w16 : tensor<?x?x8xbf16>, tensor<16x8xbf16>
  %back = graph.linear %l, %w16 in_out : tensor<?x?x16xbf16>, tensor<16x8xbf16>
  // CHECK: graph.linear_grad_weight %{{.*}}, %{{.*}} : tensor<?x?x8xbf16>, tensor<?x?x16xbf16>
  %dw = graph.linear_grad_weight %e, %l : tensor<?x?x8xbf16>, tensor<?x?x16xbf16>
  // CHECK: graph.cast %{{.*}} : tensor<16x8xbf16> to f32
  %dw32 = graph.cast %dw : tensor<16x8xbf16> to f32
  // CHECK: graph.cast %{{.*}} : tensor<?x?x8xbf16> to f16
  %h = graph.cast %back : tensor<?x?x8xbf16> to f16
  // CHECK: graph.gelu %{{.*}} tanh : tensor<?x?x8xf16>
  %g = graph.gelu %h tanh : tensor<?x?x8xf16>
  %t = graph.transpose %g {permutation = array<i64: 1, 0, 2>} : tensor<?x?x8xf16>
  %l32 = graph.cast %l : tensor<?x?x16xbf16> to f32
  // CHECK: graph.cross_entropy %{{.*}}, %{{.*}} : tensor<?x?x16xf32>, tensor<?x?xi64>
  %loss = graph.cross_entropy %l32, %targets : tensor<?x?x16xf32>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}
