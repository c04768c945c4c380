//===- Passes.td - slapo graph passes ----------------------*- tablegen -*-===//

#ifndef SLAPO_TRANSFORMS_PASSES
#define SLAPO_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def GraphFlatten : Pass<"graph-flatten", "mlir::ModuleOp"> {
  let summary = "Inline the module hierarchy into one flat model body";
  let description = [{
    Replaces every `graph.module` by its body. Parameters move to the top of
    the model and take their whole Hugging Face path as their name; tied
    `graph.param_ref` uses become uses of the parameter itself. Each op's
    location becomes the path of the module it came from, and every
    dropout gets its own `rng_stream`.
  }];
  let dependentDialects = ["::slapo::graph::GraphDialect"];
}

def GraphSpecializeShapes : Pass<"graph-specialize-shapes", "mlir::ModuleOp"> {
  let summary = "Fix the batch size and sequence length of a flat model";
  let description = [{
    Gives the model inputs the shape [batch, seq] and re-infers every
    result type, so that no dynamic dimension remains. The sequence length
    must fit the model's positions.
  }];
  let options = [
    Option<"batch", "batch", "int64_t", "0", "rows per training step">,
    Option<"seq", "seq", "int64_t", "0", "tokens per row">
  ];
}

def GraphFuse : Pass<"graph-fuse", "mlir::ModuleOp"> {
  let summary = "Rewrite the patterns that `fuse` asked for into fused ops";
  let description = [{
    For each `{pattern, path}` in a flat model's `fusions`, every instance
    whose bias add came from that module becomes one op:
    `graph.bias_gelu` for gelu(x + b), `graph.bias_dropout_add_layer_norm`
    for layer_norm(residual + dropout(x + b)). An entry that matches nothing
    is an error at its `.sched` statement.
  }];
}

def GraphAutocast : Pass<"graph-autocast", "mlir::ModuleOp"> {
  let summary = "Mixed precision: 16-bit compute, f32 statistics and master weights";
  let description = [{
    Rewrites a flat model (before graph-generate-backward) into the
    Megatron / PyTorch-autocast recipe: matmuls, attention, activations and
    elementwise ops compute in `precision` (bf16 or f16); layer_norm,
    rms_norm, softmax, cross_entropy and the fused norms take f32 operands
    and give f32 results; layout ops keep their input's type. Parameters
    stay f32 (the master weights): each one a 16-bit op reads is cast once,
    and that cast is shared by all its readers, so its gradient, and the
    optimizer state, stay f32. The loss is f32. The rule of every op is in
    the table at the top of lib/Transforms/Autocast.cpp.
  }];
  let options = [
    Option<"precision", "precision", "std::string", "\"bf16\"",
           "the compute type: bf16 or f16">
  ];
}

def GraphPartitionTensorParallel
    : Pass<"graph-partition-tensor-parallel", "mlir::ModuleOp"> {
  let summary = "Check shards and syncs; give split values per-rank shapes";
  let description = [{
    Works out for every value of a flat model whether tensor-parallel ranks
    hold all of it, a slice of one axis or a partial sum, starting from the
    parameters that `shard` marked, and refuses a model whose syncs do not
    make the loss and every gradient equal to one process's (errors point
    at the `.sched` statement). With `tp` above 1 every split value gets
    its per-rank shape, syncs get the group size and vocabulary-split
    embeddings and cross-entropies are marked `vocab_parallel = V` (the
    whole vocabulary); a vocabulary `tp` does not divide is padded to
    ceil(V / tp) per rank. With `tp` 1 the syncs are removed.
  }];
  let options = [
    Option<"tp", "tp", "int64_t", "1", "tensor-parallel degree">
  ];
}

def GraphTestSharding : Pass<"graph-test-sharding", "mlir::ModuleOp"> {
  let summary = "Test pass: print the sharding analysis as attributes";
  let description = [{
    For the tests of the sharding rules (ShardingOpInterface): runs the
    analysis of graph-partition-tensor-parallel on each flat model and
    records on every op with results a `sharding` array with each result's
    state ("replicated", "a partial sum", "split on axis N"), and
    `vocab_parallel` on the ops that work on a vocabulary slice. Changes
    nothing else; refuses what the analysis refuses.
  }];
}

def GraphCollectPredictorLosses
    : Pass<"graph-collect-predictor-losses", "mlir::ModuleOp"> {
  let summary = "Make the sparsity predictors' losses the loss of a flat model";
  let description = [{
    For `sparsify ... predictor=train`: the graph.sigmoid_bce of each
    layer's predictor (marked `predictor_loss`) gets scale 1/L and their
    sum becomes the model's loss (its first result), so the step trains the
    predictors; the language-model loss and whatever only it used are
    erased. Each layer's graph.mask_agreement (`predictor_stats`) is joined
    in layer order into one [4 L] tensor marked `predictor_stats`, which the
    plan reports. Every other parameter must be frozen: the predictors
    learn the frozen model's liveness. A model without predictor losses is
    left as it is.
  }];
}

def GraphGenerateBackward : Pass<"graph-generate-backward", "mlir::ModuleOp"> {
  let summary = "Append the backward pass: gradients of every trainable parameter";
  let description = [{
    Reverse-mode autodiff of a flat model's loss through AdjointOpInterface.
    Only values that depend on a trainable parameter get gradients, so
    frozen weights get none. Ends with one `graph.gradient` per trainable
    parameter that the loss depends on.
  }];
}

def GraphApplyOptimizer : Pass<"graph-apply-optimizer", "mlir::ModuleOp"> {
  let summary = "Turn each parameter gradient into an optimizer update";
  let description = [{
    AdamW decays every weight but those Hugging Face Trainer exempts
    (`get_decay_parameter_names`): the gamma and beta of a layer norm, and
    parameters whose lower-cased name contains `bias`, `layernorm`,
    `rmsnorm`, or a component `norm` or ending in `_norm`.
  }];
  let options = [
    Option<"optimizer", "optimizer", "std::string", "\"adamw\"",
           "sgd (plain: no momentum, no weight decay) or adamw">,
    Option<"beta1", "beta1", "double", "0.9", "AdamW beta1">,
    Option<"beta2", "beta2", "double", "0.999", "AdamW beta2">,
    Option<"epsilon", "epsilon", "double", "1e-8", "AdamW epsilon">,
    Option<"weightDecay", "weight-decay", "double", "0.01",
           "AdamW decoupled weight decay">,
    Option<"decayNormsAndBiases", "decay-norms-and-biases", "bool", "false",
           "also decay biases and norm weights (Hugging Face Trainer "
           "exempts them)">
  ];
}

#endif // SLAPO_TRANSFORMS_PASSES
