// The shapes graph.model accepts for the parameters its config sizes: the
// whole ones, and one rank's share after graph-partition-tensor-parallel.
// (The refused ones are in invalid.mlir.)
// RUN: slapo-opt %s -split-input-file | FileCheck %s

// GPT-2: wte [vocab_size, hidden_size], wpe [max_positions, hidden_size],
// the LM head tied to wte, read through graph-autocast's casts.
// CHECK-LABEL: graph.model @gpt2
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<f32> attributes {config = {vocab_size = 253 : i64, hidden_size = 8 : i64, max_positions = 16 : i64}} {
  %h = graph.module @transformer(%x = %ids) : (tensor<?x?xi64>) -> tensor<?x?x8xbf16> {
    %e = graph.module @wte(%y = %x) : (tensor<?x?xi64>) -> tensor<?x?x8xbf16> {
      %w = graph.param @weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<253x8xf32>
      %w16 = graph.cast %w : tensor<253x8xf32> to bf16
      %0 = graph.embedding %y, %w16 : tensor<?x?xi64>, tensor<253x8xbf16>
      graph.output %0 : tensor<?x?x8xbf16>
    }
    %p = graph.position_ids %x : tensor<?x?xi64>
    %q = graph.module @wpe(%y = %p) : (tensor<?x?xi64>) -> tensor<?x?x8xbf16> {
      %w = graph.param @weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<16x8xf32>
      %w16 = graph.cast %w : tensor<16x8xf32> to bf16
      %0 = graph.embedding %y, %w16 : tensor<?x?xi64>, tensor<16x8xbf16>
      graph.output %0 : tensor<?x?x8xbf16>
    }
    %s = graph.add %e, %q : tensor<?x?x8xbf16>, tensor<?x?x8xbf16>
    graph.output %s : tensor<?x?x8xbf16>
  }
  %logits = graph.module @lm_head(%x = %h) : (tensor<?x?x8xbf16>) -> tensor<?x?x253xbf16> {
    %w = graph.param_ref "transformer.wte.weight" : tensor<253x8xf32>
    %w16 = graph.cast %w : tensor<253x8xf32> to bf16
    %0 = graph.linear %x, %w16 : tensor<?x?x8xbf16>, tensor<253x8xbf16>
    graph.output %0 : tensor<?x?x253xbf16>
  }
  %loss = graph.cross_entropy %logits, %targets : tensor<?x?x253xbf16>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}

// -----

// The same at tp 2, flat: 253 rows are 127 a rank (the last padding), the
// whole size in the shard; wpe is not split.
// CHECK-LABEL: graph.model @gpt2
// CHECK-SAME: tp = 2
graph.model @gpt2(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<f32> attributes {config = {vocab_size = 253 : i64, hidden_size = 8 : i64, max_positions = 16 : i64}, tp = 2 : i64} {
  %w = graph.param @transformer.wte.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 0 : i64, parts = 1 : i64, size = 253 : i64}, trainable = true} : tensor<127x8xf32>
  %pw = graph.param @transformer.wpe.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<16x8xf32>
  %e = graph.embedding %ids, %w {vocab_parallel = 253 : i64} : tensor<?x?xi64>, tensor<127x8xf32>
  %r = graph.sync %e {backward = "identity", forward = "all_reduce", tp = 2 : i64} : tensor<?x?x8xf32>
  %p = graph.position_ids %ids : tensor<?x?xi64>
  %q = graph.embedding %p, %pw : tensor<?x?xi64>, tensor<16x8xf32>
  %h = graph.add %r, %q : tensor<?x?x8xf32>, tensor<?x?x8xf32>
  %logits = graph.linear %h, %w : tensor<?x?x8xf32>, tensor<127x8xf32>
  %loss = graph.cross_entropy %logits, %targets {vocab_parallel = 253 : i64} : tensor<?x?x127xf32>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}

// -----

// OPT: word_embed_proj_dim 4 under hidden 8, projected by project_in (here
// after a vocab-parallel all_reduce); positions start at row 2, so 16
// positions take 18 rows, 9 a rank at tp 2; an untied LM head split like it.
// CHECK-LABEL: graph.model @opt
graph.model @opt(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<f32> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64, max_positions = 16 : i64}, tp = 2 : i64} {
  %w = graph.param @model.decoder.embed_tokens.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 0 : i64, parts = 1 : i64}, trainable = true} : tensor<128x4xf32>
  %pin = graph.param @model.decoder.project_in.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<8x4xf32>
  %pw = graph.param @model.decoder.embed_positions.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 0 : i64, parts = 1 : i64}, trainable = true} : tensor<9x8xf32>
  %head = graph.param @lm_head.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 0 : i64, parts = 1 : i64}, trainable = true} : tensor<128x8xf32>
  %e = graph.embedding %ids, %w {vocab_parallel = 256 : i64} : tensor<?x?xi64>, tensor<128x4xf32>
  %r = graph.sync %e {backward = "identity", forward = "all_reduce", tp = 2 : i64} : tensor<?x?x4xf32>
  %t = graph.linear %r, %pin : tensor<?x?x4xf32>, tensor<8x4xf32>
  %p = graph.position_ids %ids {offset = 2} : tensor<?x?xi64>
  %q = graph.embedding %p, %pw {vocab_parallel = 18 : i64} : tensor<?x?xi64>, tensor<9x8xf32>
  %rq = graph.sync %q {backward = "identity", forward = "all_reduce", tp = 2 : i64} : tensor<?x?x8xf32>
  %h = graph.add %t, %rq : tensor<?x?x8xf32>, tensor<?x?x8xf32>
  %logits = graph.linear %h, %head : tensor<?x?x8xf32>, tensor<128x8xf32>
  %loss = graph.cross_entropy %logits, %targets {vocab_parallel = 256 : i64} : tensor<?x?x128xf32>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}

// -----

// A hidden axis split evenly: 8 columns at tp 2 are 4 a rank.
// CHECK-LABEL: graph.model @split_hidden
graph.model @split_hidden(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<?x?x4xf32> attributes {config = {vocab_size = 256 : i64, hidden_size = 8 : i64}, tp = 2 : i64} {
  %w = graph.param @transformer.wte.weight {init = #graph.init<normal, std = 0.02>, shard = {axis = 1 : i64, parts = 1 : i64}, trainable = true} : tensor<256x4xf32>
  %0 = graph.embedding %ids, %w : tensor<?x?xi64>, tensor<256x4xf32>
  graph.output %0 : tensor<?x?x4xf32>
}
