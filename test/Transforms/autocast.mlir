// graph-autocast: 16-bit tensors, f32 arithmetic in the kernels, f32 master
// weights.
// RUN: slapo-opt %s -split-input-file -graph-autocast | FileCheck %s
// RUN: slapo-opt %s -split-input-file -graph-autocast -graph-generate-backward | FileCheck %s --check-prefix=GRAD
// RUN: slapo-opt %s -split-input-file -graph-autocast=precision=f16 | FileCheck %s --check-prefix=F16

// Parameters stay f32; each is cast once before its first reader, and a
// tied table shares its cast between the embedding and the LM head. Norms
// and the loss read bf16 (their kernels keep statistics in f32); the loss
// is f32.
// CHECK-LABEL: graph.model @mlp
// CHECK:         %[[E:.*]] = graph.param @wte {{.*}} : tensor<16x8xf32>
// CHECK:         %[[G:.*]] = graph.param @ln.weight {{.*}} : tensor<8xf32>
// CHECK:         %[[B:.*]] = graph.param @ln.bias {{.*}} : tensor<8xf32>
// CHECK:         %[[W:.*]] = graph.param @fc.weight {{.*}} : tensor<8x8xf32>
// CHECK:         %[[FB:.*]] = graph.param @fc.bias {{.*}} : tensor<8xf32>
// CHECK-NEXT:    %[[E16:.*]] = graph.cast %[[E]] : tensor<16x8xf32> to bf16
// CHECK-NEXT:    %[[X:.*]] = graph.embedding %{{.*}}, %[[E16]] : tensor<2x3xi64>, tensor<16x8xbf16>
// CHECK-NEXT:    %[[G16:.*]] = graph.cast %[[G]] : tensor<8xf32> to bf16
// CHECK-NEXT:    %[[B16:.*]] = graph.cast %[[B]] : tensor<8xf32> to bf16
// CHECK-NEXT:    %[[N:.*]] = graph.layer_norm %[[X]], %[[G16]], %[[B16]] {{.*}} : tensor<2x3x8xbf16>, tensor<8xbf16>, tensor<8xbf16>
// CHECK-NEXT:    %[[W16:.*]] = graph.cast %[[W]] : tensor<8x8xf32> to bf16
// CHECK-NEXT:    %[[FB16:.*]] = graph.cast %[[FB]] : tensor<8xf32> to bf16
// CHECK-NEXT:    %[[H:.*]] = graph.linear %[[N]], %[[W16]], %[[FB16]] : tensor<2x3x8xbf16>, tensor<8x8xbf16>, tensor<8xbf16>
// CHECK-NEXT:    %[[A:.*]] = graph.gelu %[[H]] tanh : tensor<2x3x8xbf16>
// CHECK-NEXT:    %[[R:.*]] = graph.add %[[X]], %[[A]] : tensor<2x3x8xbf16>, tensor<2x3x8xbf16>
// CHECK-NEXT:    %[[L:.*]] = graph.linear %[[R]], %[[E16]] : tensor<2x3x8xbf16>, tensor<16x8xbf16>
// CHECK-NEXT:    %[[LOSS:.*]] = graph.cross_entropy %[[L]], %{{.*}} : tensor<2x3x16xbf16>, tensor<2x3xi64>
// CHECK-NEXT:    graph.output %[[LOSS]] : tensor<f32>
//
// The backward pass runs in bf16 between the casts; every parameter's
// gradient comes back through its cast's adjoint in f32. The tied table's
// two bf16 gradients are summed, then cast once.
// GRAD-LABEL: graph.model @mlp
// GRAD:         %[[E:.*]] = graph.param @wte
// GRAD:         %[[G:.*]] = graph.param @ln.weight
// GRAD:         %[[B:.*]] = graph.param @ln.bias
// GRAD:         %[[W:.*]] = graph.param @fc.weight
// GRAD:         %[[FB:.*]] = graph.param @fc.bias
// GRAD:         %[[DL:.*]] = graph.cross_entropy_grad %{{.*}} : tensor<2x3x16xbf16>, tensor<2x3xi64>
// GRAD:         %[[DHEAD:.*]] = graph.linear_grad_weight %{{.*}}, %[[DL]] : tensor<2x3x8xbf16>, tensor<2x3x16xbf16>
// GRAD:         %[[DW16:.*]] = graph.linear_grad_weight %{{.*}}, %{{.*}} : tensor<2x3x8xbf16>, tensor<2x3x8xbf16>
// GRAD:         %[[DFB16:.*]] = graph.sum_to %{{.*}} : tensor<2x3x8xbf16> -> tensor<8xbf16>
// GRAD-NEXT:    %[[DFB:.*]] = graph.cast %[[DFB16]] : tensor<8xbf16> to f32
// GRAD-NEXT:    %[[DW:.*]] = graph.cast %[[DW16]] : tensor<8x8xbf16> to f32
// GRAD-NEXT:    %[[LNG:.*]]:3 = graph.layer_norm_grad %{{.*}}, %{{.*}}, %{{.*}} {{.*}} : tensor<2x3x8xbf16>, tensor<2x3x8xbf16>, tensor<8xbf16>
// GRAD:         %[[DB:.*]] = graph.cast %[[LNG]]#2 : tensor<8xbf16> to f32
// GRAD-NEXT:    %[[DG:.*]] = graph.cast %[[LNG]]#1 : tensor<8xbf16> to f32
// GRAD-NEXT:    %[[DEMB:.*]] = graph.embedding_grad %{{.*}} {rows = 16 : i64} : tensor<2x3xi64>, tensor<2x3x8xbf16>
// GRAD-NEXT:    %[[DE16:.*]] = graph.add %[[DHEAD]], %[[DEMB]] : tensor<16x8xbf16>, tensor<16x8xbf16>
// GRAD-NEXT:    %[[DE:.*]] = graph.cast %[[DE16]] : tensor<16x8xbf16> to f32
// GRAD-NEXT:    graph.gradient %[[E]], %[[DE]] : tensor<16x8xf32>
// GRAD-NEXT:    graph.gradient %[[G]], %[[DG]] : tensor<8xf32>
// GRAD-NEXT:    graph.gradient %[[B]], %[[DB]] : tensor<8xf32>
// GRAD-NEXT:    graph.gradient %[[W]], %[[DW]] : tensor<8x8xf32>
// GRAD-NEXT:    graph.gradient %[[FB]], %[[DFB]] : tensor<8xf32>
//
// F16-LABEL: graph.model @mlp
// F16:         graph.cast %{{.*}} : tensor<16x8xf32> to f16
// F16:         graph.linear %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x3x8xf16>, tensor<8x8xf16>, tensor<8xf16>
// F16-NOT:     bf16
graph.model @mlp(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %e = graph.param @wte {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<16x8xf32>
  %g = graph.param @ln.weight {init = #graph.init<ones>, trainable = true} : tensor<8xf32>
  %b = graph.param @ln.bias {init = #graph.init<zeros>, trainable = true} : tensor<8xf32>
  %w = graph.param @fc.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<8x8xf32>
  %fb = graph.param @fc.bias {init = #graph.init<zeros>, trainable = true} : tensor<8xf32>
  %x = graph.embedding %ids, %e : tensor<2x3xi64>, tensor<16x8xf32>
  %n = graph.layer_norm %x, %g, %b {epsilon = 1.0e-5 : f64} : tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>
  %h = graph.linear %n, %w, %fb : tensor<2x3x8xf32>, tensor<8x8xf32>, tensor<8xf32>
  %a = graph.gelu %h tanh : tensor<2x3x8xf32>
  %r = graph.add %x, %a : tensor<2x3x8xf32>, tensor<2x3x8xf32>
  %l = graph.linear %r, %e : tensor<2x3x8xf32>, tensor<16x8xf32>
  %loss = graph.cross_entropy %l, %t : tensor<2x3x16xf32>, tensor<2x3xi64>
  graph.output %loss : tensor<f32>
}

// -----

// Decomposed attention: everything in bf16, softmax too (its kernel keeps
// the row maxima and sums in f32). Layout ops keep their input's type.
// CHECK-LABEL: graph.model @attention
// CHECK:         %[[N16:.*]] = graph.cast %{{.*}} : tensor<8xf32> to bf16
// CHECK-NEXT:    %[[H:.*]] = graph.rms_norm %{{.*}}, %[[N16]] {{.*}} : tensor<1x4x8xbf16>, tensor<8xbf16>
// CHECK-NEXT:    %[[WQ:.*]] = graph.cast %{{.*}} : tensor<8x8xf32> to bf16
// CHECK-NEXT:    %[[Q:.*]] = graph.linear %[[H]], %[[WQ]] : tensor<1x4x8xbf16>, tensor<8x8xbf16>
// CHECK-NEXT:    %[[Q4:.*]] = graph.reshape %[[Q]] : tensor<1x4x8xbf16> -> tensor<1x4x2x4xbf16>
// CHECK-NEXT:    %[[QT:.*]] = graph.transpose %[[Q4]] {{.*}} : tensor<1x4x2x4xbf16>
// CHECK-NEXT:    %[[S:.*]] = graph.matmul %[[QT]], %[[QT]] transpose_b : tensor<1x2x4x4xbf16>, tensor<1x2x4x4xbf16>
// CHECK-NEXT:    %[[M:.*]] = graph.causal_mask %[[S]] : tensor<1x2x4x4xbf16>
// CHECK-NEXT:    %[[P:.*]] = graph.softmax %[[M]] : tensor<1x2x4x4xbf16>
// CHECK-NEXT:    %[[PT:.*]] = graph.transpose %[[P]] {{.*}} : tensor<1x2x4x4xbf16>
// CHECK-NEXT:    %[[C:.*]] = graph.concat %[[PT]], %[[QT]] {axis = 3 : i64} : tensor<1x2x4x4xbf16>, tensor<1x2x4x4xbf16>
// CHECK-NEXT:    %[[D:.*]] = graph.dropout %[[C]] {{.*}} : tensor<1x2x4x8xbf16>
// CHECK-NEXT:    %[[O:.*]] = graph.reshape %[[D]] : tensor<1x2x4x8xbf16> -> tensor<1x4x16xbf16>
// CHECK-NEXT:    graph.cross_entropy %[[O]], %{{.*}} : tensor<1x4x16xbf16>
graph.model @attention(%ids: tensor<1x4xi64>, %t: tensor<1x4xi64>) -> tensor<f32> {
  %e = graph.param @wte {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<16x8xf32>
  %n = graph.param @norm.weight {init = #graph.init<ones>, trainable = true} : tensor<8xf32>
  %wq = graph.param @q.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<8x8xf32>
  %x = graph.embedding %ids, %e : tensor<1x4xi64>, tensor<16x8xf32>
  %h = graph.rms_norm %x, %n {epsilon = 1.0e-6 : f64} : tensor<1x4x8xf32>, tensor<8xf32>
  %q = graph.linear %h, %wq : tensor<1x4x8xf32>, tensor<8x8xf32>
  %q4 = graph.reshape %q : tensor<1x4x8xf32> -> tensor<1x4x2x4xf32>
  %qt = graph.transpose %q4 {permutation = array<i64: 0, 2, 1, 3>} : tensor<1x4x2x4xf32>
  %s = graph.matmul %qt, %qt transpose_b : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
  %m = graph.causal_mask %s : tensor<1x2x4x4xf32>
  %p = graph.softmax %m : tensor<1x2x4x4xf32>
  %pt = graph.transpose %p {permutation = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x4xf32>
  %c = graph.concat %pt, %qt {axis = 3} : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
  %d = graph.dropout %c {probability = 0.1 : f64, rng_stream = 0} : tensor<1x2x4x8xf32>
  %o = graph.reshape %d : tensor<1x2x4x8xf32> -> tensor<1x4x16xf32>
  %loss = graph.cross_entropy %o, %t : tensor<1x4x16xf32>, tensor<1x4xi64>
  graph.output %loss : tensor<f32>
}

// -----

// Fused ops compute in bf16 too (their parameters cast once). A cast joins
// the checkpoint region of the reader it was made for.
// CHECK-LABEL: graph.model @fused
// CHECK:         %[[W16:.*]] = graph.cast %{{.*}} : tensor<8x8xf32> to bf16
// CHECK-NEXT:    graph.linear %{{.*}}, %[[W16]] : tensor<2x3x8xbf16>, tensor<8x8xbf16>
// CHECK-NEXT:    %[[B16:.*]] = graph.cast %{{.*}} {checkpoint_region = "h.0"} : tensor<8xf32> to bf16
// CHECK-NEXT:    %[[A:.*]] = graph.bias_gelu %{{.*}}, %[[B16]] tanh {checkpoint_region = "h.0"} : tensor<2x3x8xbf16>, tensor<8xbf16>
// CHECK-NEXT:    %[[N16:.*]] = graph.cast %{{.*}} {checkpoint_region = "h.0"} : tensor<8xf32> to bf16
// CHECK-NEXT:    %[[SUM:.*]], %[[NORMED:.*]] = graph.add_rms_norm %[[A]], %{{.*}}, %[[N16]] {checkpoint_region = "h.0", {{.*}}} : tensor<2x3x8xbf16>, tensor<2x3x8xbf16>, tensor<8xbf16>
// CHECK-NEXT:    graph.linear %[[NORMED]], %[[W16]]
graph.model @fused(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %e = graph.param @wte {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<16x8xf32>
  %w = graph.param @fc.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<8x8xf32>
  %fb = graph.param @fc.bias {init = #graph.init<zeros>, trainable = true} : tensor<8xf32>
  %n = graph.param @norm.weight {init = #graph.init<ones>, trainable = true} : tensor<8xf32>
  %x = graph.embedding %ids, %e : tensor<2x3xi64>, tensor<16x8xf32>
  %h = graph.linear %x, %w : tensor<2x3x8xf32>, tensor<8x8xf32>
  %a = graph.bias_gelu %h, %fb tanh {checkpoint_region = "h.0"} : tensor<2x3x8xf32>, tensor<8xf32>
  %s:2 = graph.add_rms_norm %a, %x, %n {epsilon = 1.0e-6 : f64, checkpoint_region = "h.0"} : tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<8xf32>
  %o = graph.linear %s#1, %w : tensor<2x3x8xf32>, tensor<8x8xf32>
  %l = graph.linear %o, %e : tensor<2x3x8xf32>, tensor<16x8xf32>
  %loss = graph.cross_entropy %l, %t : tensor<2x3x16xf32>, tensor<2x3xi64>
  graph.output %loss : tensor<f32>
}
