//===- SchedOps.td - schedule primitives as transform ops --*- tablegen -*-===//
//
// Each .sched primitive is an op of MLIR's transform dialect (added by
// SchedExtension), applied by the transform interpreter to the graph model.
// Every op takes the handle of the payload root and a path pattern in the
// .sched syntax (dotted Hugging Face path, `*` for one component, `**` for
// any number, `{0,2,4}` or `{0..11}` sets).
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_SCHED_OPS
#define SLAPO_SCHED_OPS

include "mlir/Dialect/Transform/IR/TransformDialect.td"
include "mlir/Dialect/Transform/Interfaces/TransformInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpBase.td"

class Sched_Op<string mnemonic, list<Trait> traits = []>
    : Op<Transform_Dialect, "sched." # mnemonic, !listconcat(traits, [
        DeclareOpInterfaceMethods<TransformOpInterface>,
        DeclareOpInterfaceMethods<MemoryEffectsOpInterface>])> {
  let cppNamespace = "::slapo::sched";
  // Every primitive reads the handle of the payload root and edits the
  // payload in place.
  let extraClassDefinition = [{
    void $cppClass::getEffects(
        ::llvm::SmallVectorImpl<::mlir::MemoryEffects::EffectInstance> &effects) {
      ::mlir::transform::onlyReadsHandle(getRootMutable(), effects);
      ::mlir::transform::modifiesPayload(effects);
    }
  }];
}

def Sched_FreezeOp : Sched_Op<"freeze"> {
  let summary = "make the matched parameters (or all under the matched modules) frozen";
  let arguments = (ins TransformHandleTypeInterface:$root, StrAttr:$path);
  let assemblyFormat = "$path `in` $root attr-dict `:` type($root)";
}

def Sched_UnfreezeOp : Sched_Op<"unfreeze"> {
  let summary = "make the matched parameters (or all under the matched modules) trainable";
  let arguments = (ins TransformHandleTypeInterface:$root, StrAttr:$path);
  let assemblyFormat = "$path `in` $root attr-dict `:` type($root)";
}

def Sched_CheckpointOp : Sched_Op<"checkpoint"> {
  let summary = "keep only the inputs of the matched modules; recompute them in backward";
  let arguments = (ins TransformHandleTypeInterface:$root, StrAttr:$path);
  let assemblyFormat = "$path `in` $root attr-dict `:` type($root)";
}

def Sched_LoraOp : Sched_Op<"lora"> {
  let summary = "add a LoRA adapter to the matched linear modules";
  let description = [{
    y = W x + b + (alpha / rank) * B(A(dropout(x))), with A
    (`<path>.lora_A.weight`, [rank, in]) kaiming-uniform(a = sqrt(5)) and B
    (`<path>.lora_B.weight`, [out, rank]) zero, as PEFT does; the base weight
    and bias are frozen.
  }];
  let arguments = (ins TransformHandleTypeInterface:$root, StrAttr:$path,
                       I64Attr:$rank, F64Attr:$alpha,
                       DefaultValuedAttr<F64Attr, "0.0">:$dropout);
  let assemblyFormat = "$path `in` $root attr-dict `:` type($root)";
}

def Sched_DecomposeOp : Sched_Op<"decompose"> {
  let summary = "take the bias out of the matched linear modules";
  let description = [{
    `graph.linear %x, %w, %b` becomes `graph.add (graph.linear %x, %w), %b`,
    so later primitives can fuse the bias with what follows it.
  }];
  let arguments = (ins TransformHandleTypeInterface:$root, StrAttr:$path);
  let assemblyFormat = "$path `in` $root attr-dict `:` type($root)";
}

def Sched_FuseOp : Sched_Op<"fuse"> {
  let summary = "fuse a pattern of ops under the matched modules into one kernel";
  let description = [{
    Records `{pattern, path, at}` in the model's `fusions`; `graph-fuse`
    rewrites each instance whose first op (the bias add) lies in the module
    once the model is flat. Patterns: `bias_gelu` (a bias add, then gelu)
    and `bias_dropout_add_layer_norm` (a bias add, optional dropout, the
    residual add, then layer norm).
  }];
  let arguments = (ins TransformHandleTypeInterface:$root, StrAttr:$path,
                       StrAttr:$pattern);
  let assemblyFormat = "$path `in` $root attr-dict `:` type($root)";
}

def Sched_ReplaceOp : Sched_Op<"replace"> {
  let summary = "swap the attention of the matched modules between forms";
  let description = [{
    `attention = "decomposed"` rewrites each graph.attention under the
    modules into matmul, scale, causal_mask, softmax, dropout and matmul;
    `attention = "fused"` finds that chain and makes it one graph.attention.
  }];
  let arguments = (ins TransformHandleTypeInterface:$root, StrAttr:$path,
                       StrAttr:$attention);
  let assemblyFormat = "$path `in` $root attr-dict `:` type($root)";
}

def Sched_SparsifyOp : Sched_Op<"sparsify"> {
  let summary = "compute the ReLU feed-forward or the attention of the matched modules block-sparse";
  let description = [{
    The feed-forward directly in each matched module (a linear module,
    graph.relu, a linear module, frozen) runs graph.block_sparse_linear
    under a mask of live (row tile of `rows` tokens, block of `block`
    features) tiles; `predictor = "oracle"` computes the mask exactly from
    the up-projection, `predictor = "train"` uses that mask and trains a
    predictor beside it (graph-collect-predictor-losses makes its loss the
    model's), any other value is the absolute path of the trained
    predictors' safetensors file; `threshold` is the score (oracle) or the
    probability (predictor) a live tile exceeds.

    A module holding a causal graph.attention instead gets a mask of live
    (query tile, key tile) pairs of `block` positions (rows = block): the
    oracle's from the attention probabilities above `threshold`, a
    predictor's from `rank`-a-head projections of pooled positions
    (rank 0: the default, 16); predictor=train learns the pairs some
    probability of which is above `live` (negative: the default, 0.01).
  }];
  let arguments = (ins TransformHandleTypeInterface:$root, StrAttr:$path,
                       I64Attr:$block, I64Attr:$rows, StrAttr:$predictor,
                       F64Attr:$threshold,
                       DefaultValuedAttr<I64Attr, "0">:$rank,
                       DefaultValuedAttr<F64Attr, "-1.0">:$live);
  let assemblyFormat = "$path `in` $root attr-dict `:` type($root)";
}

def Sched_ShardOp : Sched_Op<"shard"> {
  let summary = "split the matched parameters over the tensor-parallel ranks";
  let description = [{
    Marks each matched parameter `shard = {axis, parts, at}`: rank r of a
    tp-way group holds slice r of `axis`, cut separately in each of `parts`
    equal parts (GPT-2's fused qkv weight has 3). `at` is the statement's
    location, for errors found when the tp degree is known.
  }];
  let arguments = (ins TransformHandleTypeInterface:$root, StrAttr:$path,
                       I64Attr:$axis, DefaultValuedAttr<I64Attr, "1">:$parts);
  let assemblyFormat = "$path `in` $root attr-dict `:` type($root)";
}

def Sched_SyncOp : Sched_Op<"sync"> {
  let summary = "insert a tensor-parallel collective pair at the matched modules";
  let description = [{
    With a `forward` collective the pair goes on every output of the module
    (the bias of a linear producing it is added after the collective); with
    only a `backward` one, on every input. The partner is Megatron's (see
    graph.sync).
  }];
  let arguments = (ins TransformHandleTypeInterface:$root, StrAttr:$path,
                       StrAttr:$forward, StrAttr:$backward, BoolAttr:$at_output);
  let assemblyFormat = "$path `in` $root attr-dict `:` type($root)";
}

#endif // SLAPO_SCHED_OPS
