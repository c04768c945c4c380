// Every verifier error of the block-sparse ops (sparse-ops.mlir runs this).

graph.model @m(%s: tensor<2x8x16xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{'graph.block_mask' op cols 5 does not divide the 16 score columns}}
  %m = graph.block_mask %s {rows = 4, cols = 5, threshold = 0.0 : f64} : tensor<2x8x16xf32>
  graph.output %m : tensor<4x4xf32>
}

// -----

graph.model @m(%s: tensor<2x8x16xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{'graph.block_mask' op rows and cols must be positive, got rows = 0 and cols = 4}}
  %m = graph.block_mask %s {rows = 0, cols = 4, threshold = 0.0 : f64} : tensor<2x8x16xf32>
  graph.output %m : tensor<4x4xf32>
}

// -----

graph.model @m(%s: tensor<2x8x16xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{'graph.block_mask' op threshold must be finite, got nan}}
  %m = graph.block_mask %s {rows = 4, cols = 4, threshold = 0x7FF8000000000000 : f64} : tensor<2x8x16xf32>
  graph.output %m : tensor<4x4xf32>
}

// -----

graph.model @m(%x: tensor<16x8xf32>, %w: tensor<16x8xf32>, %m: tensor<4x4xf32>) -> tensor<16x16xf32> {
  // expected-error @+1 {{'graph.block_sparse_linear' op sparse must be "out" (the output features are cut in blocks) or "in" (the input features are), got "both"}}
  %y = graph.block_sparse_linear %x, %w mask %m {rows = 4, block = 4, sparse = "both"} : tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x4xf32>
  graph.output %y : tensor<16x16xf32>
}

// -----

graph.model @m(%x: tensor<16x8xf32>, %w: tensor<16x8xf32>, %m: tensor<4x4xf32>) -> tensor<16x16xf32> {
  // expected-error @+1 {{'graph.block_sparse_linear' op block 3 does not divide the out features (16)}}
  %y = graph.block_sparse_linear %x, %w mask %m {rows = 4, block = 3, sparse = "out"} : tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x4xf32>
  graph.output %y : tensor<16x16xf32>
}

// -----

graph.model @m(%x: tensor<16x8xf32>, %w: tensor<16x8xf32>, %m: tensor<4x2xf32>) -> tensor<16x16xf32> {
  // expected-error @+1 {{'graph.block_sparse_linear' op mask has 2 blocks a row tile but 16 out features make 4 blocks of 4}}
  %y = graph.block_sparse_linear %x, %w mask %m {rows = 4, block = 4, sparse = "out"} : tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x2xf32>
  graph.output %y : tensor<16x16xf32>
}

// -----

graph.model @m(%x: tensor<16x8xf32>, %w: tensor<16x8xf32>, %m: tensor<3x4xf32>) -> tensor<16x16xf32> {
  // expected-error @+1 {{'graph.block_sparse_linear' op mask has 3 row tiles but 16 rows make 4 tiles of 4}}
  %y = graph.block_sparse_linear %x, %w mask %m {rows = 4, block = 4, sparse = "out"} : tensor<16x8xf32>, tensor<16x8xf32>, tensor<3x4xf32>
  graph.output %y : tensor<16x16xf32>
}

// -----

graph.model @m(%x: tensor<16x6xf32>, %w: tensor<16x8xf32>, %m: tensor<4x4xf32>) -> tensor<16x16xf32> {
  // expected-error @+1 {{'graph.block_sparse_linear' op input has 6 features but the weight [16, 8] ([out, in]) expects 8}}
  %y = graph.block_sparse_linear %x, %w mask %m {rows = 4, block = 4, sparse = "out"} : tensor<16x6xf32>, tensor<16x8xf32>, tensor<4x4xf32>
  graph.output %y : tensor<16x16xf32>
}

// -----

graph.model @m(%x: tensor<16x8xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>, %m: tensor<4x4xf32>) -> tensor<16x16xf32> {
  // expected-error @+1 {{'graph.block_sparse_linear' op bias has 8 elements but the layer has 16 output features}}
  %y = graph.block_sparse_linear %x, %w mask %m bias %b {rows = 4, block = 4, sparse = "out"} : tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x4xf32>, tensor<8xf32>
  graph.output %y : tensor<16x16xf32>
}

// -----

graph.model @m(%x: tensor<16x8xf32>, %w: tensor<16x8xf32>, %m: tensor<4x4xf64>) -> tensor<16x16xf32> {
  // expected-error @+1 {{'graph.block_sparse_linear' op mask has element type 'f64' but input has 'f32'}}
  %y = graph.block_sparse_linear %x, %w mask %m {rows = 4, block = 4, sparse = "out"} : tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x4xf64>
  graph.output %y : tensor<16x16xf32>
}

// -----

graph.model @m(%dy: tensor<16x8xf32>, %w: tensor<16x8xf32>, %m: tensor<4x4xf32>) -> tensor<16x8xf32> {
  // expected-error @+1 {{'graph.block_sparse_linear_grad' op grad has 8 features but the weight [16, 8] ([out, in]) expects 16}}
  %g = graph.block_sparse_linear_grad %dy, %w mask %m {rows = 4, block = 4, sparse = "out"} : tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x4xf32>
  graph.output %g : tensor<16x8xf32>
}

// -----

graph.model @m(%logits: tensor<2x6x4xf32>, %live: tensor<10x4xf32>) -> tensor<f32> {
  // expected-error @+1 {{'graph.sigmoid_bce' op labels [10, 4] must be [rows, classes] of logits [2, 6, 4] or its shape}}
  %l = graph.sigmoid_bce %logits, %live : tensor<2x6x4xf32>, tensor<10x4xf32>
  graph.output %l : tensor<f32>
}

// -----

graph.model @m(%tiles: tensor<2x4xf32>, %live: tensor<12x4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'graph.mask_agreement' op predicted has 2 tiles but the 12 rows of live make 3 tiles of 4}}
  %a = graph.mask_agreement %tiles, %live {rows = 4} : tensor<2x4xf32>, tensor<12x4xf32>
  graph.output %a : tensor<4xf32>
}

// -----

graph.model @m(%q: tensor<1x4x70x8xf32>, %m: tensor<1x4x2x3xf32>) -> tensor<1x4x70x8xf32> {
  // expected-error @+1 {{'graph.attention' op mask [1, 4, 2, 3] must be [B, H, T / 64, S / 64] = [1, 4, 2, 2]}}
  %a = graph.attention %q, %q, %q mask %m causal {block = 64, scale = 0.125 : f64} : tensor<1x4x70x8xf32>, tensor<1x4x70x8xf32>, tensor<1x4x70x8xf32>, tensor<1x4x2x3xf32>
  graph.output %a : tensor<1x4x70x8xf32>
}

// -----

graph.model @m(%q: tensor<1x4x70x8xf32>, %m: tensor<1x4x2x2xf32>) -> tensor<1x4x70x8xf32> {
  // expected-error @+1 {{'graph.attention' op a block mask takes causal self-attention (T = S), not query [1, 4, 70, 8] against key [1, 4, 70, 8]}}
  %a = graph.attention %q, %q, %q mask %m {block = 64, scale = 0.125 : f64} : tensor<1x4x70x8xf32>, tensor<1x4x70x8xf32>, tensor<1x4x70x8xf32>, tensor<1x4x2x2xf32>
  graph.output %a : tensor<1x4x70x8xf32>
}

// -----

graph.model @m(%q: tensor<1x4x70x8xf32>, %m: tensor<1x4x2x2xf32>) -> tensor<1x4x70x8xf32> {
  // expected-error @+1 {{'graph.attention' op a block mask needs a positive block, got 0}}
  %a = graph.attention %q, %q, %q mask %m causal {scale = 0.125 : f64} : tensor<1x4x70x8xf32>, tensor<1x4x70x8xf32>, tensor<1x4x70x8xf32>, tensor<1x4x2x2xf32>
  graph.output %a : tensor<1x4x70x8xf32>
}

// -----

graph.model @m(%q: tensor<1x4x70x8xf32>) -> tensor<1x4x70x8xf32> {
  // expected-error @+1 {{'graph.attention' op block is the tile of a mask, but there is none}}
  %a = graph.attention %q, %q, %q causal {block = 64, scale = 0.125 : f64} : tensor<1x4x70x8xf32>, tensor<1x4x70x8xf32>, tensor<1x4x70x8xf32>
  graph.output %a : tensor<1x4x70x8xf32>
}
