//===- SparsifyRewrite.cpp - a ReLU MLP as block-sparse kernels -----------===//
//
// The `sparsify` schedule primitive (lib/Schedule/SchedOps.cpp) on a module
// holding a ReLU feed-forward: up = linear module, graph.relu, down =
// linear module (OPT's fc1, activation, fc2). A module beside them makes
// the block mask (graph.block_mask): `sparsity_oracle` from the
// up-projection's own pre-activations (exact), or `sparsity_predictor`
// from a small linear whose trained weights the run reads from the
// predictor file. Both linear modules take the mask as a second operand
// and run graph.block_sparse_linear on their own (kept) weight and bias.
//
//===----------------------------------------------------------------------===//

#include "SparsifyModules.h"
#include "slapo/Transforms/Rewrites.h"

#include "graph/GraphUtils.h"

#include "mlir/IR/Builders.h"

#include <cmath>

using namespace mlir;

namespace slapo::graph {

namespace {

/// A module holding one graph.linear on its own frozen weight and bias.
struct LinearModule {
  GraphModuleOp module;
  LinearOp linear;
  ParamOp weight, bias;
};

FailureOr<LinearModule> linearModule(GraphModuleOp module, Location at) {
  std::string path = getPath(module);
  Block &body = module.getBody().front();
  auto linears = llvm::to_vector(body.getOps<LinearOp>());
  if (linears.size() != 1 || !body.getOps<GraphModuleOp>().empty())
    return emitError(at, "module '")
           << path << "' is not a plain linear layer (one graph.linear; a "
           << "LoRA adapter on a sparsified layer is not supported yet)";
  LinearOp linear = linears[0];
  auto weight = linear.getWeight().getDefiningOp<ParamOp>();
  auto bias =
      linear.getBias() ? linear.getBias().getDefiningOp<ParamOp>() : ParamOp();
  if (!weight || (linear.getBias() && !bias))
    return emitError(at, "module '")
           << path << "' does not compute on its own weight and bias";
  if (linear.getInOut())
    return emitError(at, "module '")
           << path << "' keeps its weight as [in, out] (Conv1D); sparsify "
           << "takes nn.Linear layers";
  // A tensor-parallel layer may sync its input first (`sync ...
  // backward=all_reduce`), which leaves the values as they are.
  Value input = linear.getInput();
  if (auto sync = input.getDefiningOp<SyncOp>())
    input = sync.getInput();
  if (input != body.getArgument(0))
    return emitError(at, "module '")
           << path << "' transforms its input before the linear layer";
  // A bias taken out of the linear (by `decompose`, or by a `sync` that
  // adds it after its reduction) is still the layer's bias.
  if (!bias)
    for (ParamOp param : body.getOps<ParamOp>())
      if (param.getName() == "bias")
        bias = param;
  for (ParamOp param : {weight, bias})
    if (param && param.getTrainable())
      return emitError(at, "'")
             << getPath(param) << "' is trainable, but a block-sparse layer "
             << "computes no weight gradient: freeze it before sparsify";
  return LinearModule{module, linear, weight, bias};
}

/// The module whose first operand is `value`'s only use, or null.
GraphModuleOp onlyModuleUser(Value value) {
  if (!value.hasOneUse())
    return nullptr;
  auto user = dyn_cast<GraphModuleOp>(*value.getUsers().begin());
  return user && user->getOperand(0) == value ? user : nullptr;
}

/// Makes `module` take `mask` as its last operand and returns its body's
/// argument for it.
Value addMaskOperand(GraphModuleOp module, Value mask) {
  module->insertOperands(module->getNumOperands(), ValueRange{mask});
  return module.getBody().front().addArgument(mask.getType(), mask.getLoc());
}

/// The linear of `layer` as graph.block_sparse_linear under `mask`.
void makeBlockSparse(LinearModule layer, Value mask,
                     const SparsifyConfig &config, StringRef sparse) {
  LinearOp linear = layer.linear;
  OpBuilder b(linear);
  Value maskArg = addMaskOperand(layer.module, mask);
  Value sparseResult = BlockSparseLinearOp::create(
      b, linear.getLoc(), linear.getInput(), linear.getWeight(),
      linear.getBias(), maskArg, b.getI64IntegerAttr(config.rows),
      b.getI64IntegerAttr(config.block), b.getStringAttr(sparse));
  linear.getResult().replaceAllUsesWith(sparseResult);
  linear.erase();
}

/// A module named `name` before `up`, on up's input, whose body `build`
/// fills and returns the mask of.
Value buildMaskModule(LinearModule up, StringRef name,
                      function_ref<Value(OpBuilder &, Value)> build) {
  return buildModuleBefore(
      up.module, name, ValueRange{up.module->getOperand(0)},
      [&](OpBuilder &ib, ValueRange args) { return build(ib, args[0]); });
}

/// The up-projection's pre-activations, computed densely on param_refs of
/// its weights.
Value denseScores(OpBuilder &ib, LinearModule up, Value x) {
  Location loc = up.module.getLoc();
  Value weight =
      ParamRefOp::create(ib, loc, up.weight.getType(), getPath(up.weight));
  Value bias =
      up.bias ? ParamRefOp::create(ib, loc, up.bias.getType(), getPath(up.bias))
              : Value();
  return LinearOp::create(ib, loc, x, weight, bias, false);
}

/// The tiles of `scores`, `rows` rows at a time, with a pre-activation
/// above `threshold` (0: ReLU's exact liveness).
Value liveBlocks(OpBuilder &ib, Location loc, Value scores, int64_t rows,
                 const SparsifyConfig &config, double threshold) {
  return BlockMaskOp::create(ib, loc, scores, ib.getI64IntegerAttr(rows),
                             ib.getI64IntegerAttr(config.block),
                             ib.getF64FloatAttr(threshold), nullptr);
}

/// The `sparsity_oracle` module: the up-projection computed densely and
/// its live tiles.
Value buildOracle(LinearModule up, const SparsifyConfig &config) {
  return buildMaskModule(
      up, "sparsity_oracle", [&](OpBuilder &ib, Value arg) -> Value {
        return liveBlocks(ib, up.module.getLoc(), denseScores(ib, up, arg),
                          config.rows, config, config.threshold);
      });
}

/// The predictor's logits: a linear from the hidden size to one logit per
/// block, on `weight [blocks, hidden]` and `bias [blocks]` with zero
/// initial values, `added_by = "sparsify"` and the attributes `decorate`
/// adds.
Value predictorLogits(OpBuilder &ib, LinearModule up, Value x, int64_t ffn,
                      const SparsifyConfig &config, bool trainable,
                      function_ref<void(Operation *)> decorate) {
  Location loc = up.module.getLoc();
  Type element = up.weight.getType().getElementType();
  int64_t hidden = up.weight.getType().getDimSize(1);
  int64_t blocks = ffn / config.block;
  auto zeros = InitAttr::get(ib.getContext(), InitKind::zeros, APFloat(0.0));
  auto param = [&](StringRef name, ArrayRef<int64_t> shape) -> Value {
    return predictorParam(ib, loc, name, RankedTensorType::get(shape, element),
                          zeros, trainable, decorate);
  };
  Value weight = param("weight", {blocks, hidden});
  Value bias = param("bias", {blocks});
  return LinearOp::create(ib, loc, x, weight, bias, false);
}

/// A block is predicted live where its tile has a logit above the
/// sigmoid's threshold.
Value predictedBlocks(OpBuilder &ib, Location loc, Value logits,
                      const SparsifyConfig &config) {
  return BlockMaskOp::create(ib, loc, logits, ib.getI64IntegerAttr(config.rows),
                             ib.getI64IntegerAttr(1),
                             ib.getF64FloatAttr(logitOf(config.threshold)),
                             nullptr);
}

/// The `sparsity_predictor` module of a trained predictor: its frozen
/// weights are read from the predictor file.
Value buildPredictor(LinearModule up, const SparsifyConfig &config,
                     int64_t ffn) {
  return buildMaskModule(
      up, "sparsity_predictor", [&](OpBuilder &ib, Value arg) -> Value {
        Value logits = predictorLogits(
            ib, up, arg, ffn, config, /*trainable=*/false, [&](Operation *op) {
              op->setAttr("init_file", ib.getStringAttr(config.predictor));
            });
        return predictedBlocks(ib, up.module.getLoc(), logits, config);
      });
}

/// The `sparsity_predictor` module of `predictor=train`: the oracle's mask
/// for the layers (the step stays exact), and a trainable predictor whose
/// loss (graph.sigmoid_bce against each token's live blocks) and recall
/// and density (graph.mask_agreement) graph-collect-predictor-losses
/// gathers into the model's results.
Value buildPredictorTraining(LinearModule up, const SparsifyConfig &config,
                             int64_t ffn) {
  return buildMaskModule(
      up, "sparsity_predictor", [&](OpBuilder &ib, Value arg) -> Value {
        Location loc = up.module.getLoc();
        Value scores = denseScores(ib, up, arg);
        // Exact: the threshold is the predictor's probability.
        Value tiles = liveBlocks(ib, loc, scores, config.rows, config, 0.0);
        Value tokens = liveBlocks(ib, loc, scores, 1, config, 0.0);
        Value logits = predictorLogits(ib, up, arg, ffn, config,
                                       /*trainable=*/true, [](Operation *) {});
        // The statistics before the loss: the evaluation entry runs the
        // kernels up to the loss's, and must compute them too.
        Operation *stats = MaskAgreementOp::create(
            ib, loc, predictedBlocks(ib, loc, logits, config), tokens,
            ib.getI64IntegerAttr(config.rows), ib.getF64FloatAttr(1.0),
            UnitAttr());
        stats->setAttr(kPredictorStatsAttr, ib.getUnitAttr());
        Operation *loss = SigmoidBceOp::create(
            ib, loc, logits, tokens, ib.getF64FloatAttr(1.0), UnitAttr());
        loss->setAttr(kPredictorLossAttr, ib.getUnitAttr());
        return tiles;
      });
}

} // namespace

LogicalResult sparsifyMlp(GraphModuleOp module, const SparsifyConfig &config,
                          Location at) {
  std::string path = getPath(module);
  bool oracle = config.predictor == "oracle";
  bool train = config.predictor == "train";
  if (config.block <= 0 || config.rows <= 0 ||
      !std::isfinite(config.threshold) ||
      (!oracle && !(config.threshold > 0.0 && config.threshold < 1.0)))
    return emitError(at, "sparsify needs block > 0, rows > 0 and a finite "
                         "threshold (for a predictor, a probability)");
  if (config.rank || config.live >= 0)
    return emitError(at, "rank= and live= are options of an attention's "
                         "sparsify, and '")
           << path << "' is no attention";
  if (module->hasAttr("sparsified"))
    return emitError(at, "module '") << path << "' is already sparsified";
  Block &body = module.getBody().front();
  // The chain: a module, its only user an activation, whose only user is
  // a module.
  GraphModuleOp up, down;
  Operation *activation = nullptr;
  for (GraphModuleOp candidate : body.getOps<GraphModuleOp>()) {
    if (candidate->getNumResults() != 1 || !candidate->getResult(0).hasOneUse())
      continue;
    Operation *user = *candidate->getResult(0).getUsers().begin();
    if (user->getNumOperands() != 1 || user->getNumResults() != 1 ||
        !isa<ReluOp, GeluOp, SiluOp>(user))
      continue;
    if (GraphModuleOp next = onlyModuleUser(user->getResult(0))) {
      if (up)
        return emitError(at, "module '")
               << path << "' holds more than one feed-forward ('" << getPath(up)
               << "' and '" << getPath(candidate)
               << "'): name a module with one";
      up = candidate;
      activation = user;
      down = next;
    }
  }
  if (!up)
    return emitError(at, "module '")
           << path << "' holds no feed-forward to sparsify (a linear module, "
           << "graph.relu, a linear module)";
  if (!isa<ReluOp>(activation))
    return emitError(at, "the feed-forward of '")
           << path << "' uses " << activation->getName()
           << ", not graph.relu: its dead blocks would not be exactly zero, "
           << "so sparsify would change the result";
  FailureOr<LinearModule> upLinear = linearModule(up, at);
  if (failed(upLinear))
    return failure();
  FailureOr<LinearModule> downLinear = linearModule(down, at);
  if (failed(downLinear))
    return failure();
  int64_t ffn = upLinear->weight.getType().getDimSize(0);
  if (ffn % config.block != 0)
    return emitError(at, "block ")
           << config.block << " does not divide the " << ffn << " features of '"
           << getPath(up) << "'";

  Value mask = oracle  ? buildOracle(*upLinear, config)
               : train ? buildPredictorTraining(*upLinear, config, ffn)
                       : buildPredictor(*upLinear, config, ffn);
  makeBlockSparse(*upLinear, mask, config, "out");
  makeBlockSparse(*downLinear, mask, config, "in");
  // Each module's result type is unchanged; the body arguments grew.
  Builder attrs(module.getContext());
  module->setAttr(
      "sparsified",
      attrs.getDictionaryAttr({
          attrs.getNamedAttr("block", attrs.getI64IntegerAttr(config.block)),
          attrs.getNamedAttr("rows", attrs.getI64IntegerAttr(config.rows)),
          attrs.getNamedAttr("predictor",
                             attrs.getStringAttr(config.predictor)),
      }));
  return success();
}

} // namespace slapo::graph
