// What the sharding rules refuse, one family at a time, and an op without
// a rule (sharding-rules.mlir runs this file). Each error is blamed on the
// sharded parameter (its .sched statement, when a schedule sharded it).

// Elementwise: a partial sum cannot pass through a nonlinear op.
graph.model @partial_relu(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  // expected-error @+1 {{with 'rows' sharded, graph.relu in 'the model' gets partial sums: add `sync the model forward=all_reduce` to reduce them first}}
  %rows = graph.param @rows {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 0 : i64, parts = 1 : i64}} : tensor<8x4xf32>
  %a = graph.embedding %ids, %rows : tensor<2x3xi64>, tensor<8x4xf32>
  %b = graph.relu %a : tensor<2x3x4xf32>
  %l = graph.cross_entropy %b, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Linear: a row-parallel layer would add its bias once per rank.
graph.model @row_bias(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 2 : i64, parts = 1 : i64}} : tensor<2x3x8xf32>
  // expected-error @+1 {{with 'down' sharded, graph.linear in 'the model' would add its bias on every rank: `sync the model forward=all_reduce` adds it after the reduction}}
  %down = graph.param @down {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 1 : i64, parts = 1 : i64}} : tensor<4x8xf32>
  %bias = graph.param @bias {init = #graph.init<zeros>, trainable = false} : tensor<4xf32>
  %y = graph.linear %x, %down, %bias : tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>
  %l = graph.cross_entropy %y, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Attention: query, key and value must all be split by heads.
graph.model @attention_key(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  // expected-error @+1 {{with 'q' sharded, graph.attention in 'the model' needs query, key and value all split by heads (axis 1), but one is replicated}}
  %q = graph.param @q {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 1 : i64, parts = 1 : i64}} : tensor<2x4x3x2xf32>
  %k = graph.param @k {init = #graph.init<normal, std = 1.0>, trainable = false} : tensor<2x4x3x2xf32>
  %o = graph.attention %q, %k, %k causal {scale = 0.5 : f64} : tensor<2x4x3x2xf32>, tensor<2x4x3x2xf32>, tensor<2x4x3x2xf32>
  %r = graph.reshape %o : tensor<2x4x3x2xf32> -> tensor<2x3x8xf32>
  %l = graph.cross_entropy %r, %t : tensor<2x3x8xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// RoPE rotates along positions and features: neither may be split.
graph.model @rope_features(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  // expected-error @+1 {{with 'q' sharded, graph.rope in 'the model' rotates along positions and features, which must stay whole}}
  %q = graph.param @q {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 3 : i64, parts = 1 : i64}} : tensor<2x4x3x2xf32>
  %r = graph.rope %q {theta = 10000.0 : f64} : tensor<2x4x3x2xf32>
  %s = graph.reshape %r : tensor<2x4x3x2xf32> -> tensor<2x3x8xf32>
  %l = graph.cross_entropy %s, %t : tensor<2x3x8xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Embedding: a table split in two parts of rows is not a vocabulary split.
graph.model @embedding_parts(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  // expected-error @+1 {{with 'table' sharded, graph.embedding in 'the model' cannot use a table split on axis 0}}
  %table = graph.param @table {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 0 : i64, parts = 2 : i64}} : tensor<8x4xf32>
  %a = graph.embedding %ids, %table : tensor<2x3xi64>, tensor<8x4xf32>
  %l = graph.cross_entropy %a, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Norms: the normalised axis must stay whole.
graph.model @norm_axis(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  // expected-error @+1 {{with 'x' sharded, graph.layer_norm in 'the model' normalises over the last axis, which is split over the ranks}}
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 2 : i64, parts = 1 : i64}} : tensor<2x3x4xf32>
  %a = graph.layer_norm %x {epsilon = 1.0e-5 : f64} : tensor<2x3x4xf32>
  %l = graph.cross_entropy %a, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// Reductions: a softmax over the split axis needs the whole axis.
graph.model @softmax_axis(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  // expected-error @+1 {{with 'x' sharded, graph.softmax in 'the model' normalises over the axis split over the ranks}}
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 2 : i64, parts = 1 : i64}} : tensor<2x3x4xf32>
  %s = graph.softmax %x : tensor<2x3x4xf32>
  %l = graph.cross_entropy %s, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}

// -----

// An op without a sharding rule takes replicated operands only, and says
// so with its name.
graph.model @no_rule(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  // expected-error @+1 {{with 'x' sharded, graph.add_rms_norm in 'the model' cannot take an operand that is split on axis 0 (it has no sharding rule)}}
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = false, shard = {axis = 0 : i64, parts = 1 : i64}} : tensor<2x3x4xf32>
  %g = graph.param @g {init = #graph.init<ones>, trainable = false} : tensor<4xf32>
  %s, %n = graph.add_rms_norm %x, %x, %g {epsilon = 1.0e-5 : f64} : tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<4xf32>
  %l = graph.cross_entropy %n, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}
