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
