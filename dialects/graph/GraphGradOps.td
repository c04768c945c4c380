//===- GraphGradOps.td - backward and optimizer ops --------*- tablegen -*-===//
//
// Ops that reverse-mode autodiff (graph-generate-backward) and the optimizer
// pass (graph-apply-optimizer) emit. Included from GraphOps.td.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_GRAPH_GRAD_OPS
#define SLAPO_GRAPH_GRAD_OPS

def Graph_ZerosOp : Graph_Op<"zeros", [Pure]> {
  let summary = "a tensor of zeros (the gradient of an unused value)";
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
}

def Graph_SumToOp : Graph_Op<"sum_to", [Pure]> {
  let summary = "sum a gradient back to the shape of a broadcast operand";
  let description = [{
    The adjoint of NumPy broadcasting: sums over the leading axes the result
    does not have and over axes where the result has size 1.
  }];
  let arguments = (ins FloatTensor:$input);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Graph_LinearGradWeightOp : Graph_ComputeOp<"linear_grad_weight"> {
  let summary = "the weight gradient of graph.linear: sum over rows of dy^T x";
  let description = [{
    `input [..., in]` and `grad [..., out]` give `[out, in]`, or `[in, out]`
    with `in_out` (the layout of the weight it is the gradient of).
  }];
  let arguments = (ins FloatTensor:$input, FloatTensor:$grad, UnitAttr:$in_out);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $grad (`in_out` $in_out^)? attr-dict `:` type($input) `,` type($grad)
  }];
}

def Graph_EmbeddingGradOp : Graph_ComputeOp<"embedding_grad"> {
  let summary = "the table gradient of graph.embedding: rows scatter-added";
  let arguments = (ins IdTensor:$ids, FloatTensor:$grad, I64Attr:$rows);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$ids `,` $grad attr-dict `:` type($ids) `,` type($grad)";
}

def Graph_LayerNormGradOp : Graph_ComputeOp<"layer_norm_grad"> {
  let summary = "gradients of graph.layer_norm: dx, and dgamma, dbeta if affine";
  let arguments = (ins FloatTensor:$input, FloatTensor:$grad,
                       Optional<FloatTensor>:$gamma, F64Attr:$epsilon);
  let results = (outs Variadic<FloatTensor>:$results);
  let assemblyFormat = [{
    $input `,` $grad (`,` $gamma^)? attr-dict `:` type($input) `,` type($grad) (`,` type($gamma)^)?
  }];
}

def Graph_BiasGeluGradOp : Graph_ComputeOp<"bias_gelu_grad"> {
  let summary = "d(x + bias) of graph.bias_gelu: dy * gelu'(x + bias)";
  let arguments = (ins FloatTensor:$input, FloatTensor:$bias,
                       FloatTensor:$grad, UnitAttr:$tanh);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $bias `,` $grad (`tanh` $tanh^)? attr-dict `:` type($input) `,` type($bias) `,` type($grad)
  }];
}

def Graph_RmsNormGradOp : Graph_ComputeOp<"rms_norm_grad"> {
  let summary = "gradients of graph.rms_norm: dx and dweight";
  let arguments = (ins FloatTensor:$input, FloatTensor:$grad,
                       FloatTensor:$weight, F64Attr:$epsilon);
  let results = (outs FloatTensor:$input_grad, FloatTensor:$weight_grad);
  let assemblyFormat = [{
    $input `,` $grad `,` $weight attr-dict `:` type($input) `,` type($grad) `,` type($weight)
  }];
}

def Graph_SoftmaxGradOp : Graph_ComputeOp<"softmax_grad"> {
  let summary = "dx = y * (dy - sum(dy * y)) along the softmax axis";
  let arguments = (ins FloatTensor:$output, FloatTensor:$grad,
                       DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$output `,` $grad attr-dict `:` type($output) `,` type($grad)";
}

def Graph_AttentionGradOp : Graph_ComputeOp<"attention_grad"> {
  let summary = "gradients of graph.attention for query, key and value";
  let description = [{
    Recomputes the probabilities from `query` and `key` (and the dropout
    mask from `rng_stream`) and returns dq, dk, dv; with grouped-query
    attention dk and dv sum over the query heads sharing a key/value head.
    Under the forward's block `mask` only its live tiles are computed.
  }];
  let arguments = (ins FloatTensor:$query, FloatTensor:$key, FloatTensor:$value,
                       FloatTensor:$grad, Optional<FloatTensor>:$mask,
                       F64Attr:$scale, UnitAttr:$causal,
                       DefaultValuedAttr<F64Attr, "0.0">:$dropout,
                       OptionalAttr<I64Attr>:$rng_stream,
                       OptionalAttr<I64Attr>:$block);
  let results = (outs FloatTensor:$query_grad, FloatTensor:$key_grad,
                      FloatTensor:$value_grad);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $grad (`mask` $mask^)? (`causal` $causal^)? attr-dict
    `:` type($query) `,` type($key) `,` type($value) `,` type($grad) (`,` type($mask)^)?
  }];
}

def Graph_ActivationGradOp : Graph_ComputeOp<"activation_grad"> {
  let summary = "dx = dy * f'(x) for relu, silu, gelu or gelu_tanh";
  let arguments = (ins FloatTensor:$input, FloatTensor:$grad, StrAttr:$activation);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` type($input) `,` type($grad)";
}

def Graph_CrossEntropyGradOp : Graph_ComputeOp<"cross_entropy_grad"> {
  let summary = "d(mean cross-entropy)/d(logits): (softmax - onehot) / count";
  let description = [{
    The gradient of the loss with respect to the logits, seeded with
    d(loss) = 1; ignored targets get zero rows.
  }];
  let arguments = (ins FloatTensor:$logits, IdTensor:$targets,
                       DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$logits `,` $targets attr-dict `:` type($logits) `,` type($targets)";
}

//===----------------------------------------------------------------------===//
// Gradients out, parameters updated
//===----------------------------------------------------------------------===//

def Graph_GradientOp : Graph_Op<"gradient", [
    MemoryEffects<[MemWrite]>, HasParent<"ModelOp">,
    AllTypesMatch<["param", "grad"]>]> {
  let summary = "the gradient of a trainable parameter, as computed by autodiff";
  let description = [{
    Emitted by graph-generate-backward once per trainable parameter;
    graph-apply-optimizer turns each into an update.
  }];
  let arguments = (ins FloatTensor:$param, FloatTensor:$grad);
  let assemblyFormat = "$param `,` $grad attr-dict `:` type($param)";
  let hasVerifier = 1;
}

def Graph_SgdUpdateOp : Graph_Op<"sgd_update", [
    MemoryEffects<[MemWrite]>, HasParent<"ModelOp">,
    AllTypesMatch<["param", "grad"]>]> {
  let summary = "param -= lr * grad (plain SGD; lr is given at run time)";
  let arguments = (ins FloatTensor:$param, FloatTensor:$grad);
  let assemblyFormat = "$param `,` $grad attr-dict `:` type($param)";
  let hasVerifier = 1;
}

def Graph_AdamwUpdateOp : Graph_Op<"adamw_update", [
    MemoryEffects<[MemWrite]>, HasParent<"ModelOp">,
    AllTypesMatch<["param", "grad"]>]> {
  let summary = "a fused AdamW step; its moments are optimizer state of the param";
  let description = [{
    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    param -= lr (m_hat / (sqrt(v_hat) + eps) + weight_decay param), with the
    bias corrections of step t (torch.optim.AdamW semantics).
  }];
  let arguments = (ins FloatTensor:$param, FloatTensor:$grad, F64Attr:$beta1,
                       F64Attr:$beta2, F64Attr:$epsilon, F64Attr:$weight_decay);
  let assemblyFormat = "$param `,` $grad attr-dict `:` type($param)";
  let hasVerifier = 1;
}

#endif // SLAPO_GRAPH_GRAD_OPS
