// The whole training step for each family: every trainable parameter gets
// exactly one gradient and one update; frozen ones get neither.
// RUN: slapo-import --config %models/gpt2-tiny.json | slapo-opt -graph-flatten -graph-specialize-shapes="batch=2 seq=8" -graph-generate-backward -graph-apply-optimizer="optimizer=sgd" | FileCheck %s --check-prefix=GPT2
// RUN: slapo-import --config %models/opt-tiny-postln-proj.json | slapo-opt -graph-flatten -graph-specialize-shapes="batch=2 seq=8" -graph-generate-backward -graph-apply-optimizer | FileCheck %s --check-prefix=OPT
// RUN: slapo-import --config %models/llama-tiny.json | slapo-opt -graph-flatten -graph-generate-backward -graph-apply-optimizer="optimizer=adamw weight-decay=0.1" | FileCheck %s --check-prefix=LLAMA
// RUN: slapo-import --config %models/gpt2-tiny.json | slapo-opt -graph-flatten -graph-generate-backward | grep -c "graph.gradient" | FileCheck %s --check-prefix=COUNT
// RUN: slapo-import --config %models/gpt2-tiny.json | slapo-opt -graph-flatten -graph-generate-backward | slapo-opt | grep -c "graph.gradient" | FileCheck %s --check-prefix=COUNT
// RUN: slapo-import --config %models/gpt2-tiny.json | %expect-exit 1 slapo-opt -graph-flatten -graph-generate-backward -graph-apply-optimizer="optimizer=lion" 2>&1 | FileCheck %s --check-prefix=BADOPT
// RUN: slapo-import --config %models/gpt2-tiny.json | %expect-exit 1 slapo-opt -graph-generate-backward 2>&1 | FileCheck %s --check-prefix=NOTFLAT

// The tied embedding accumulates the gradients of both of its uses.
// GPT2: %[[WTE:.*]] = graph.param @transformer.wte.weight
// GPT2: %[[HEAD:.*]] = graph.linear_grad_weight %{{.*}}, %{{.*}} : tensor<2x8x64xf32>, tensor<2x8x256xf32>
// GPT2: %[[EMB:.*]] = graph.embedding_grad %{{.*}}, %{{.*}} {rows = 256 : i64}
// GPT2: %[[SUM:.*]] = graph.add %[[HEAD]], %[[EMB]] : tensor<256x64xf32>, tensor<256x64xf32>
// GPT2: graph.sgd_update %[[WTE]], %[[SUM]] : tensor<256x64xf32>
// GPT2-NOT: graph.gradient

// OPT: graph.attention {{.*}} causal {dropout = 5.000000e-02 : f64, rng_stream = 0 : i64
// OPT: graph.dropout {{.*}} rng_stream = 1 : i64
// OPT: graph.dropout {{.*}} rng_stream = 2 : i64
// OPT: graph.adamw_update %{{.*}}, %{{.*}} {beta1 = 9.000000e-01 : f64, beta2 = 0.99899999999999999 : f64, epsilon = 1.000000e-08 : f64, weight_decay = 1.000000e-02 : f64} : tensor<512x32xf32>

// LLAMA: graph.adamw_update {{.*}} weight_decay = 1.000000e-01 : f64

// COUNT: 28

// BADOPT: error: unknown optimizer 'lion', expected sgd or adamw
// NOTFLAT: error: 'graph.model' op has graph.module ops left: run graph-flatten before graph-generate-backward
