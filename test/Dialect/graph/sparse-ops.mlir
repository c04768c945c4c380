// The block-sparse ops (GraphSparseOps.td) round-trip in the custom and the
// generic form, and every verifier error has a case.
// RUN: slapo-opt %s -split-input-file | slapo-opt -split-input-file | FileCheck %s
// RUN: slapo-opt %s -split-input-file --mlir-print-op-generic | slapo-opt -split-input-file | FileCheck %s
// RUN: slapo-opt %S/Inputs/sparse-ops-invalid.mlir -split-input-file -verify-diagnostics

// CHECK-LABEL: graph.model @mlp(
graph.model @mlp(%x: tensor<2x7x8xf32>, %w1: tensor<16x8xf32>, %b1: tensor<16xf32>,
                 %w2: tensor<8x16xf32>, %dy: tensor<2x7x8xf32>) -> tensor<2x7x8xf32> {
  // CHECK: %[[S:.*]] = graph.linear
  %s = graph.linear %x, %w1, %b1 : tensor<2x7x8xf32>, tensor<16x8xf32>, tensor<16xf32>
  // 14 rows in tiles of 4 make 4 tiles; 16 features in blocks of 4 make 4.
  // CHECK: %[[M:.*]] = graph.block_mask %[[S]] {cols = 4 : i64, rows = 4 : i64, threshold = 0.000000e+00 : f64} : tensor<2x7x16xf32>
  %m = graph.block_mask %s {rows = 4, cols = 4, threshold = 0.0 : f64} : tensor<2x7x16xf32>
  // CHECK: graph.block_sparse_linear %{{.*}}, %{{.*}} mask %[[M]] bias %{{.*}} {block = 4 : i64, rows = 4 : i64, sparse = "out"} : tensor<2x7x8xf32>, tensor<16x8xf32>, tensor<4x4xf32>, tensor<16xf32>
  %h = graph.block_sparse_linear %x, %w1 mask %m bias %b1 {rows = 4, block = 4, sparse = "out"} : tensor<2x7x8xf32>, tensor<16x8xf32>, tensor<4x4xf32>, tensor<16xf32>
  %r = graph.relu %h : tensor<2x7x16xf32>
  // CHECK: graph.block_sparse_linear %{{.*}}, %{{.*}} mask %[[M]] {block = 4 : i64, rows = 4 : i64, sparse = "in"} : tensor<2x7x16xf32>, tensor<8x16xf32>, tensor<4x4xf32>
  %y = graph.block_sparse_linear %r, %w2 mask %m {rows = 4, block = 4, sparse = "in"} : tensor<2x7x16xf32>, tensor<8x16xf32>, tensor<4x4xf32>
  // CHECK: graph.block_sparse_linear_grad %{{.*}}, %{{.*}} mask %[[M]] {block = 4 : i64, rows = 4 : i64, sparse = "in"} : tensor<2x7x8xf32>, tensor<8x16xf32>, tensor<4x4xf32>
  %g = graph.block_sparse_linear_grad %dy, %w2 mask %m {rows = 4, block = 4, sparse = "in"} : tensor<2x7x8xf32>, tensor<8x16xf32>, tensor<4x4xf32>
  %gx = graph.block_sparse_linear_grad %g, %w1 mask %m {rows = 4, block = 4, sparse = "out"} : tensor<2x7x16xf32>, tensor<16x8xf32>, tensor<4x4xf32>
  %sum = graph.add %y, %gx : tensor<2x7x8xf32>, tensor<2x7x8xf32>
  graph.output %sum : tensor<2x7x8xf32>
}

// -----

// Dynamic rows give a dynamic number of tiles; a predictor's logits use
// one column a block.
// CHECK-LABEL: graph.model @dynamic(
graph.model @dynamic(%s: tensor<?x?x4xf32>) -> tensor<?x4xf32> {
  // CHECK: graph.block_mask %{{.*}} {cols = 1 : i64, rows = 64 : i64, threshold = 5.000000e-01 : f64} : tensor<?x?x4xf32>
  %m = graph.block_mask %s {rows = 64, cols = 1, threshold = 0.5 : f64} : tensor<?x?x4xf32>
  graph.output %m : tensor<?x4xf32>
}

// -----

// Predictor training: the loss against per-row labels and the agreement of
// a tile mask with them.
// CHECK-LABEL: graph.model @predictor(
graph.model @predictor(%logits: tensor<2x6x4xf32>, %live: tensor<12x4xf32>, %tiles: tensor<3x4xf32>) -> tensor<f32> {
  // CHECK: graph.sigmoid_bce %{{.*}}, %{{.*}} {scale = 5.000000e-01 : f64} : tensor<2x6x4xf32>, tensor<12x4xf32>
  %l = graph.sigmoid_bce %logits, %live {scale = 0.5 : f64} : tensor<2x6x4xf32>, tensor<12x4xf32>
  // CHECK: graph.sigmoid_bce_grad
  %g = graph.sigmoid_bce_grad %logits, %live : tensor<2x6x4xf32>, tensor<12x4xf32>
  // CHECK: graph.mask_agreement %{{.*}}, %{{.*}} {rows = 4 : i64} : tensor<3x4xf32>, tensor<12x4xf32>
  %a = graph.mask_agreement %tiles, %live {rows = 4} : tensor<3x4xf32>, tensor<12x4xf32>
  graph.output %l : tensor<f32>
}

// -----

// Block-sparse attention: a mask of (query tile, key tile) pairs, 70 rows
// in tiles of 64 making 2 of each; its gradient takes the same mask.
// CHECK-LABEL: graph.model @attention(
graph.model @attention(%q: tensor<1x4x70x8xf32>, %k: tensor<1x2x70x8xf32>, %m: tensor<1x4x2x2xf32>) -> tensor<1x4x70x8xf32> {
  // CHECK: %[[A:.*]] = graph.attention %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} causal {block = 64 : i64, scale = 1.250000e-01 : f64} : tensor<1x4x70x8xf32>, tensor<1x2x70x8xf32>, tensor<1x2x70x8xf32>, tensor<1x4x2x2xf32>
  %a = graph.attention %q, %k, %k mask %m causal {block = 64, scale = 0.125 : f64} : tensor<1x4x70x8xf32>, tensor<1x2x70x8xf32>, tensor<1x2x70x8xf32>, tensor<1x4x2x2xf32>
  // CHECK: graph.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %[[A]] mask %{{.*}} causal {block = 64 : i64, scale = 1.250000e-01 : f64} : tensor<1x4x70x8xf32>, tensor<1x2x70x8xf32>, tensor<1x2x70x8xf32>, tensor<1x4x70x8xf32>, tensor<1x4x2x2xf32>
  %dq, %dk, %dv = graph.attention_grad %q, %k, %k, %a mask %m causal {block = 64, scale = 0.125 : f64} : tensor<1x4x70x8xf32>, tensor<1x2x70x8xf32>, tensor<1x2x70x8xf32>, tensor<1x4x70x8xf32>, tensor<1x4x2x2xf32>
  graph.output %dq : tensor<1x4x70x8xf32>
}
