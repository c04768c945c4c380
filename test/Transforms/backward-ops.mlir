// The adjoint of every differentiable op: each case is a flat model whose
// trainable parameter reaches the loss through the op under test.
// RUN: slapo-opt %s -split-input-file -graph-generate-backward | FileCheck %s

// CHECK-LABEL: graph.model @relu
// CHECK:         %[[W:.*]] = graph.param @w
// CHECK:         %[[Y:.*]] = graph.relu %[[W]]
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad %[[Y]], %{{.*}} : tensor<2x3x4xf32>, tensor<2x3xi64>
// CHECK:         %[[DW:.*]] = graph.activation_grad %[[W]], %[[DY]] {activation = "relu"}
// CHECK:         graph.gradient %[[W]], %[[DW]] : tensor<2x3x4xf32>
graph.model @relu(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %w = graph.param @w {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x4xf32>
  %y = graph.relu %w : tensor<2x3x4xf32>
  %l = graph.cross_entropy %y, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// CHECK-LABEL: graph.model @activations
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad
// CHECK:         %[[D3:.*]] = graph.activation_grad %{{.*}}, %[[DY]] {activation = "gelu"}
// CHECK:         %[[D2:.*]] = graph.activation_grad %{{.*}}, %[[D3]] {activation = "gelu_tanh"}
// CHECK:         %[[D1:.*]] = graph.activation_grad %{{.*}}, %[[D2]] {activation = "silu"}
// CHECK:         graph.gradient %{{.*}}, %[[D1]]
graph.model @activations(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %w = graph.param @w {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x4xf32>
  %a = graph.silu %w : tensor<2x3x4xf32>
  %b = graph.gelu %a tanh : tensor<2x3x4xf32>
  %c = graph.gelu %b : tensor<2x3x4xf32>
  %l = graph.cross_entropy %c, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// nn.Linear ([out, in]) with bias: dx = dy W (W read as [in', out']),
// dW = linear_grad_weight(x, dy), db = dy summed over rows.
// CHECK-LABEL: graph.model @linear
// CHECK:         %[[X:.*]] = graph.param @x
// CHECK:         %[[W:.*]] = graph.param @w
// CHECK:         %[[B:.*]] = graph.param @b
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad
// CHECK:         %[[DX:.*]] = graph.linear %[[DY]], %[[W]] in_out : tensor<2x3x4xf32>, tensor<4x5xf32>
// CHECK:         %[[DW:.*]] = graph.linear_grad_weight %[[X]], %[[DY]] : tensor<2x3x5xf32>, tensor<2x3x4xf32>
// CHECK:         %[[DB:.*]] = graph.sum_to %[[DY]] : tensor<2x3x4xf32> -> tensor<4xf32>
// CHECK:         graph.gradient %[[X]], %[[DX]] : tensor<2x3x5xf32>
// CHECK:         graph.gradient %[[W]], %[[DW]] : tensor<4x5xf32>
// CHECK:         graph.gradient %[[B]], %[[DB]] : tensor<4xf32>
graph.model @linear(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x5xf32>
  %w = graph.param @w {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<4x5xf32>
  %b = graph.param @b {init = #graph.init<zeros>, trainable = true} : tensor<4xf32>
  %y = graph.linear %x, %w, %b : tensor<2x3x5xf32>, tensor<4x5xf32>, tensor<4xf32>
  %l = graph.cross_entropy %y, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// GPT-2 Conv1D ([in, out]) with a frozen input: dx = dy W^T is not built.
// CHECK-LABEL: graph.model @conv1d
// CHECK:         %[[W:.*]] = graph.param @w
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad
// CHECK-NOT:     graph.linear %[[DY]]
// CHECK:         %[[DW:.*]] = graph.linear_grad_weight %{{.*}}, %[[DY]] in_out : tensor<2x3x5xf32>, tensor<2x3x4xf32>
// CHECK-NEXT:    graph.gradient %[[W]], %[[DW]] : tensor<5x4xf32>
// CHECK-NOT:     graph.gradient
graph.model @conv1d(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = false} : tensor<2x3x5xf32>
  %w = graph.param @w {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<5x4xf32>
  %y = graph.linear %x, %w in_out : tensor<2x3x5xf32>, tensor<5x4xf32>
  %l = graph.cross_entropy %y, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// C = A B: dA = dC B^T, dB = A^T dC.
// CHECK-LABEL: graph.model @matmul
// CHECK:         %[[A:.*]] = graph.param @a
// CHECK:         %[[B:.*]] = graph.param @b
// CHECK:         %[[DC:.*]] = graph.cross_entropy_grad
// CHECK:         %[[DA:.*]] = graph.matmul %[[DC]], %[[B]] transpose_b : tensor<2x3x4xf32>, tensor<2x5x4xf32>
// CHECK:         %[[AT:.*]] = graph.transpose %[[A]] {permutation = array<i64: 0, 2, 1>}
// CHECK:         %[[DB:.*]] = graph.matmul %[[AT]], %[[DC]] : tensor<2x5x3xf32>, tensor<2x3x4xf32>
// CHECK:         graph.gradient %[[A]], %[[DA]]
// CHECK:         graph.gradient %[[B]], %[[DB]]
graph.model @matmul(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %a = graph.param @a {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x5xf32>
  %b = graph.param @b {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x5x4xf32>
  %c = graph.matmul %a, %b : tensor<2x3x5xf32>, tensor<2x5x4xf32>
  %l = graph.cross_entropy %c, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// C = A B^T: dA = dC B, dB = dC^T A.
// CHECK-LABEL: graph.model @matmul_transpose_b
// CHECK:         %[[A:.*]] = graph.param @a
// CHECK:         %[[B:.*]] = graph.param @b
// CHECK:         %[[DC:.*]] = graph.cross_entropy_grad
// CHECK:         %[[DA:.*]] = graph.matmul %[[DC]], %[[B]] : tensor<2x3x4xf32>, tensor<2x4x5xf32>
// CHECK:         %[[DCT:.*]] = graph.transpose %[[DC]] {permutation = array<i64: 0, 2, 1>}
// CHECK:         %[[DB:.*]] = graph.matmul %[[DCT]], %[[A]] : tensor<2x4x3xf32>, tensor<2x3x5xf32>
// CHECK:         graph.gradient %[[A]], %[[DA]]
// CHECK:         graph.gradient %[[B]], %[[DB]]
graph.model @matmul_transpose_b(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %a = graph.param @a {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x5xf32>
  %b = graph.param @b {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x4x5xf32>
  %c = graph.matmul %a, %b transpose_b : tensor<2x3x5xf32>, tensor<2x4x5xf32>
  %l = graph.cross_entropy %c, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Embedding: the table gradient scatter-adds rows; ids get none.
// CHECK-LABEL: graph.model @embedding
// CHECK:         %[[E:.*]] = graph.param @e
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad
// CHECK:         %[[DE:.*]] = graph.embedding_grad %{{.*}}, %[[DY]] {rows = 7 : i64} : tensor<2x3xi64>, tensor<2x3x4xf32>
// CHECK:         graph.gradient %[[E]], %[[DE]] : tensor<7x4xf32>
graph.model @embedding(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %e = graph.param @e {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<7x4xf32>
  %y = graph.embedding %ids, %e : tensor<2x3xi64>, tensor<7x4xf32>
  %l = graph.cross_entropy %y, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// CHECK-LABEL: graph.model @norms
// CHECK:         %[[X:.*]] = graph.param @x
// CHECK:         %[[G:.*]] = graph.param @g
// CHECK:         %[[B:.*]] = graph.param @b
// CHECK:         %[[R:.*]] = graph.param @r
// CHECK:         %[[LN:.*]] = graph.layer_norm %[[X]], %[[G]], %[[B]]
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad
// CHECK:         %[[DLN:[^,]*]], %[[DR:.*]] = graph.rms_norm_grad %[[LN]], %[[DY]], %[[R]] {epsilon = 9.9999999999999995E-7 : f64}
// CHECK:         %[[LNG:.*]]:3 = graph.layer_norm_grad %[[X]], %[[DLN]], %[[G]] {epsilon = 1.000000e-05 : f64}
// CHECK:         graph.gradient %[[X]], %[[LNG]]#0
// CHECK:         graph.gradient %[[G]], %[[LNG]]#1
// CHECK:         graph.gradient %[[B]], %[[LNG]]#2
// CHECK:         graph.gradient %[[R]], %[[DR]]
graph.model @norms(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x4xf32>
  %g = graph.param @g {init = #graph.init<ones>, trainable = true} : tensor<4xf32>
  %b = graph.param @b {init = #graph.init<zeros>, trainable = true} : tensor<4xf32>
  %r = graph.param @r {init = #graph.init<ones>, trainable = true} : tensor<4xf32>
  %y = graph.layer_norm %x, %g, %b {epsilon = 1.0e-5 : f64} : tensor<2x3x4xf32>, tensor<4xf32>, tensor<4xf32>
  %z = graph.rms_norm %y, %r {epsilon = 1.0e-6 : f64} : tensor<2x3x4xf32>, tensor<4xf32>
  %l = graph.cross_entropy %z, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// A layer norm without gamma and beta has only the input gradient.
// CHECK-LABEL: graph.model @layer_norm_plain
// CHECK:         %[[G:.*]] = graph.layer_norm_grad %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : tensor<2x3x4xf32>, tensor<2x3x4xf32>
// CHECK:         graph.gradient %{{.*}}, %[[G]] :
graph.model @layer_norm_plain(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x4xf32>
  %y = graph.layer_norm %x {epsilon = 1.0e-5 : f64} : tensor<2x3x4xf32>
  %l = graph.cross_entropy %y, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Softmax's adjoint reads its output; scale's is a scale.
// CHECK-LABEL: graph.model @softmax_scale
// CHECK:         %[[S:.*]] = graph.scale %{{.*}} {factor = 5.000000e-01 : f64}
// CHECK:         %[[P:.*]] = graph.softmax %[[S]]
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad %[[P]]
// CHECK:         %[[DS:.*]] = graph.softmax_grad %[[P]], %[[DY]]
// CHECK:         %[[DX:.*]] = graph.scale %[[DS]] {factor = 5.000000e-01 : f64}
// CHECK:         graph.gradient %{{.*}}, %[[DX]]
graph.model @softmax_scale(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x4xf32>
  %s = graph.scale %x {factor = 0.5 : f64} : tensor<2x3x4xf32>
  %p = graph.softmax %s : tensor<2x3x4xf32>
  %l = graph.cross_entropy %p, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Grouped-query attention with RoPE and dropout: the backward attention
// uses the forward's rng stream; RoPE's adjoint rotates back.
// CHECK-LABEL: graph.model @attention
// CHECK:         %[[Q:.*]] = graph.param @q
// CHECK:         %[[K:.*]] = graph.param @k
// CHECK:         %[[V:.*]] = graph.param @v
// CHECK:         %[[QR:.*]] = graph.rope %[[Q]] {theta = 1.000000e+04 : f64}
// CHECK:         %[[O:.*]] = graph.attention %[[QR]], %[[K]], %[[V]] causal
// CHECK:         graph.reshape %{{.*}} : tensor<1x3x8xf32> -> tensor<1x3x2x4xf32>
// CHECK:         %[[GQ:[^,]*]], %[[GK:[^,]*]], %[[GV:.*]] = graph.attention_grad %[[QR]], %[[K]], %[[V]], %{{.*}} causal {dropout = 1.000000e-01 : f64, rng_stream = 7 : i64, scale = 5.000000e-01 : f64}
// CHECK:         %[[DQ:.*]] = graph.rope %[[GQ]] inverse {theta = 1.000000e+04 : f64}
// CHECK:         graph.gradient %[[Q]], %[[DQ]] : tensor<1x2x3x4xf32>
// CHECK:         graph.gradient %[[K]], %[[GK]] : tensor<1x1x3x4xf32>
// CHECK:         graph.gradient %[[V]], %[[GV]] : tensor<1x1x3x4xf32>
graph.model @attention(%ids: tensor<1x3xi64>, %t: tensor<1x3xi64>) -> tensor<f32> {
  %q = graph.param @q {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<1x2x3x4xf32>
  %k = graph.param @k {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<1x1x3x4xf32>
  %v = graph.param @v {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<1x1x3x4xf32>
  %qr = graph.rope %q {theta = 10000.0 : f64} : tensor<1x2x3x4xf32>
  %o = graph.attention %qr, %k, %v causal {scale = 0.5 : f64, dropout = 0.1 : f64, rng_stream = 7} : tensor<1x2x3x4xf32>, tensor<1x1x3x4xf32>, tensor<1x1x3x4xf32>
  %ot = graph.transpose %o {permutation = array<i64: 0, 2, 1, 3>} : tensor<1x2x3x4xf32>
  %m = graph.reshape %ot : tensor<1x3x2x4xf32> -> tensor<1x3x8xf32>
  %l = graph.cross_entropy %m, %t : tensor<1x3x8xf32>, tensor<1x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Dropout's adjoint is the same dropout (same stream, same mask).
// CHECK-LABEL: graph.model @dropout
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad
// CHECK:         %[[DX:.*]] = graph.dropout %[[DY]] {probability = 2.500000e-01 : f64, rng_stream = 3 : i64}
// CHECK:         graph.gradient %{{.*}}, %[[DX]]
graph.model @dropout(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x4xf32>
  %y = graph.dropout %x {probability = 0.25 : f64, rng_stream = 3} : tensor<2x3x4xf32>
  %l = graph.cross_entropy %y, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Broadcasting add and mul sum their gradients back; a value used twice
// accumulates both gradients.
// CHECK-LABEL: graph.model @add_mul
// CHECK:         %[[X:.*]] = graph.param @x
// CHECK:         %[[S:.*]] = graph.param @s
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad
// CHECK:         %[[DS1:.*]] = graph.sum_to %[[DY]] : tensor<2x3x4xf32> -> tensor<4xf32>
// CHECK:         %[[M1:.*]] = graph.mul %[[DY]], %[[S]]
// CHECK:         %[[M2:.*]] = graph.mul %[[DY]], %[[X]]
// CHECK:         %[[DS2:.*]] = graph.sum_to %[[M2]] : tensor<2x3x4xf32> -> tensor<4xf32>
// CHECK:         %[[DS:.*]] = graph.add %[[DS1]], %[[DS2]]
// CHECK:         graph.gradient %[[X]], %[[M1]]
// CHECK:         graph.gradient %[[S]], %[[DS]]
graph.model @add_mul(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x4xf32>
  %s = graph.param @s {init = #graph.init<ones>, trainable = true} : tensor<4xf32>
  %m = graph.mul %x, %s : tensor<2x3x4xf32>, tensor<4xf32>
  %y = graph.add %m, %s : tensor<2x3x4xf32>, tensor<4xf32>
  %l = graph.cross_entropy %y, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Split, concat, reshape and transpose move gradients back; a split piece
// that is never used contributes zeros.
// CHECK-LABEL: graph.model @shapes
// CHECK:         %[[X:.*]] = graph.param @x
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad
// CHECK:         %[[DC:.*]]:2 = graph.split %[[DY]] {axis = 2 : i64, sizes = array<i64: 2, 2>}
// CHECK:         %[[DT:.*]] = graph.transpose %[[DC]]#1 {permutation = array<i64: 1, 0, 2>}
// CHECK:         %[[Z:.*]] = graph.zeros : tensor<2x2x2xf32>
// CHECK:         %[[DP:.*]] = graph.concat %[[DC]]#0, %[[Z]], %[[DT]] {axis = 2 : i64}
// CHECK:         %[[DX:.*]] = graph.reshape %[[DP]] : tensor<2x2x6xf32> -> tensor<4x6xf32>
// CHECK:         graph.gradient %[[X]], %[[DX]]
graph.model @shapes(%ids: tensor<2x2xi64>, %t: tensor<2x2xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<4x6xf32>
  %r = graph.reshape %x : tensor<4x6xf32> -> tensor<2x2x6xf32>
  %a, %unused, %c = graph.split %r {axis = 2 : i64, sizes = array<i64: 2, 2, 2>} : tensor<2x2x6xf32>
  %ct = graph.transpose %c {permutation = array<i64: 1, 0, 2>} : tensor<2x2x2xf32>
  %y = graph.concat %a, %ct {axis = 2 : i64} : tensor<2x2x2xf32>, tensor<2x2x2xf32>
  %l = graph.cross_entropy %y, %t : tensor<2x2x4xf32>, tensor<2x2xi64>
  graph.output %l : tensor<f32>
}

// -----

// A negative concatenation axis counts from the end.
// CHECK-LABEL: graph.model @concat_negative_axis
// CHECK:         graph.split %{{.*}} {axis = 1 : i64, sizes = array<i64: 2, 2>} : tensor<3x4xf32>
graph.model @concat_negative_axis(%ids: tensor<3xi64>, %t: tensor<3xi64>) -> tensor<f32> {
  %a = graph.param @a {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<3x2xf32>
  %c = graph.concat %a, %a {axis = -1 : i64} : tensor<3x2xf32>, tensor<3x2xf32>
  %l = graph.cross_entropy %c, %t : tensor<3x4xf32>, tensor<3xi64>
  graph.output %l : tensor<f32>
}

// -----

// A cast's adjoint casts the gradient back: the f32 parameter read as bf16
// gets an f32 gradient.
// CHECK-LABEL: graph.model @cast
// CHECK:         %[[W:.*]] = graph.param @w
// CHECK:         %[[W16:.*]] = graph.cast %[[W]] : tensor<2x3x4xf32> to bf16
// CHECK:         %[[DY:.*]] = graph.cross_entropy_grad %[[W16]], %{{.*}} : tensor<2x3x4xbf16>, tensor<2x3xi64>
// CHECK:         %[[DW:.*]] = graph.cast %[[DY]] : tensor<2x3x4xbf16> to f32
// CHECK:         graph.gradient %[[W]], %[[DW]] : tensor<2x3x4xf32>
graph.model @cast(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %w = graph.param @w {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x4xf32>
  %w16 = graph.cast %w : tensor<2x3x4xf32> to bf16
  %l = graph.cross_entropy %w16, %t : tensor<2x3x4xbf16>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}
