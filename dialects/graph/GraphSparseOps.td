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
    a block, cols = 1) it is the predicted one. The mask is a constant of
    the step: it has no gradient.

    ```mlir
    %m = graph.block_mask %h {rows = 16, cols = 16, threshold = 0.0} : tensor<2x16x64xf32>
    ```
  }];
  let arguments = (ins FloatTensor:$scores, I64Attr:$rows, I64Attr:$cols,
                       F64Attr:$threshold);
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

#endif // SLAPO_GRAPH_SPARSE_OPS
