// What the .splan writer takes and refuses (slapo-opt --compile writes it).
// RUN: split-file %s %t
//
// A reshape of a reshape: both views are of the embedding's bytes.
// RUN: slapo-opt %t/views.mlir --compile --batch 2 --seq 3 --print-plan -o %t/views.splan | FileCheck %s --check-prefix=VIEWS
// RUN: slapo-run %t/views.splan --info | FileCheck %s --check-prefix=INFO
// RUN: slapo-run %t/views.splan --steps 2 | FileCheck %s --check-prefix=TRAIN
// VIEWS:      %[[X:.*]] = plan.tensor "embedding" "activation"
// VIEWS:      %[[V1:.*]] = plan.view %[[X]] : tensor<2x3x4xf32> -> tensor<2x3x2x2xf32>
// VIEWS-NEXT: %[[V2:.*]] = plan.view %[[V1]] : tensor<2x3x2x2xf32> -> tensor<2x3x4xf32>
// VIEWS:      plan.call "linear" ins(%[[V2]], 
// INFO: "parameters": 1024
// TRAIN: trained 2 steps
//
// A model with bf16 parameters compiles into nothing the runtime would
// refuse (parameters are f32 master weights; --precision bf16 casts them):
// no plan.
// RUN: %expect-exit 1 slapo-opt %t/bf16.mlir --compile --batch 2 --seq 3 -o %t/bf16.splan 2>&1 | FileCheck %s --check-prefix=BF16
// RUN: test ! -e %t/bf16.splan
// BF16: error: 'plan.tensor' op 'embed.weight' (param) is bf16, but parameters, their gradients and optimizer state are f32 master copies: keep the model f32 and compile with --precision bf16
//
// f16 activations: slapo-run has no f16 kernels, so no plan either.
// RUN: %expect-exit 1 slapo-opt %t/f16.mlir --compile --batch 2 --seq 3 -o %t/f16.splan 2>&1 | FileCheck %s --check-prefix=F16
// RUN: test ! -e %t/f16.splan
// F16: error: 'plan.tensor' op has element type 'f16', which slapo-run cannot execute yet (f32, bf16 and i64 tensors only): compile with --precision bf16 or fp32
//
// A kernel attribute the .splan cannot hold is refused, not dropped (an
// ArrayAttr of integers where the kernels read i64 arrays).
// RUN: %expect-exit 1 slapo-opt %t/attr.mlir --compile --batch 2 --seq 3 -o %t/attr.splan 2>&1 | FileCheck %s --check-prefix=ATTR
// RUN: test ! -e %t/attr.splan
// ATTR: error: 'plan.call' op attribute 'hint' ([1, 2]) has a kind the .splan cannot hold (integer, float, bool, unit, i64 array, string or type)

//--- views.mlir
graph.model @step(%ids: tensor<?x?xi64>, %t: tensor<?x?xi64>) -> tensor<f32> attributes {config = {model_type = "toy", vocab_size = 256 : i64, max_positions = 8 : i64}} {
  %e = graph.param @embed.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<256x4xf32>
  %x = graph.embedding %ids, %e : tensor<?x?xi64>, tensor<256x4xf32>
  %r = graph.reshape %x : tensor<?x?x4xf32> -> tensor<?x?x2x2xf32>
  %rr = graph.reshape %r : tensor<?x?x2x2xf32> -> tensor<?x?x4xf32>
  %l = graph.linear %rr, %e : tensor<?x?x4xf32>, tensor<256x4xf32>
  %loss = graph.cross_entropy %l, %t : tensor<?x?x256xf32>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}

//--- bf16.mlir
graph.model @step(%ids: tensor<?x?xi64>, %t: tensor<?x?xi64>) -> tensor<f32> {
  %e = graph.param @embed.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<5x4xbf16>
  %x = graph.embedding %ids, %e : tensor<?x?xi64>, tensor<5x4xbf16>
  %l = graph.linear %x, %e : tensor<?x?x4xbf16>, tensor<5x4xbf16>
  %loss = graph.cross_entropy %l, %t : tensor<?x?x5xbf16>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}

//--- f16.mlir
graph.model @step(%ids: tensor<?x?xi64>, %t: tensor<?x?xi64>) -> tensor<f32> {
  %e = graph.param @embed.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<5x4xf32>
  %h = graph.cast %e : tensor<5x4xf32> to f16
  %x = graph.embedding %ids, %h : tensor<?x?xi64>, tensor<5x4xf16>
  %l = graph.linear %x, %h : tensor<?x?x4xf16>, tensor<5x4xf16>
  %loss = graph.cross_entropy %l, %t : tensor<?x?x5xf16>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}

//--- attr.mlir
graph.model @step(%ids: tensor<?x?xi64>, %t: tensor<?x?xi64>) -> tensor<f32> attributes {config = {model_type = "toy", vocab_size = 256 : i64, max_positions = 8 : i64}} {
  %e = graph.param @embed.weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<256x4xf32>
  %x = graph.embedding %ids, %e {hint = [1, 2]} : tensor<?x?xi64>, tensor<256x4xf32>
  %l = graph.linear %x, %e : tensor<?x?x4xf32>, tensor<256x4xf32>
  %loss = graph.cross_entropy %l, %t : tensor<?x?x256xf32>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}
