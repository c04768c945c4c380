//===- Rewrites.h - graph rewrites that schedules apply ---------*- C++ -*-===//
//
// Usable from C++ and testable alone; the transform ops of the schedule
// language (lib/Schedule/SchedOps.cpp) only select modules and call these.
// Errors are emitted at `at` (the primitive's .sched statement).
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_TRANSFORMS_REWRITES_H
#define SLAPO_TRANSFORMS_REWRITES_H

#include "graph/GraphDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <string>

namespace slapo::graph {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 8.0;
  double dropout = 0.0;
};

/// Rewrites the body of a linear module (one graph.linear on its own
/// weight) into base + (alpha / rank) * lora_B(lora_A(dropout(x))), as
/// PEFT does: the base frozen, lora_A kaiming-uniform, lora_B zeros, the
/// module marked `lora_adapter` for the PEFT exporter.
mlir::LogicalResult insertLoraAdapter(GraphModuleOp module,
                                      const LoraConfig &config,
                                      mlir::Location at);

/// How `sparsify` cuts a ReLU MLP: feature blocks of `block`, row tiles of
/// `rows` tokens, and the scores that decide which tiles are live.
struct SparsifyConfig {
  int64_t block = 64;
  int64_t rows = 64;
  /// "oracle": the up-projection's own pre-activations, computed densely
  /// (exact: every block with a non-zero ReLU output is live); else the
  /// absolute path of a safetensors file holding each layer's trained
  /// predictor, `<layer>.sparsity_predictor.{weight,bias}`; or "train":
  /// the oracle's mask, and a trainable predictor learning it (its loss
  /// and statistics collected by graph-collect-predictor-losses).
  std::string predictor = "oracle";
  /// A block is live where a score is above it: for the oracle a
  /// pre-activation (0: ReLU), for a predictor a probability in (0, 1).
  double threshold = 0.0;
  /// Attention only: the rank of the predictor's per-head query and key
  /// projections (0: not given, 16).
  int64_t rank = 0;
  /// Attention with predictor=train only: a (query tile, key tile) pair is
  /// live, for the predictor's labels, where some probability exceeds it
  /// (negative: not given, 0.01).
  double live = -1.0;
};

/// `sparsify`: the ReLU feed-forward directly in `module` (a linear module,
/// graph.relu, a linear module, on frozen weights) computed block-sparse:
/// a `sparsity_oracle` module beside them gives the block mask, the
/// up-projection computes only its live tiles and the down-projection
/// reads only those. Names and parameters are kept.
mlir::LogicalResult sparsifyMlp(GraphModuleOp module,
                                const SparsifyConfig &config,
                                mlir::Location at);

/// `sparsify` on an attention module: the causal graph.attention directly
/// in `module` takes a block mask of (query tile, key tile) pairs of
/// `config.block` positions, made by a `sparsity_oracle` (the exact
/// probabilities) or `sparsity_predictor` module beside it.
mlir::LogicalResult sparsifyAttention(GraphModuleOp module,
                                      const SparsifyConfig &config,
                                      mlir::Location at);

/// Whether `module` holds a graph.attention directly (the attention form of
/// `sparsify`).
bool holdsAttention(GraphModuleOp module);

/// Replaces `linear` (which has a bias) by `wrap(linear without bias) +
/// bias` and returns the sum.
mlir::Value takeOutBias(
    LinearOp linear,
    llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Value)> wrap);

/// `decompose`: the bias of the module's one linear as its own add
/// (nothing to do when it already is).
mlir::LogicalResult decomposeLinearBias(GraphModuleOp module,
                                        mlir::Location at);

/// `sync`: a graph.sync pair (`forward`, `backward`) at each floating-point
/// output (`atOutput`) or input of `module`; at a linear with a bias the
/// bias moves after the collective. A module already synced this way, or
/// with nothing to sync, is refused.
mlir::LogicalResult insertSync(GraphModuleOp module, mlir::StringAttr forward,
                               mlir::StringAttr backward, bool atOutput,
                               mlir::Location at);

/// graph.attention as q k^T * scale, causal mask, softmax, dropout, then
/// times v (grouped-query attention is refused).
mlir::LogicalResult decomposeAttention(AttentionOp attention,
                                       mlir::Location at);

/// The chain decomposeAttention makes, ending at `out`, as one
/// graph.attention; false if `out` does not end one.
bool fuseAttention(MatmulOp out);

} // namespace slapo::graph

#endif // SLAPO_TRANSFORMS_REWRITES_H
