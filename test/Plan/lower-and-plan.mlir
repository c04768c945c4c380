// convert-graph-to-plan and plan-assign-offsets on a small training step.
// RUN: slapo-opt %s -graph-generate-backward -graph-apply-optimizer -convert-graph-to-plan | FileCheck %s --check-prefix=LOWER
// RUN: slapo-opt %s -graph-generate-backward -graph-apply-optimizer -convert-graph-to-plan -plan-assign-offsets | FileCheck %s --check-prefix=MEM
// RUN: slapo-opt %s -graph-generate-backward -graph-apply-optimizer="optimizer=sgd" -convert-graph-to-plan -plan-assign-offsets | FileCheck %s --check-prefix=SGD
// RUN: %expect-exit 1 slapo-opt %s -graph-generate-backward -convert-graph-to-plan 2>&1 | FileCheck %s --check-prefix=NOOPT

// LOWER-LABEL: plan.program @step
// LOWER-SAME:    batch = 2 : i64
// LOWER-SAME:    optimizer = "adamw"
// LOWER-SAME:    seq = 3 : i64
// LOWER:       %[[IDS:.*]] = plan.tensor "input_ids" "input" : tensor<2x3xi64>
// LOWER:       %[[TGT:.*]] = plan.tensor "targets" "input" : tensor<2x3xi64>
// LOWER:       %[[E:.*]] = plan.tensor "embed.weight" "param" {init = #graph.init<normal, std = 2.000000e-02>, trainable = true} : tensor<5x4xf32>
// LOWER:       %[[F:.*]] = plan.tensor "frozen.weight" "param" {init = #graph.init<normal, std = 2.000000e-02>, trainable = false} : tensor<5x4xf32>
// LOWER:       %[[X:.*]] = plan.tensor "embedding" "activation" : tensor<2x3x4xf32>
// LOWER:       plan.call "embedding" ins(%[[IDS]], %[[E]] : tensor<2x3xi64>, tensor<5x4xf32>) outs(%[[X]] : tensor<2x3x4xf32>)
// A reshape is a view of the same bytes, not a copy.
// LOWER:       %[[V:.*]] = plan.view %[[X]] : tensor<2x3x4xf32> -> tensor<6x4xf32>
// LOWER:       plan.call "linear" ins(%[[V]], %[[F]] : tensor<6x4xf32>, tensor<5x4xf32>)
// LOWER:       plan.call "cross_entropy"
// LOWER:       %[[G:.*]] = plan.tensor "grad:embedding_grad" "grad" : tensor<5x4xf32>
// LOWER:       plan.call "embedding_grad" ins(%[[IDS]], %{{.*}} : tensor<2x3xi64>, tensor<2x3x4xf32>) outs(%[[G]] : tensor<5x4xf32>)
// AdamW updates the parameter in place and owns two moments of its shape.
// LOWER:       %[[M:.*]] = plan.tensor "embed.weight.exp_avg" "optimizer_state" : tensor<5x4xf32>
// LOWER:       %[[V2:.*]] = plan.tensor "embed.weight.exp_avg_sq" "optimizer_state" : tensor<5x4xf32>
// LOWER:       plan.call "adamw_update" ins(%[[G]] : tensor<5x4xf32>) outs(%[[E]], %[[M]], %[[V2]] : tensor<5x4xf32>, tensor<5x4xf32>, tensor<5x4xf32>) {beta1
// The frozen weight gets no gradient and no optimizer state.
// LOWER-NOT:   frozen.weight.exp_avg
// LOWER:       plan.loss

// Resident tensors come first and back to back; activations follow. The
// gradient accumulator (outside the arena) holds the one trainable
// gradient, 5 x 4 floats, unpadded.
// MEM:       plan.program @step attributes {arena_bytes = [[ARENA:[0-9]+]] : i64
// MEM-SAME:    memory = {accumulator = 80 : i64, activations = {{[0-9]+}} : i64, grads = 128 : i64, optimizer = 256 : i64, params = 256 : i64, peak = [[ARENA]] : i64, workspace = 0 : i64}
// MEM:       plan.tensor "input_ids" "input" {offset = 0 : i64}
// MEM:       plan.tensor "targets" "input" {offset = 64 : i64}
// MEM:       plan.tensor "embed.weight" "param" {{.*}}offset = 128 : i64
// MEM:       plan.tensor "frozen.weight" "param" {{.*}}offset = 256 : i64
// MEM:       plan.tensor "embedding" "activation" {offset = [[A:[0-9]+]] : i64}

// SGD keeps no optimizer state.
// SGD:       memory = {accumulator = 80 : i64, activations = {{[0-9]+}} : i64, grads = 128 : i64, optimizer = 0 : i64, params = 256 : i64
// SGD:       plan.call "sgd_update" ins(%{{.*}} : tensor<5x4xf32>) outs(%{{.*}} : tensor<5x4xf32>)

// NOOPT: error: 'graph.model' op has gradients without updates: run graph-apply-optimizer first

graph.model @step(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %e = graph.param @embed.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<5x4xf32>
  %f = graph.param @frozen.weight {init = #graph.init<normal, std = 0.02>, trainable = false} : tensor<5x4xf32>
  %x = graph.embedding %ids, %e : tensor<2x3xi64>, tensor<5x4xf32>
  %r = graph.reshape %x : tensor<2x3x4xf32> -> tensor<6x4xf32>
  %l = graph.linear %r, %f : tensor<6x4xf32>, tensor<5x4xf32>
  %lr = graph.reshape %l : tensor<6x5xf32> -> tensor<2x3x5xf32>
  %loss = graph.cross_entropy %lr, %t : tensor<2x3x5xf32>, tensor<2x3xi64>
  graph.output %loss : tensor<f32>
}
