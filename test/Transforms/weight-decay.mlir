// AdamW's weight decay leaves out what Hugging Face Trainer leaves out: a
// layer norm's gamma and beta (GPT-2's ln_1 has no "norm" in its name; also
// when autocast reads it through a cast), biases, and names with a norm
// component (LLaMA's RMS norms); every other weight decays.
// RUN: slapo-import --config %models/gpt2-tiny.json | slapo-opt -graph-flatten -graph-generate-backward -graph-apply-optimizer="weight-decay=0.1" | FileCheck %s --check-prefix=GPT2
// RUN: slapo-import --config %models/gpt2-tiny.json | slapo-opt -graph-flatten -graph-specialize-shapes="batch=2 seq=8" -graph-autocast -graph-generate-backward -graph-apply-optimizer="weight-decay=0.1" | FileCheck %s --check-prefix=GPT2
// RUN: slapo-import --config %models/llama-tiny.json | slapo-opt -graph-flatten -graph-generate-backward -graph-apply-optimizer="weight-decay=0.1" | FileCheck %s --check-prefix=LLAMA
// RUN: slapo-import --config %models/gpt2-tiny.json | slapo-opt -graph-flatten -graph-generate-backward -graph-apply-optimizer="weight-decay=0.1 decay-norms-and-biases=true" | FileCheck %s --check-prefix=ALL

// GPT2-DAG: %[[WTE:.*]] = graph.param @transformer.wte.weight
// GPT2-DAG: %[[LNW:.*]] = graph.param @transformer.h.0.ln_1.weight
// GPT2-DAG: %[[LNB:.*]] = graph.param @transformer.h.0.ln_1.bias
// GPT2-DAG: %[[QKV:.*]] = graph.param @transformer.h.0.attn.c_attn.weight
// GPT2-DAG: %[[QKVB:.*]] = graph.param @transformer.h.0.attn.c_attn.bias
// GPT2-DAG: %[[LNF:.*]] = graph.param @transformer.ln_f.weight
// GPT2-DAG: graph.adamw_update %[[WTE]], {{.*}}weight_decay = 1.000000e-01
// GPT2-DAG: graph.adamw_update %[[LNW]], {{.*}}weight_decay = 0.000000e+00
// GPT2-DAG: graph.adamw_update %[[LNB]], {{.*}}weight_decay = 0.000000e+00
// GPT2-DAG: graph.adamw_update %[[QKV]], {{.*}}weight_decay = 1.000000e-01
// GPT2-DAG: graph.adamw_update %[[QKVB]], {{.*}}weight_decay = 0.000000e+00
// GPT2-DAG: graph.adamw_update %[[LNF]], {{.*}}weight_decay = 0.000000e+00

// LLAMA-DAG: %[[IN:.*]] = graph.param @model.layers.0.input_layernorm.weight
// LLAMA-DAG: %[[NORM:.*]] = graph.param @model.norm.weight
// LLAMA-DAG: %[[Q:.*]] = graph.param @model.layers.0.self_attn.q_proj.weight
// LLAMA-DAG: graph.adamw_update %[[IN]], {{.*}}weight_decay = 0.000000e+00
// LLAMA-DAG: graph.adamw_update %[[NORM]], {{.*}}weight_decay = 0.000000e+00
// LLAMA-DAG: graph.adamw_update %[[Q]], {{.*}}weight_decay = 1.000000e-01

// ALL-NOT: weight_decay = 0.000000e+00
