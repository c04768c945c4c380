//===- GraphOps.td - graph dialect operations --------------*- tablegen -*-===//

#ifndef SLAPO_GRAPH_OPS
#define SLAPO_GRAPH_OPS

include "graph/GraphDialect.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/FunctionInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "graph/GraphInterfaces.td"

class Graph_Op<string mnemonic, list<Trait> traits = []>
    : Op<Graph_Dialect, mnemonic, traits>;

// Ops with a tensor-parallel sharding rule (GraphSharding.cpp).
defvar ShardingRule = DeclareOpInterfaceMethods<ShardingOpInterface>;

def FloatTensor : RankedTensorOf<[AnyFloat]>;
def IdTensor : RankedTensorOf<[AnySignlessInteger]>;

// Compute ops infer their result types from operands and attributes; the
// shape checks live in inferReturnTypes, so they run both when an op is built
// and when it is parsed or verified.
class Graph_ComputeOp<string mnemonic, list<Trait> traits = []>
    : Graph_Op<mnemonic, !listconcat(traits, [Pure, InferTypeOpAdaptor])>;

// Forward ops that reverse-mode autodiff can differentiate.
class Graph_DiffOp<string mnemonic, list<Trait> traits = []>
    : Graph_ComputeOp<mnemonic, !listconcat(traits,
        [DeclareOpInterfaceMethods<AdjointOpInterface>])>;

//===----------------------------------------------------------------------===//
// Structure
//===----------------------------------------------------------------------===//

def Graph_ModelOp : Graph_Op<"model", [
    FunctionOpInterface, IsolatedFromAbove]> {
  let summary = "a whole model: token ids and targets in, loss out";
  let description = [{
    The root of a model. Its block arguments are the model inputs (token ids
    `[batch, seq]` and the targets of the same shape, `ignore_index` where no
    loss is counted) and its `graph.output` yields the loss. The symbol name
    is the model's name and is not part of any parameter path. `config` keeps
    the facts of the Hugging Face config that later stages need.

    ```mlir
    graph.model @gpt2(%input_ids: tensor<?x?xi64>, %targets: tensor<?x?xi64>)
        -> tensor<f32> attributes {config = {model_type = "gpt2"}} {
      ...
      graph.output %loss : tensor<f32>
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<FunctionType>:$function_type,
                       OptionalAttr<DictArrayAttr>:$arg_attrs,
                       OptionalAttr<DictArrayAttr>:$res_attrs,
                       OptionalAttr<DictionaryAttr>:$config);
  let regions = (region SizedRegion<1>:$body);
  let extraClassDeclaration = [{
    ::mlir::Region *getCallableRegion() { return &getBody(); }
    ::llvm::ArrayRef<::mlir::Type> getArgumentTypes() {
      return getFunctionType().getInputs();
    }
    ::llvm::ArrayRef<::mlir::Type> getResultTypes() {
      return getFunctionType().getResults();
    }
  }];
  let hasCustomAssemblyFormat = 1;
  let hasRegionVerifier = 1;
}

def Graph_GraphModuleOp : Graph_Op<"module", [
    IsolatedFromAbove]> {
  let summary = "a submodule of the model, named like its Hugging Face attribute";
  let description = [{
    Runs its body once on its operands, which become the body's arguments;
    the body's `graph.output` gives the results. `name` is the module's
    attribute name in its parent (`transformer`, `h`, `0`, `attn`), so the
    dotted path of the enclosing module names is the one Hugging Face uses
    (`transformer.h.0.attn`); paths are unique within a model. (Modules and
    parameters are not MLIR symbols: they produce values.) The body is isolated from above: a module's
    operands are everything it reads besides its own parameters.

    ```mlir
    %y = graph.module @c_proj(%x = %h) : (tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
      %w = graph.param @weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<768x768xf32>
      %b = graph.param @bias {init = #graph.init<zeros>, trainable = true} : tensor<768xf32>
      %0 = graph.linear %x, %w, %b in_out : tensor<?x?x768xf32>, tensor<768x768xf32>, tensor<768xf32>
      graph.output %0 : tensor<?x?x768xf32>
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$name, Variadic<AnyType>:$inputs);
  let results = (outs Variadic<AnyType>:$outputs);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasRegionVerifier = 1;
}

def Graph_OutputOp : Graph_Op<"output", [
    Pure, ReturnLike, Terminator, ParentOneOf<["ModelOp", "GraphModuleOp"]>,
    ShardingRule]> {
  let summary = "the results of a model or module body";
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

def Graph_ParamOp : Graph_Op<"param", [
    Pure, ParentOneOf<["GraphModuleOp", "ModelOp"]>, ShardingRule]> {
  let summary = "a named parameter of the enclosing module";
  let description = [{
    `@weight` inside `transformer.h.0.attn.c_attn` is the parameter
    `transformer.h.0.attn.c_attn.weight`. `init` says how it is initialised;
    `trainable = false` freezes it (no gradient, no optimizer state).
    After `graph-flatten` parameters sit directly in the model and their
    name is the whole dotted path.
  }];
  let arguments = (ins SymbolNameAttr:$name, Graph_InitAttr:$init,
                       BoolAttr:$trainable);
  let results = (outs AnyRankedTensor:$value);
  let assemblyFormat = "$name attr-dict `:` type($value)";
  let hasVerifier = 1;
}

def Graph_ParamRefOp : Graph_Op<"param_ref", [Pure]> {
  let summary = "a use of a parameter owned by another module (tied weights)";
  let description = [{
    Reads the parameter with the given dotted path, e.g. GPT-2's `lm_head`
    reads `"transformer.wte.weight"`. It is the same tensor, counted once, and
    its gradient accumulates over every use.
  }];
  let arguments = (ins StrAttr:$target);
  let results = (outs AnyRankedTensor:$value);
  let assemblyFormat = "$target attr-dict `:` type($value)";
}

//===----------------------------------------------------------------------===//
// Compute
//===----------------------------------------------------------------------===//

def Graph_EmbeddingOp : Graph_DiffOp<"embedding", [ShardingRule]> {
  let summary = "rows of a table picked by token ids: [...] x [V, D] -> [..., D]";
  let arguments = (ins IdTensor:$ids, FloatTensor:$table);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$ids `,` $table attr-dict `:` type($ids) `,` type($table)";
}

def Graph_PositionIdsOp : Graph_ComputeOp<"position_ids"> {
  let summary = "offset + arange(seq) for every row of [batch, seq] token ids";
  let arguments = (ins IdTensor:$ids, DefaultValuedAttr<I64Attr, "0">:$offset);
  let results = (outs IdTensor:$result);
  let assemblyFormat = "$ids attr-dict `:` type($ids)";
}

def Graph_LinearOp : Graph_DiffOp<"linear", [ShardingRule]> {
  let summary = "x W^T + b over the last axis";
  let description = [{
    `input [..., in]`, `weight [out, in]` (nn.Linear) or, with `in_out`,
    `weight [in, out]` (GPT-2's Conv1D), optional `bias [out]`; the result is
    `[..., out]`. Kept as one op so schedules can shard it or attach LoRA.
  }];
  let arguments = (ins FloatTensor:$input, FloatTensor:$weight,
                       Optional<FloatTensor>:$bias, UnitAttr:$in_out);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? (`in_out` $in_out^)? attr-dict
    `:` type($input) `,` type($weight) (`,` type($bias)^)?
  }];
}

def Graph_MatmulOp : Graph_DiffOp<"matmul", [ShardingRule]> {
  let summary = "batched matrix product [..., M, K] x [..., K, N] -> [..., M, N]";
  let description = [{
    With `transpose_b` the right operand is `[..., N, K]`. Batch dimensions
    must agree exactly (no broadcasting).
  }];
  let arguments = (ins FloatTensor:$lhs, FloatTensor:$rhs, UnitAttr:$transpose_b);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`transpose_b` $transpose_b^)? attr-dict `:` type($lhs) `,` type($rhs)
  }];
}

def Graph_LayerNormOp : Graph_DiffOp<"layer_norm", [ShardingRule]> {
  let summary = "layer normalisation over the last axis, optionally affine";
  let description = [{
    `(x - mean) / sqrt(var + epsilon) * gamma + beta` with the biased variance.
    `gamma` and `beta` (both `[D]`) are given together or not at all.
  }];
  let arguments = (ins FloatTensor:$input, Variadic<FloatTensor>:$affine,
                       F64Attr:$epsilon);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input (`,` $affine^)? attr-dict `:` type($input) (`,` type($affine)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::Value getGamma() { return getAffine().empty() ? nullptr : getAffine()[0]; }
    ::mlir::Value getBeta() { return getAffine().empty() ? nullptr : getAffine()[1]; }
  }];
}

def Graph_RmsNormOp : Graph_DiffOp<"rms_norm", [ShardingRule]> {
  let summary = "x / sqrt(mean(x^2) + epsilon) * weight over the last axis";
  let arguments = (ins FloatTensor:$input, FloatTensor:$weight, F64Attr:$epsilon);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input `,` $weight attr-dict `:` type($input) `,` type($weight)";
}

def Graph_CausalMaskOp : Graph_DiffOp<"causal_mask", [ShardingRule]> {
  let summary = "attention scores [..., T, S] with the future masked out";
  let description = [{
    Query t sees keys up to t + (S - T); later entries become -inf (or,
    with `zero`, 0: the adjoint, which passes no gradient to them).
  }];
  let arguments = (ins FloatTensor:$input, UnitAttr:$zero);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input (`zero` $zero^)? attr-dict `:` type($input)";
}

def Graph_SoftmaxOp : Graph_DiffOp<"softmax", [ShardingRule]> {
  let summary = "softmax along one axis (negative counts from the end)";
  let arguments = (ins FloatTensor:$input, DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Graph_AttentionOp : Graph_DiffOp<"attention", [ShardingRule]> {
  let summary = "scaled dot-product attention, optionally causal, with GQA";
  let description = [{
    `q [B, H, T, D]`, `k [B, Hkv, S, D]`, `v [B, Hkv, S, Dv]` with `H` a
    multiple of `Hkv` (grouped-query attention: head `h` reads kv head
    `h / (H / Hkv)`). Computes `softmax(q k^T * scale + causal mask)`, applies
    dropout with probability `dropout` to the probabilities, and multiplies
    by `v`: the result is `[B, H, T, Dv]`.

    Block-sparse (Long Exposure's sparse attention): with `mask
    [B, H, ceil(T / block), ceil(S / block)]` (causal self-attention, T =
    S) the scores are computed only for the (query tile, key tile) pairs
    of `block` rows and keys where the mask is nonzero, and for the first
    key tile and the diagonal one, always; the other keys are left out of
    the softmax (as if their scores were -inf). An all-live mask is dense
    attention. The mask has no gradient.
  }];
  let arguments = (ins FloatTensor:$query, FloatTensor:$key, FloatTensor:$value,
                       Optional<FloatTensor>:$mask,
                       F64Attr:$scale, UnitAttr:$causal,
                       DefaultValuedAttr<F64Attr, "0.0">:$dropout,
                       OptionalAttr<I64Attr>:$rng_stream,
                       OptionalAttr<I64Attr>:$block);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` $mask^)? (`causal` $causal^)? attr-dict
    `:` type($query) `,` type($key) `,` type($value) (`,` type($mask)^)?
  }];
}

def Graph_RopeOp : Graph_DiffOp<"rope", [ShardingRule]> {
  let summary = "rotary position embedding (rotate-half form) on [B, H, T, D]";
  let description = [{
    Position `t` rotates the pair `(x[i], x[i + D/2])` by `t * inv_freq[i]`,
    `inv_freq[i] = theta^(-2i/D)`, as Hugging Face LLaMA does. Positions are
    `0 .. T-1`. With `inverse` the rotation is by the negative angle (the
    adjoint).

    `scaling` changes the frequencies as transformers' `rope_scaling` does:
    `"linear"` divides every one by `factor`; `"llama3"` (Llama 3.1) divides
    those whose wavelength `2 pi / inv_freq` exceeds
    `original_max_positions / low_freq_factor` by `factor`, keeps those below
    `original_max_positions / high_freq_factor`, and interpolates smoothly
    between. Without `scaling` none of its fields may be given.

    ```mlir
    %q = graph.rope %x {theta = 5.0e+05 : f64, scaling = "llama3",
                        factor = 32.0 : f64, low_freq_factor = 1.0 : f64,
                        high_freq_factor = 4.0 : f64,
                        original_max_positions = 8192 : i64}
        : tensor<?x32x?x64xf32>
    ```
  }];
  let arguments = (ins FloatTensor:$input, F64Attr:$theta, UnitAttr:$inverse,
                       OptionalAttr<StrAttr>:$scaling,
                       OptionalAttr<F64Attr>:$factor,
                       OptionalAttr<F64Attr>:$low_freq_factor,
                       OptionalAttr<F64Attr>:$high_freq_factor,
                       OptionalAttr<I64Attr>:$original_max_positions);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input (`inverse` $inverse^)? attr-dict `:` type($input)";
}

class Graph_UnaryOp<string mnemonic, string what>
    : Graph_DiffOp<mnemonic, [ShardingRule]> {
  let summary = what;
  let arguments = (ins FloatTensor:$input);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Graph_ReluOp : Graph_UnaryOp<"relu", "max(x, 0)">;
def Graph_SiluOp : Graph_UnaryOp<"silu", "x * sigmoid(x)">;

def Graph_GeluOp : Graph_DiffOp<"gelu", [ShardingRule]> {
  let summary = "GELU, exact (erf) or with `tanh` the tanh form GPT-2 uses";
  let arguments = (ins FloatTensor:$input, UnitAttr:$tanh);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input (`tanh` $tanh^)? attr-dict `:` type($input)";
}

def Graph_ScaleOp : Graph_DiffOp<"scale", [ShardingRule]> {
  let summary = "x * factor";
  let arguments = (ins FloatTensor:$input, F64Attr:$factor);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Graph_DropoutOp : Graph_DiffOp<"dropout", [ShardingRule]> {
  let summary = "zero each element with probability p, scale the rest by 1/(1-p)";
  let description = [{
    The mask is a pure function of the training step's seed, `rng_stream`
    and the element index, so the backward pass (and recomputation) sees
    the same mask. `graph-flatten` numbers the streams.
  }];
  let arguments = (ins FloatTensor:$input, F64Attr:$probability,
                       OptionalAttr<I64Attr>:$rng_stream);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

class Graph_BinaryOp<string mnemonic, string what>
    : Graph_DiffOp<mnemonic, [ShardingRule]> {
  let summary = what # ", broadcasting trailing axes like NumPy";
  let arguments = (ins FloatTensor:$lhs, FloatTensor:$rhs);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)";
}

def Graph_AddOp : Graph_BinaryOp<"add", "elementwise sum">;
def Graph_MulOp : Graph_BinaryOp<"mul", "elementwise product">;

def CastFloatTensor : RankedTensorOf<[F32, BF16, F16]>;

def Graph_CastOp : Graph_DiffOp<"cast", [ShardingRule]> {
  let summary = "the same tensor in another float element type (f32, bf16, f16)";
  let description = [{
    Converts every element to `to`, rounding to nearest even when the type
    narrows; the shape is unchanged. Both types are f32, bf16 or f16, and
    they differ: a cast to the operand's own type is refused rather than
    folded, so that every cast in a graph is one that `graph-autocast` (or
    its author) meant. The adjoint casts the gradient back to the operand's
    element type, so an f32 parameter read through a bf16 cast gets an f32
    gradient.

    ```mlir
    %w16 = graph.cast %w : tensor<768x768xf32> to bf16
    ```
  }];
  let arguments = (ins CastFloatTensor:$input, TypeAttrOf<AnyFloat>:$to);
  let results = (outs CastFloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` $to";
}

def Graph_ReshapeOp : Graph_Op<"reshape", [
    Pure, DeclareOpInterfaceMethods<AdjointOpInterface>, ShardingRule]> {
  let summary = "the same elements in another shape";
  let description = [{
    Static dimensions must hold the same number of elements. Dynamic
    dimensions (batch, sequence) may only be carried through: they form a
    leading prefix of both shapes, in the same positions.
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Graph_TransposeOp : Graph_DiffOp<"transpose", [ShardingRule]> {
  let summary = "permute axes: result dim i is input dim permutation[i]";
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Graph_SplitOp : Graph_DiffOp<"split", [ShardingRule]> {
  let summary = "cut one axis into consecutive pieces of the given sizes";
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$axis,
                       DenseI64ArrayAttr:$sizes);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Graph_ConcatOp : Graph_DiffOp<"concat", [ShardingRule]> {
  let summary = "join tensors along one axis";
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs)";
}

def Graph_CrossEntropyOp : Graph_DiffOp<"cross_entropy", [ShardingRule]> {
  let summary = "mean cross-entropy of logits [..., V] against target ids [...]";
  let description = [{
    Targets equal to `ignore_index` are not counted; the mean is over counted
    targets (Hugging Face semantics). The loss is an f32 scalar.
  }];
  let arguments = (ins FloatTensor:$logits, IdTensor:$targets,
                       DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs 0DTensorOf<[F32]>:$loss);
  let assemblyFormat = "$logits `,` $targets attr-dict `:` type($logits) `,` type($targets)";
}

//===----------------------------------------------------------------------===//
// Fused ops (made by the `fuse` schedule primitive)
//===----------------------------------------------------------------------===//

def Graph_BiasGeluOp : Graph_DiffOp<"bias_gelu", [ShardingRule]> {
  let summary = "gelu(x + bias) in one pass, bias [D] over the last axis";
  let arguments = (ins FloatTensor:$input, FloatTensor:$bias, UnitAttr:$tanh);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $bias (`tanh` $tanh^)? attr-dict `:` type($input) `,` type($bias)
  }];
}

def Graph_BiasDropoutAddLayerNormOp
    : Graph_DiffOp<"bias_dropout_add_layer_norm"> {
  let summary = "sum = residual + dropout(x + bias); normed = layer_norm(sum)";
  let description = [{
    The end of a pre-LN transformer sublayer and the start of the next, in
    one pass over each row: both the new residual stream `sum` and its
    layer norm `normed` (affine, `gamma` and `beta` [D]) come out. The
    dropout mask is the one `graph.dropout` with the same `rng_stream`
    draws.
  }];
  let arguments = (ins FloatTensor:$input, FloatTensor:$bias,
                       FloatTensor:$residual, FloatTensor:$gamma,
                       FloatTensor:$beta,
                       DefaultValuedAttr<F64Attr, "0.0">:$probability,
                       OptionalAttr<I64Attr>:$rng_stream, F64Attr:$epsilon);
  let results = (outs FloatTensor:$sum, FloatTensor:$normed);
  let assemblyFormat = [{
    $input `,` $bias `,` $residual `,` $gamma `,` $beta attr-dict `:`
    type($input) `,` type($bias) `,` type($residual) `,` type($gamma) `,` type($beta)
  }];
}

def Graph_AddRmsNormOp : Graph_DiffOp<"add_rms_norm"> {
  let summary = "sum = residual + x; normed = rms_norm(sum) in one pass";
  let arguments = (ins FloatTensor:$input, FloatTensor:$residual,
                       FloatTensor:$weight, F64Attr:$epsilon);
  let results = (outs FloatTensor:$sum, FloatTensor:$normed);
  let assemblyFormat = [{
    $input `,` $residual `,` $weight attr-dict `:` type($input) `,` type($residual) `,` type($weight)
  }];
}

//===----------------------------------------------------------------------===//
// Tensor parallelism
//===----------------------------------------------------------------------===//

def Graph_SyncOp : Graph_DiffOp<"sync", [ShardingRule]> {
  let summary = "a tensor-parallel collective paired with its backward partner";
  let description = [{
    Runs collective `forward` over the tensor-parallel group in the forward
    pass; its adjoint is the same op with `forward` and `backward` swapped.
    The pairs are Megatron's: `all_reduce`/`identity` (the output of a
    row-parallel layer), `identity`/`all_reduce` (the input of a
    column-parallel one), `all_gather`/`split` and `reduce_scatter`/
    `all_gather`, each in either order. `axis` is the axis that
    `all_gather`, `split` and `reduce_scatter` join or cut; `tp` is the
    group size, 1 until `graph-partition-tensor-parallel` makes per-rank
    shapes (all_gather multiplies `axis` by `tp`, split and reduce_scatter
    divide it).

    ```mlir
    %y = graph.sync %x {forward = "all_reduce", backward = "identity"} : tensor<8x128x768xf32>
    ```
  }];
  let arguments = (ins FloatTensor:$input, StrAttr:$forward, StrAttr:$backward,
                       DefaultValuedAttr<I64Attr, "-1">:$axis,
                       DefaultValuedAttr<I64Attr, "1">:$tp);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let extraClassDeclaration = [{
    /// The backward partner of forward collective `kind`, or "" if `kind`
    /// is not one.
    static ::llvm::StringRef partnerOf(::llvm::StringRef kind);
  }];
}

include "graph/GraphGradOps.td"
include "graph/GraphSparseOps.td"

#endif // SLAPO_GRAPH_OPS
