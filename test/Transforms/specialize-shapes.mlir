// graph-specialize-shapes: batch and sequence become static everywhere.
// RUN: slapo-import --config %models/gpt2-tiny.json | slapo-opt -graph-flatten -graph-specialize-shapes="batch=3 seq=5" | FileCheck %s
// RUN: slapo-import --config %models/llama-tiny.json | slapo-opt -graph-flatten -graph-specialize-shapes="batch=2 seq=7" | FileCheck %s --check-prefix=LLAMA
// RUN: slapo-import --config %models/gpt2-tiny.json | %expect-exit 1 slapo-opt -graph-flatten -graph-specialize-shapes="batch=2 seq=129" 2>&1 | FileCheck %s --check-prefix=TOOLONG
// RUN: slapo-import --config %models/gpt2-tiny.json | %expect-exit 1 slapo-opt -graph-specialize-shapes="batch=2 seq=8" 2>&1 | FileCheck %s --check-prefix=NOTFLAT
// RUN: slapo-import --config %models/gpt2-tiny.json | %expect-exit 1 slapo-opt -graph-flatten -graph-specialize-shapes="batch=0 seq=8" 2>&1 | FileCheck %s --check-prefix=ZERO

// CHECK: graph.model @gpt2(%{{.*}}: tensor<3x5xi64>, %{{.*}}: tensor<3x5xi64>) -> tensor<f32>
// CHECK-NOT: ?x
// CHECK: graph.attention {{.*}} : tensor<3x4x5x16xf32>, tensor<3x4x5x16xf32>, tensor<3x4x5x16xf32>
// CHECK: graph.cross_entropy {{.*}} : tensor<3x5x256xf32>, tensor<3x5xi64>

// LLAMA: graph.rope {{.*}} : tensor<2x2x7x16xf32>
// LLAMA: graph.attention {{.*}} : tensor<2x4x7x16xf32>, tensor<2x2x7x16xf32>, tensor<2x2x7x16xf32>

// TOOLONG: error: 'graph.model' op sequence length 129 exceeds the 128 positions of the model (max_positions)
// NOTFLAT: error: 'graph.model' op has graph.module ops left: run graph-flatten before graph-specialize-shapes
// ZERO: error: graph-specialize-shapes needs batch > 0 and seq > 0, got batch=0 seq=8
