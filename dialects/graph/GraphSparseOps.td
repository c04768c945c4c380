//===- GraphSparseOps.td - block-sparse ops ----------------*- tablegen -*-===//
//
// The ops the `sparsify` schedule primitive lowers a ReLU MLP to (Long
// Exposure, SC'24): a mask of live (row tile, feature block) pairs and
// linear layers that compute, or read, only the live tiles. Inference and
// adjoints in GraphSparseOps.cpp. Included from GraphOps.td.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_GRAPH_SPARSE_OPS
#define SLAPO_GRAPH_SPARSE_OPS

def Graph_BlockMaskOp : Graph_DiffOp<"block_mask", [ShardingRule]> {
  let summary = "which (row tile, column block) tiles of the scores exceed a threshold";
  let description = [{
    `scores [..., F]` read as N = (product of the leading axes) rows give
    `[ceil(N / rows), F / cols]`: element (i, j) is 1 when some score of
    rows [i * rows, (i + 1) * rows) and columns [j * cols, (j + 1) * cols)
    is above `threshold`, else 0. With the up-projection's pre-activations
    as scores, cols = the block and threshold 0 it is the exact (oracle)
    liveness of a ReLU MLP's blocks; with a predictor's logits (one column
    a block, cols = 1) it is the predicted one. With `keep_shape` (rows =
    1) the result keeps the scores' leading axes, `[..., F / cols]` (the
    same elements): an attention predictor's `[B, H, T / block, S / block]`
    mask. The mask is a constant of the step: it has no gradient.

    ```mlir
    %m = graph.block_mask %h {rows = 16, cols = 16, threshold = 0.0} : tensor<2x16x64xf32>
    ```
  }];
  let arguments = (ins FloatTensor:$scores, I64Attr:$rows, I64Attr:$cols,
                       F64Attr:$threshold, UnitAttr:$keep_shape);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$scores attr-dict `:` type($scores)";
}

def Graph_BlockSparseLinearOp : Graph_DiffOp<"block_sparse_linear", [ShardingRule]> {
  let summary = "graph.linear over the live tiles of a block mask";
  let description = [{
    `input [..., in]`, `weight [out, in]`, optional `bias [out]` and
    `mask [ceil(N / rows), blocks]` (graph.block_mask) as graph.linear
    computes them, but tile by tile: rows are taken `rows` at a time (N, the
    product of the leading axes) and features `block` at a time.
    - `sparse = "out"` (an up-projection): blocks = out / block. A live
      tile (i, j) is x[tile i] W[block j]^T + b[block j]; a dead one is 0.
    - `sparse = "in"` (a down-projection): blocks = in / block. Row tile i
      is b + the sum over its live blocks j of x[tile i, block j]
      W[:, block j]^T: dead blocks of the input are not read (they are zero
      when the mask is the liveness of the input).
    The weight and bias are frozen: the op gives no gradient for them.
  }];
  let arguments = (ins FloatTensor:$input, FloatTensor:$weight,
                       Optional<FloatTensor>:$bias, FloatTensor:$mask,
                       I64Attr:$rows, I64Attr:$block, StrAttr:$sparse);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `mask` $mask (`bias` $bias^)? attr-dict
    `:` type($input) `,` type($weight) `,` type($mask) (`,` type($bias)^)?
  }];
}

def Graph_BlockSparseLinearGradOp : Graph_ComputeOp<"block_sparse_linear_grad"> {
  let summary = "the input gradient of graph.block_sparse_linear, over the live tiles";
  let description = [{
    `grad [..., out]`, `weight [out, in]` and the forward's mask give
    `[..., in]`, dy W restricted as the forward was:
    - `sparse = "out"`: row tile i is the sum over its live blocks j of
      dy[tile i, block j] W[block j, :] (the dead tiles of dy are not read);
    - `sparse = "in"`: a live tile (i, j) is dy[tile i] W[:, block j]; a
      dead one is 0.
  }];
  let arguments = (ins FloatTensor:$grad, FloatTensor:$weight,
                       FloatTensor:$mask, I64Attr:$rows, I64Attr:$block,
                       StrAttr:$sparse);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $weight `mask` $mask attr-dict `:` type($grad) `,` type($weight) `,` type($mask)
  }];
}

//===----------------------------------------------------------------------===//
// Predictor training (`sparsify ... predictor=train`)
//===----------------------------------------------------------------------===//

def Graph_SigmoidBceOp : Graph_DiffOp<"sigmoid_bce"> {
  let summary = "scaled mean binary cross-entropy of logits against 0/1 labels";
  let description = [{
    `logits [..., C]` against `labels [N, C]` (N = the product of the
    logits' leading axes: a graph.block_mask with rows = 1) or labels of the
    logits' own shape: `scale` times the mean over all elements of
    max(x, 0) - x y + log(1 + exp(-|x|)), the numerically stable
    -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))). An f32 scalar. Like
    graph.cross_entropy it is a loss: it seeds the backward pass (a
    sparsity predictor's loss, summed over layers by
    graph-collect-predictor-losses), and the labels get no gradient.

    With `causal` the last two axes are the (query tile, key tile) pairs of
    a causal attention (labels of the logits' shape, the two axes equal):
    only the pairs with key tile <= query tile are in the mean, the others
    are never computed.

    ```mlir
    %l = graph.sigmoid_bce %logits, %live {scale = 0.5} : tensor<2x16x16xf32>, tensor<32x16xf32>
    ```
  }];
  let arguments = (ins FloatTensor:$logits, FloatTensor:$labels,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale,
                       UnitAttr:$causal);
  let results = (outs 0DTensorOf<[F32]>:$loss);
  let assemblyFormat = "$logits `,` $labels attr-dict `:` type($logits) `,` type($labels)";
}

def Graph_SigmoidBceGradOp : Graph_ComputeOp<"sigmoid_bce_grad"> {
  let summary = "the logits gradient of graph.sigmoid_bce as the loss";
  let description = [{
    `scale * (sigmoid(x) - y) / n` for each of the n logits: d(loss)/d(x)
    with d(loss)/d(loss) = 1. With `causal`, n counts the causal pairs and
    the others get 0.
  }];
  let arguments = (ins FloatTensor:$logits, FloatTensor:$labels,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale,
                       UnitAttr:$causal);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$logits `,` $labels attr-dict `:` type($logits) `,` type($labels)";
}

def Graph_MaskAgreementOp : Graph_DiffOp<"mask_agreement"> {
  let summary = "how well a tile mask covers per-row liveness: recall and density";
  let description = [{
    `predicted [ceil(N / rows), C]` (a tile mask, graph.block_mask with
    `rows`) and `live [N, C]` (per-row 0/1 liveness, graph.block_mask with
    rows = 1) give four f32 numbers, each times `scale`:
    0. the fraction of (row, block) pairs live and covered: live[r, c] and
       predicted[r / rows, c] (divided by 1 it is the recall);
    1. the fraction of (row, block) pairs live;
    2. the fraction of predicted tiles that are live: what a block-sparse
       kernel computes;
    3. the fraction of tiles some row of which is live: the exact
       ("shadowed") density an oracle mask would give.
    A measurement: it has no gradient.

    With `causal` (rows = 1) both are attention masks of one shape
    `[..., T / block, S / block]` (the last two axes equal), and only the
    causal pairs (key tile <= query tile) count; the first key tile and the
    diagonal count as predicted, since block-sparse attention computes them
    always. Number 2 is then the fraction of the causal tiles the kernel
    computes.
  }];
  let arguments = (ins FloatTensor:$predicted, FloatTensor:$live,
                       I64Attr:$rows, DefaultValuedAttr<F64Attr, "1.0">:$scale,
                       UnitAttr:$causal);
  let results = (outs 1DTensorOf<[F32]>:$result);
  let assemblyFormat = "$predicted `,` $live attr-dict `:` type($predicted) `,` type($live)";
}

//===----------------------------------------------------------------------===//
// Attention sparsity (`sparsify PATH.self_attn`)
//===----------------------------------------------------------------------===//

def Graph_TileMeanOp : Graph_DiffOp<"tile_mean"> {
  let summary = "the mean of each tile of `block` positions: [B, T, D] -> [B, ceil(T / block), D]";
  let description = [{
    Row i of batch b is the mean of x[b, i * block .. min(T, (i + 1) *
    block)): the pooled positions an attention predictor scores. The
    predictor reads the hidden states as constants: no gradient passes.

    ```mlir
    %p = graph.tile_mean %x {block = 16} : tensor<2x64x32xf32>
    ```
  }];
  let arguments = (ins FloatTensor:$input, I64Attr:$block);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Graph_AttentionBlockMaskOp : Graph_DiffOp<"attention_block_mask"> {
  let summary = "the (query tile, key tile) pairs of causal attention some probability of which exceeds a threshold";
  let description = [{
    `q [B, H, T, D]` and `k [B, Hkv, T, D]` (H a multiple of Hkv, as
    graph.attention) give `[B, H, ceil(T / block), ceil(T / block)]`:
    element (b, h, i, j) is 1 when some query of tile i attends to some key
    of tile j (j <= i) with a probability softmax(q k^T * scale + causal
    mask) above `threshold`, and always for the first key tile and the
    diagonal (block-sparse attention computes them anyway); the tiles
    above the diagonal are 0. The exact ("oracle") liveness of an
    attention's tiles: threshold 0 makes every causal tile live (dense). A
    constant of the step: no gradient.

    ```mlir
    %m = graph.attention_block_mask %q, %k {block = 16, scale = 0.25, threshold = 0.01} : tensor<2x4x64x16xf32>, tensor<2x4x64x16xf32>
    ```
  }];
  let arguments = (ins FloatTensor:$query, FloatTensor:$key, I64Attr:$block,
                       F64Attr:$scale, F64Attr:$threshold);
  let results = (outs FloatTensor:$result);
  let assemblyFormat = "$query `,` $key attr-dict `:` type($query) `,` type($key)";
}

#endif // SLAPO_GRAPH_SPARSE_OPS
