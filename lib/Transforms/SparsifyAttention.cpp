//===- SparsifyAttention.cpp - a causal attention as block-sparse ---------===//
//
// `sparsify PATH.self_attn` (lib/Schedule/SchedOps.cpp): the causal
// graph.attention directly in the module takes a mask of live (query tile,
// key tile) pairs of `block` positions (Long Exposure's sparse attention).
// A module beside it makes the mask: `sparsity_oracle` from the exact
// probabilities (graph.attention_block_mask on the attention's own query
// and key), or `sparsity_predictor`, a low-rank per-head scorer of pooled
// positions (graph.tile_mean; query and key projections to `rank` a head;
// their product per pair of tiles) whose trained weights the run reads
// from the predictor file, or trains (predictor=train) against the
// oracle's pairs.
//
//===----------------------------------------------------------------------===//

#include "SparsifyModules.h"
#include "slapo/Transforms/Rewrites.h"

#include "graph/GraphUtils.h"

using namespace mlir;

namespace slapo::graph {

namespace {

constexpr int64_t kDefaultRank = 16;
constexpr double kDefaultLive = 0.01;

/// The settings `config` leaves open, filled in.
struct AttentionSparsity {
  int64_t block, rank;
  double threshold, live;
  std::string predictor;
};

/// The predictor's logits [B, H, T / block, T / block]: the pooled
/// positions projected to `rank` a head for queries and for keys, and
/// their products. Parameters `query` and `key` [H * rank, hidden].
Value predictorLogits(OpBuilder &ib, Location loc, Value hidden, int64_t heads,
                      const AttentionSparsity &s, bool trainable,
                      function_ref<void(Operation *)> decorate) {
  auto type = cast<RankedTensorType>(hidden.getType());
  Type element = type.getElementType();
  int64_t width = type.getShape().back();
  Value pooled =
      TileMeanOp::create(ib, loc, hidden, ib.getI64IntegerAttr(s.block));
  // Random starts (a product of two zero projections has no gradient); a
  // trained file replaces them.
  auto init = InitAttr::get(ib.getContext(), InitKind::normal,
                            APFloat(1.0 / std::sqrt(double(width))));
  auto project = [&](StringRef name) -> Value {
    Value weight = predictorParam(
        ib, loc, name, RankedTensorType::get({heads * s.rank, width}, element),
        init, trainable, decorate);
    Value projected = LinearOp::create(ib, loc, pooled, weight, Value(), false);
    auto split = RankedTensorType::get(
        {ShapedType::kDynamic, ShapedType::kDynamic, heads, s.rank}, element);
    Value perHead = ReshapeOp::create(ib, loc, split, projected);
    return TransposeOp::create(ib, loc, perHead,
                               ib.getDenseI64ArrayAttr({0, 2, 1, 3}));
  };
  Value queries = project("query"), keys = project("key");
  return MatmulOp::create(ib, loc, queries, keys, ib.getUnitAttr());
}

/// The pairs whose predicted probability is above the threshold.
Value predictedPairs(OpBuilder &ib, Location loc, Value logits,
                     const AttentionSparsity &s) {
  return BlockMaskOp::create(
      ib, loc, logits, ib.getI64IntegerAttr(1), ib.getI64IntegerAttr(1),
      ib.getF64FloatAttr(logitOf(s.threshold)), ib.getUnitAttr());
}

/// The exact pairs of `attention` some probability of which is above
/// `threshold`.
Value oraclePairs(OpBuilder &ib, Location loc, AttentionOp attention,
                  Value query, Value key, const AttentionSparsity &s,
                  double threshold) {
  return AttentionBlockMaskOp::create(
      ib, loc, query, key, ib.getI64IntegerAttr(s.block),
      attention.getScaleAttr(), ib.getF64FloatAttr(threshold));
}

/// The settings, checked; the error names the schedule's line.
FailureOr<AttentionSparsity> settingsOf(const SparsifyConfig &config,
                                        Location at) {
  AttentionSparsity s{
      config.block, config.rank ? config.rank : kDefaultRank, config.threshold,
      config.live < 0 ? kDefaultLive : config.live, config.predictor};
  bool oracle = s.predictor == "oracle", train = s.predictor == "train";
  if (s.block <= 0 || config.rows != s.block)
    return emitError(at, "an attention's tiles are square, block by block "
                         "positions: rows= is not an option of an "
                         "attention's sparsify");
  if (s.rank <= 0 || (oracle && config.rank))
    return emitError(at, "rank= is the rank of a predictor's per-head "
                         "projections: a positive integer, with a predictor");
  if (config.live >= 0 && !train)
    return emitError(at, "live= sets the pairs predictor=train learns: it is "
                         "an option of predictor=train only");
  if (!(s.live > 0.0 && s.live < 1.0))
    return emitError(at, "live= is a probability in (0, 1)");
  if (oracle ? !(s.threshold >= 0.0 && s.threshold < 1.0)
             : !(s.threshold > 0.0 && s.threshold < 1.0))
    return emitError(at, "an attention's threshold is a probability: in "
                         "[0, 1) for the oracle (the attention probability a "
                         "live pair exceeds), in (0, 1) for a predictor");
  return s;
}

} // namespace

bool holdsAttention(GraphModuleOp module) {
  return !module.getBody().front().getOps<AttentionOp>().empty();
}

LogicalResult sparsifyAttention(GraphModuleOp module,
                                const SparsifyConfig &config, Location at) {
  std::string path = getPath(module);
  FailureOr<AttentionSparsity> settings = settingsOf(config, at);
  if (failed(settings))
    return failure();
  const AttentionSparsity &s = *settings;
  if (module->hasAttr("sparsified"))
    return emitError(at, "module '") << path << "' is already sparsified";
  Block &body = module.getBody().front();
  auto attentions = llvm::to_vector(body.getOps<AttentionOp>());
  if (attentions.size() != 1)
    return emitError(at, "module '") << path << "' holds " << attentions.size()
                                     << " attentions: name a module with one";
  AttentionOp attention = attentions[0];
  auto query = cast<RankedTensorType>(attention.getQuery().getType());
  if (!attention.getCausal() || attention.getMask())
    return emitError(at, "the attention of '")
           << path << "' is not a causal self-attention without a mask: "
           << "block-sparse attention takes causal ones";
  // The predictor's heads and the mask's would have to follow a
  // tensor-parallel split.
  WalkResult sharded = module.walk([](ParamOp param) {
    return param->hasAttr("shard") ? WalkResult::interrupt()
                                   : WalkResult::advance();
  });
  if (sharded.wasInterrupted())
    return emitError(at, "module '")
           << path << "' is sharded over tensor-parallel ranks; sparsify on "
           << "a sharded attention is not supported yet";
  Value hidden = body.getArgument(0);
  auto hiddenType = cast<RankedTensorType>(hidden.getType());
  if (hiddenType.getRank() != 3)
    return emitError(at, "module '")
           << path << "' takes " << hiddenType << ", not hidden states "
           << "[batch, sequence, hidden]";
  int64_t heads = query.getDimSize(1);
  if (ShapedType::isDynamic(heads))
    return emitError(at, "the attention of '")
           << path << "' has a dynamic number of heads";
  Location loc = module.getLoc();
  Value q = attention.getQuery(), k = attention.getKey();
  Value mask;
  if (s.predictor == "oracle") {
    mask = buildModuleBefore(attention, "sparsity_oracle", ValueRange{q, k},
                             [&](OpBuilder &ib, ValueRange args) {
                               return oraclePairs(ib, loc, attention, args[0],
                                                  args[1], s, s.threshold);
                             });
  } else if (s.predictor == "train") {
    mask = buildModuleBefore(
        attention, "sparsity_predictor", ValueRange{hidden, q, k},
        [&](OpBuilder &ib, ValueRange args) -> Value {
          Value live =
              oraclePairs(ib, loc, attention, args[1], args[2], s, s.live);
          Value logits =
              predictorLogits(ib, loc, args[0], heads, s,
                              /*trainable=*/true, [](Operation *) {});
          // The statistics before the loss, as for an MLP's predictor.
          Operation *stats = MaskAgreementOp::create(
              ib, loc, predictedPairs(ib, loc, logits, s), live,
              ib.getI64IntegerAttr(1), ib.getF64FloatAttr(1.0),
              ib.getUnitAttr());
          stats->setAttr(kPredictorStatsAttr, ib.getUnitAttr());
          Operation *loss = SigmoidBceOp::create(
              ib, loc, logits, live, ib.getF64FloatAttr(1.0), ib.getUnitAttr());
          loss->setAttr(kPredictorLossAttr, ib.getUnitAttr());
          // The step attends over the pairs the predictor learns.
          return live;
        });
  } else {
    mask = buildModuleBefore(
        attention, "sparsity_predictor", ValueRange{hidden},
        [&](OpBuilder &ib, ValueRange args) {
          Value logits = predictorLogits(
              ib, loc, args[0], heads, s, /*trainable=*/false,
              [&](Operation *op) {
                op->setAttr("init_file", ib.getStringAttr(s.predictor));
              });
          return predictedPairs(ib, loc, logits, s);
        });
  }
  attention->insertOperands(3, ValueRange{mask});
  attention.setBlockAttr(
      Builder(module.getContext()).getI64IntegerAttr(s.block));
  Builder attrs(module.getContext());
  module->setAttr(
      "sparsified",
      attrs.getDictionaryAttr({
          attrs.getNamedAttr("block", attrs.getI64IntegerAttr(s.block)),
          attrs.getNamedAttr("predictor", attrs.getStringAttr(s.predictor)),
      }));
  return success();
}

} // namespace slapo::graph
