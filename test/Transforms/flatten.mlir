// graph-flatten: modules are inlined, parameters move to the top under
// their full Hugging Face path, tied uses read the parameter itself, ops
// remember the module they came from, dropouts get rng streams.
// RUN: slapo-opt %s -graph-flatten | FileCheck %s
// RUN: slapo-opt %s -graph-flatten -mlir-print-debuginfo | FileCheck %s --check-prefix=LOC

// CHECK-LABEL: graph.model @tiny(
// CHECK-SAME:    %[[IDS:[^:]*]]: tensor<?x?xi64>
// CHECK-NEXT:    %[[WTE:.*]] = graph.param @transformer.wte.weight
// CHECK-NEXT:    %[[LNW:.*]] = graph.param @transformer.h.0.ln.weight
// CHECK-NEXT:    %[[LNB:.*]] = graph.param @transformer.h.0.ln.bias
// CHECK-NEXT:    %[[E:.*]] = graph.embedding %[[IDS]], %[[WTE]]
// CHECK-NEXT:    %[[D:.*]] = graph.dropout %[[E]] {probability = 1.000000e-01 : f64, rng_stream = 0 : i64}
// CHECK-NEXT:    %[[N:.*]] = graph.layer_norm %[[D]], %[[LNW]], %[[LNB]]
// CHECK-NEXT:    %[[D2:.*]] = graph.dropout %[[N]] {probability = 1.000000e-01 : f64, rng_stream = 1 : i64}
// CHECK-NEXT:    %[[L:.*]] = graph.linear %[[D2]], %[[WTE]] :
// CHECK-NEXT:    %[[LOSS:.*]] = graph.cross_entropy %[[L]]
// CHECK-NEXT:    graph.output %[[LOSS]]
// CHECK-NOT:     graph.module
// CHECK-NOT:     graph.param_ref

// LOC: graph.embedding {{.*}} loc(#[[WTELOC:.*]])
// LOC: graph.layer_norm {{.*}} loc(#[[LNLOC:.*]])
// LOC: graph.linear {{.*}} loc(#[[HEADLOC:.*]])
// LOC-DAG: #[[WTELOC]] = loc("transformer.wte"{{.*}})
// LOC-DAG: #[[LNLOC]] = loc("transformer.h.0.ln"{{.*}})
// LOC-DAG: #[[HEADLOC]] = loc("lm_head"{{.*}})

graph.model @tiny(%ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>) -> tensor<f32> {
  %h = graph.module @transformer(%x = %ids) : (tensor<?x?xi64>) -> tensor<?x?x8xf32> {
    %e = graph.module @wte(%i = %x) : (tensor<?x?xi64>) -> tensor<?x?x8xf32> {
      %w = graph.param @weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<16x8xf32>
      %0 = graph.embedding %i, %w : tensor<?x?xi64>, tensor<16x8xf32>
      graph.output %0 : tensor<?x?x8xf32>
    }
    %d = graph.dropout %e {probability = 0.1 : f64} : tensor<?x?x8xf32>
    %blocks = graph.module @h(%y = %d) : (tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
      %b0 = graph.module @"0"(%z = %y) : (tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
        %n = graph.module @ln(%u = %z) : (tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
          %g = graph.param @weight {init = #graph.init<ones>, trainable = true} : tensor<8xf32>
          %b = graph.param @bias {init = #graph.init<zeros>, trainable = true} : tensor<8xf32>
          %0 = graph.layer_norm %u, %g, %b {epsilon = 1.0e-5 : f64} : tensor<?x?x8xf32>, tensor<8xf32>, tensor<8xf32>
          graph.output %0 : tensor<?x?x8xf32>
        }
        %dd = graph.dropout %n {probability = 0.1 : f64} : tensor<?x?x8xf32>
        graph.output %dd : tensor<?x?x8xf32>
      }
      graph.output %b0 : tensor<?x?x8xf32>
    }
    graph.output %blocks : tensor<?x?x8xf32>
  }
  %logits = graph.module @lm_head(%x = %h) : (tensor<?x?x8xf32>) -> tensor<?x?x16xf32> {
    %w = graph.param_ref "transformer.wte.weight" : tensor<16x8xf32>
    %0 = graph.linear %x, %w : tensor<?x?x8xf32>, tensor<16x8xf32>
    graph.output %0 : tensor<?x?x16xf32>
  }
  %loss = graph.cross_entropy %logits, %targets : tensor<?x?x16xf32>, tensor<?x?xi64>
  graph.output %loss : tensor<f32>
}
