//===- SparsifyRewrite.cpp - a ReLU MLP as block-sparse kernels -----------===//
//
// The `sparsify` schedule primitive (lib/Schedule/SchedOps.cpp) on a module
// holding a ReLU feed-forward: up = linear module, graph.relu, down =
// linear module (OPT's fc1, activation, fc2). A `sparsity_oracle` module
// beside them scores the up-projection's tiles, graph.block_mask makes
// the mask, and both linear modules take it as a second operand and run
// graph.block_sparse_linear on their own (kept) weight and bias.
//
//===----------------------------------------------------------------------===//

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
  if (linear.getInput() != body.getArgument(0))
    return emitError(at, "module '")
           << path << "' transforms its input before the linear layer";
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

/// The `sparsity_oracle` module before `up`: the up-projection computed
/// densely on param_refs of its weights, and its live tiles.
Value buildOracle(LinearModule up, const SparsifyConfig &config) {
  Location loc = up.module.getLoc();
  Value x = up.module->getOperand(0);
  // The body first, so that the module gets the mask's inferred type.
  Block *body = new Block();
  Value arg = body->addArgument(x.getType(), loc);
  OpBuilder ib(up.module.getContext()); // the block has no region yet
  ib.setInsertionPointToEnd(body);
  Value weight =
      ParamRefOp::create(ib, loc, up.weight.getType(), getPath(up.weight));
  Value bias =
      up.bias ? ParamRefOp::create(ib, loc, up.bias.getType(), getPath(up.bias))
              : Value();
  Value scores = LinearOp::create(ib, loc, arg, weight, bias, false);
  Value mask = BlockMaskOp::create(
      ib, loc, scores, ib.getI64IntegerAttr(config.rows),
      ib.getI64IntegerAttr(config.block), ib.getF64FloatAttr(config.threshold));
  OutputOp::create(ib, loc, mask);
  OpBuilder b(up.module);
  auto oracle = GraphModuleOp::create(b, loc, TypeRange{mask.getType()},
                                      "sparsity_oracle", ValueRange{x});
  oracle.getBody().push_back(body);
  return oracle.getResult(0);
}

} // namespace

LogicalResult sparsifyMlp(GraphModuleOp module, const SparsifyConfig &config,
                          Location at) {
  std::string path = getPath(module);
  if (config.predictor != "oracle")
    return emitError(at, "predictor '")
           << config.predictor << "' is not supported yet (only "
           << "predictor=oracle, the exact mask)";
  if (config.block <= 0 || config.rows <= 0 || !std::isfinite(config.threshold))
    return emitError(at, "sparsify needs block > 0, rows > 0 and a finite "
                         "threshold");
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

  Value mask = buildOracle(*upLinear, config);
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
