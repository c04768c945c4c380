//===- SchedOps.cpp - schedule primitives as transform ops ---------------===//

#include "sched/SchedOps.h"

#include "graph/GraphDialect.h"
#include "graph/GraphUtils.h"
#include "graph/PathPattern.h"

#include "mlir/Dialect/Transform/IR/TransformDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectRegistry.h"

#include <cmath>

#define GET_OP_CLASSES
#include "sched/SchedOps.cpp.inc"

using namespace mlir;
using namespace slapo;
using namespace slapo::sched;

namespace {

class SchedExtension
    : public transform::TransformDialectExtension<SchedExtension> {
public:
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(SchedExtension)
  using Base::Base;

  void init() {
    declareDependentDialect<graph::GraphDialect>();
    registerTransformOps<
#define GET_OP_LIST
#include "sched/SchedOps.cpp.inc"
        >();
  }
};

/// The pattern of a primitive; the .sched parser has already checked it, so
/// a failure here means transform IR written by hand.
FailureOr<graph::PathPattern> patternOf(Operation *op, StringRef text) {
  std::string error;
  size_t column = 0;
  std::optional<graph::PathPattern> pattern =
      graph::PathPattern::parse(text, error, column);
  if (!pattern) {
    emitError(op->getLoc(), "bad path '") << text << "': " << error;
    return failure();
  }
  return *pattern;
}

/// Runs `body` on every graph.model under the payload ops of `root`.
template <typename Body>
void forEachModel(transform::TransformState &state, Value root, Body body) {
  for (Operation *payload : state.getPayloadOps(root))
    payload->walk([&](graph::ModelOp model) { body(model); });
}

/// Sets the trainable flag of every parameter whose path matches, or that
/// lies in a module whose path matches.
DiagnosedSilenceableFailure setTrainable(Operation *op, Value root,
                                         StringRef text, bool trainable,
                                         transform::TransformState &state) {
  FailureOr<graph::PathPattern> pattern = patternOf(op, text);
  if (failed(pattern))
    return DiagnosedSilenceableFailure::definiteFailure();
  int64_t matched = 0, modules = 0;
  forEachModel(state, root, [&](graph::ModelOp model) {
    model.walk([&](graph::GraphModuleOp module) {
      modules += pattern->matches(graph::getPath(module));
    });
    model.walk([&](graph::ParamOp param) {
      bool selected = pattern->matches(graph::getPath(param));
      for (auto module = param->getParentOfType<graph::GraphModuleOp>();
           module && !selected;
           module = module->getParentOfType<graph::GraphModuleOp>())
        selected = pattern->matches(graph::getPath(module));
      if (!selected)
        return;
      param.setTrainable(trainable);
      ++matched;
    });
  });
  if (matched == 0 && modules > 0)
    return emitDefiniteFailure(op, "path '")
           << text << "' matches modules that own no parameters (tied "
           << "weights belong to the module that defines them)";
  if (matched == 0)
    return emitDefiniteFailure(op, "path '")
           << text << "' matches no parameter or module of the model";
  return DiagnosedSilenceableFailure::success();
}

/// The modules whose paths match `text`; an error (and failure) if none.
FailureOr<SmallVector<graph::GraphModuleOp>>
selectModules(Operation *op, Value root, StringRef text,
              transform::TransformState &state) {
  FailureOr<graph::PathPattern> pattern = patternOf(op, text);
  if (failed(pattern))
    return failure();
  SmallVector<graph::GraphModuleOp> selected;
  forEachModel(state, root, [&](graph::ModelOp model) {
    model.walk([&](graph::GraphModuleOp module) {
      if (pattern->matches(graph::getPath(module)))
        selected.push_back(module);
    });
  });
  if (selected.empty())
    return emitError(op->getLoc(), "path '")
           << text << "' matches no module of the model";
  return selected;
}

/// Runs `edit` on every module whose path matches `text`, stopping at the
/// first failure (which `edit` has reported).
DiagnosedSilenceableFailure
editModules(Operation *op, Value root, StringRef text,
            transform::TransformState &state,
            function_ref<LogicalResult(graph::GraphModuleOp)> edit) {
  FailureOr<SmallVector<graph::GraphModuleOp>> matched =
      selectModules(op, root, text, state);
  if (failed(matched))
    return DiagnosedSilenceableFailure::definiteFailure();
  for (graph::GraphModuleOp module : *matched)
    if (failed(edit(module)))
      return DiagnosedSilenceableFailure::definiteFailure();
  return DiagnosedSilenceableFailure::success();
}

} // namespace

DiagnosedSilenceableFailure FreezeOp::apply(transform::TransformRewriter &,
                                            transform::TransformResults &,
                                            transform::TransformState &state) {
  return setTrainable(*this, getRoot(), getPath(), false, state);
}

DiagnosedSilenceableFailure
UnfreezeOp::apply(transform::TransformRewriter &, transform::TransformResults &,
                  transform::TransformState &state) {
  return setTrainable(*this, getRoot(), getPath(), true, state);
}

DiagnosedSilenceableFailure
CheckpointOp::apply(transform::TransformRewriter &,
                    transform::TransformResults &,
                    transform::TransformState &state) {
  return editModules(
      *this, getRoot(), getPath(), state,
      [&](graph::GraphModuleOp module) -> LogicalResult {
        // Nested checkpoints would recompute twice: refuse them.
        for (auto outer = module->getParentOfType<graph::GraphModuleOp>();
             outer; outer = outer->getParentOfType<graph::GraphModuleOp>())
          if (outer->hasAttr("checkpoint"))
            return mlir::emitDefiniteFailure(*this, "module '")
                   << graph::getPath(module) << "' is inside '"
                   << graph::getPath(outer)
                   << "', which is already checkpointed";
        WalkResult inner =
            module.getBody().walk([&](graph::GraphModuleOp child) {
              return child->hasAttr("checkpoint") ? WalkResult::interrupt()
                                                  : WalkResult::advance();
            });
        if (inner.wasInterrupted())
          return mlir::emitDefiniteFailure(*this, "module '")
                 << graph::getPath(module)
                 << "' holds a module that is already checkpointed";
        module->setAttr("checkpoint", UnitAttr::get(getContext()));
        return success();
      });
}

/// Rewrites the body of a linear module (one graph.linear on its own
/// weight) into base + (alpha / rank) * lora_B(lora_A(dropout(x))).
static LogicalResult addAdapter(graph::GraphModuleOp module, int64_t rank,
                                double alpha, double dropout,
                                Operation *primitive) {
  auto path = graph::getPath(module);
  Block &body = module.getBody().front();
  auto linears = llvm::to_vector(body.getOps<graph::LinearOp>());
  if (linears.size() != 1 ||
      !linears[0].getWeight().getDefiningOp<graph::ParamOp>())
    return emitError(primitive->getLoc(), "module '")
           << path << "' is not a linear layer (lora needs a module holding "
           << "one graph.linear on its own weight)";
  if (!body.getOps<graph::GraphModuleOp>().empty())
    return emitError(primitive->getLoc(), "module '")
           << path << "' already has a LoRA adapter";
  graph::LinearOp linear = linears[0];
  auto weightType = linear.getWeight().getType();
  bool inOut = linear.getInOut();
  int64_t in = weightType.getDimSize(inOut ? 0 : 1);
  int64_t out = weightType.getDimSize(inOut ? 1 : 0);
  if (rank > std::min(in, out))
    return emitError(primitive->getLoc(), "rank ")
           << rank << " exceeds the smaller side of '" << path << "' (" << in
           << " in, " << out << " out)";

  // What an exporter needs to write the adapter in PEFT's layout.
  Builder attrs(module.getContext());
  module->setAttr(
      "lora_adapter",
      attrs.getDictionaryAttr({
          attrs.getNamedAttr("rank", attrs.getI64IntegerAttr(rank)),
          attrs.getNamedAttr("alpha", attrs.getF64FloatAttr(alpha)),
          attrs.getNamedAttr("dropout", attrs.getF64FloatAttr(dropout)),
          attrs.getNamedAttr("fan_in_fan_out", attrs.getBoolAttr(inOut)),
      }));

  // The base layer is frozen; only the adapter trains.
  for (graph::ParamOp param : body.getOps<graph::ParamOp>())
    param.setTrainable(false);

  MLIRContext *context = module.getContext();
  Location loc = module.getLoc();
  OpBuilder b(linear->getNextNode());
  Value x = linear.getInput();
  if (dropout > 0.0)
    x = graph::DropoutOp::create(b, loc, x, b.getF64FloatAttr(dropout),
                                 IntegerAttr());
  auto adapterModule = [&](StringRef name, Value input, int64_t rows,
                           int64_t cols, graph::InitAttr init) -> Value {
    auto inputType = cast<RankedTensorType>(input.getType());
    SmallVector<int64_t> shape(inputType.getShape());
    shape.back() = rows;
    auto resultType = RankedTensorType::get(shape, inputType.getElementType());
    auto adapter = graph::GraphModuleOp::create(b, loc, TypeRange{resultType},
                                                name, ValueRange{input});
    Block *inner = new Block();
    adapter.getBody().push_back(inner);
    Value arg = inner->addArgument(input.getType(), loc);
    OpBuilder ib = OpBuilder::atBlockEnd(inner);
    Value weight = graph::ParamOp::create(
        ib, loc,
        RankedTensorType::get({rows, cols}, weightType.getElementType()),
        "weight", init, /*trainable=*/true);
    // Not in a base model's checkpoint: slapo-run --init keeps its init.
    weight.getDefiningOp()->setAttr("added_by", ib.getStringAttr("lora"));
    Value y = graph::LinearOp::create(ib, loc, arg, weight, Value(), false);
    graph::OutputOp::create(ib, loc, y);
    return adapter.getResult(0);
  };
  // kaiming_uniform(a = sqrt(5)) on [rank, in]: bound = 1 / sqrt(in).
  auto uniform = graph::InitAttr::get(context, graph::InitKind::uniform,
                                      APFloat(1.0 / std::sqrt(double(in))));
  auto zeros =
      graph::InitAttr::get(context, graph::InitKind::zeros, APFloat(0.0));
  Value a = adapterModule("lora_A", x, rank, in, uniform);
  Value bOut = adapterModule("lora_B", a, out, rank, zeros);
  Value scaled = graph::ScaleOp::create(
      b, loc, bOut, b.getF64FloatAttr(alpha / double(rank)));
  Value sum = graph::AddOp::create(b, loc, linear.getResult(), scaled);
  linear.getResult().replaceAllUsesExcept(sum, sum.getDefiningOp());
  return success();
}

DiagnosedSilenceableFailure LoraOp::apply(transform::TransformRewriter &,
                                          transform::TransformResults &,
                                          transform::TransformState &state) {
  return editModules(*this, getRoot(), getPath(), state,
                     [&](graph::GraphModuleOp module) -> LogicalResult {
                       return addAdapter(module, getRank(),
                                         getAlpha().convertToDouble(),
                                         getDropout().convertToDouble(), *this);
                     });
}

/// Replaces `linear` (which has a bias) by `wrap(linear without bias) +
/// bias` and returns the sum.
static Value takeOutBias(graph::LinearOp linear,
                         function_ref<Value(OpBuilder &, Value)> wrap) {
  OpBuilder b(linear);
  Value bare =
      graph::LinearOp::create(b, linear.getLoc(), linear.getInput(),
                              linear.getWeight(), Value(), linear.getInOut());
  Value sum =
      graph::AddOp::create(b, linear.getLoc(), wrap(b, bare), linear.getBias());
  linear.getResult().replaceAllUsesWith(sum);
  linear.erase();
  return sum;
}

DiagnosedSilenceableFailure
DecomposeOp::apply(transform::TransformRewriter &,
                   transform::TransformResults &,
                   transform::TransformState &state) {
  return editModules(
      *this, getRoot(), getPath(), state,
      [&](graph::GraphModuleOp module) -> LogicalResult {
        auto linears =
            llvm::to_vector(module.getBody().getOps<graph::LinearOp>());
        // A bias already taken out (by decompose, or by a sync that adds it
        // after its reduction) stays as it is.
        bool alreadyOut = llvm::any_of(
            module.getBody().getOps<graph::ParamOp>(),
            [](graph::ParamOp param) {
              return param.getName() == "bias" &&
                     llvm::all_of(param->getUsers(), [](Operation *user) {
                       return isa<graph::AddOp>(user);
                     });
            });
        if (linears.size() == 1 && !linears[0].getBias() && alreadyOut)
          return success();
        if (linears.size() != 1 || !linears[0].getBias())
          return mlir::emitDefiniteFailure(*this, "module '")
                 << graph::getPath(module)
                 << "' is not a linear layer with a bias (decompose takes the "
                    "bias out of one)";
        takeOutBias(linears[0], [](OpBuilder &, Value bare) { return bare; });
        return success();
      });
}

DiagnosedSilenceableFailure FuseOp::apply(transform::TransformRewriter &,
                                          transform::TransformResults &,
                                          transform::TransformState &state) {
  Builder b(getContext());
  return editModules(
      *this, getRoot(), getPath(), state,
      [&](graph::GraphModuleOp module) -> LogicalResult {
        auto model = module->getParentOfType<graph::ModelOp>();
        SmallVector<Attribute> fusions;
        if (auto earlier = model->getAttrOfType<ArrayAttr>("fusions"))
          fusions.assign(earlier.begin(), earlier.end());
        std::string path = graph::getPath(module);
        for (Attribute fusion : fusions) {
          auto entry = cast<DictionaryAttr>(fusion);
          if (entry.getAs<StringAttr>("pattern") == getPatternAttr() &&
              entry.getAs<StringAttr>("path").getValue() == path)
            return mlir::emitDefiniteFailure(*this, "module '")
                   << path << "' is already fused with " << getPattern();
        }
        fusions.push_back(b.getDictionaryAttr({
            b.getNamedAttr("pattern", getPatternAttr()),
            b.getNamedAttr("path", b.getStringAttr(path)),
            b.getNamedAttr("at", getLoc()),
        }));
        model->setAttr("fusions", b.getArrayAttr(fusions));
        return success();
      });
}

/// q k^T * scale, causal mask, softmax, dropout, then times v.
static LogicalResult decomposeAttention(graph::AttentionOp attention,
                                        Operation *primitive) {
  int64_t heads = attention.getQuery().getType().getDimSize(1);
  int64_t kvHeads = attention.getKey().getType().getDimSize(1);
  if (heads != kvHeads)
    return emitError(primitive->getLoc(),
                     "decomposed attention needs as many key/value heads as "
                     "query heads, but '")
           << graph::getPath(attention->getParentOp()) << "' has " << heads
           << " and " << kvHeads;
  OpBuilder b(attention);
  Location loc = attention.getLoc();
  Value scores = graph::MatmulOp::create(b, loc, attention.getQuery(),
                                         attention.getKey(), true);
  scores = graph::ScaleOp::create(b, loc, scores, attention.getScaleAttr());
  if (attention.getCausal())
    scores = graph::CausalMaskOp::create(b, loc, scores, false);
  Value probs =
      graph::SoftmaxOp::create(b, loc, scores, b.getI64IntegerAttr(-1));
  if (attention.getDropout().convertToDouble() > 0.0)
    probs = graph::DropoutOp::create(b, loc, probs, attention.getDropoutAttr(),
                                     IntegerAttr());
  Value out =
      graph::MatmulOp::create(b, loc, probs, attention.getValue(), false);
  attention.getResult().replaceAllUsesWith(out);
  attention.erase();
  return success();
}

/// The chain decomposeAttention makes, ending at `out`, as one
/// graph.attention; false if `out` does not end one.
static bool fuseAttention(graph::MatmulOp out) {
  if (out.getTransposeB())
    return false;
  SmallVector<Operation *> chain{out};
  auto single = [&](Value value, auto kind) -> decltype(kind) {
    auto op = value.getDefiningOp<decltype(kind)>();
    if (op && op->hasOneUse())
      chain.push_back(op);
    return op && op->hasOneUse() ? op : decltype(kind)();
  };
  Value probs = out.getLhs();
  auto dropout = single(probs, graph::DropoutOp());
  auto softmax =
      single(dropout ? dropout.getInput() : probs, graph::SoftmaxOp());
  if (!softmax || softmax.getAxisAttr().getInt() != -1)
    return false;
  auto mask = single(softmax.getInput(), graph::CausalMaskOp());
  if (mask && mask.getZero())
    return false;
  auto scale =
      single(mask ? mask.getInput() : softmax.getInput(), graph::ScaleOp());
  auto scores =
      scale ? single(scale.getInput(), graph::MatmulOp()) : graph::MatmulOp();
  if (!scores || !scores.getTransposeB() ||
      scores.getLhs().getType().getRank() != 4)
    return false;
  OpBuilder b(out);
  auto attention = graph::AttentionOp::create(
      b, out.getLoc(), scores.getLhs(), scores.getRhs(), out.getRhs(),
      scale.getFactorAttr(), mask ? b.getUnitAttr() : UnitAttr(),
      dropout ? dropout.getProbabilityAttr() : b.getF64FloatAttr(0.0),
      IntegerAttr());
  out.getResult().replaceAllUsesWith(attention.getResult());
  for (Operation *op : chain)
    op->erase();
  return true;
}

DiagnosedSilenceableFailure ReplaceOp::apply(transform::TransformRewriter &,
                                             transform::TransformResults &,
                                             transform::TransformState &state) {
  bool decompose = getAttention() == "decomposed";
  return editModules(
      *this, getRoot(), getPath(), state,
      [&](graph::GraphModuleOp module) -> LogicalResult {
        int64_t replaced = 0;
        if (decompose) {
          SmallVector<graph::AttentionOp> attentions;
          module.walk([&](graph::AttentionOp op) { attentions.push_back(op); });
          for (graph::AttentionOp attention : attentions) {
            if (failed(decomposeAttention(attention, *this)))
              return failure();
            ++replaced;
          }
        } else {
          SmallVector<graph::MatmulOp> matmuls;
          module.walk([&](graph::MatmulOp op) { matmuls.push_back(op); });
          // Walk from the last: a fused chain erases matmuls before it.
          for (graph::MatmulOp matmul : llvm::reverse(matmuls))
            replaced += fuseAttention(matmul);
        }
        if (replaced == 0)
          return mlir::emitDefiniteFailure(*this, "module '")
                 << graph::getPath(module) << "' has no "
                 << (decompose
                         ? "fused attention (graph.attention)"
                         : "decomposed attention (matmul, scale, softmax, "
                           "matmul)")
                 << " to replace";
        return success();
      });
}

DiagnosedSilenceableFailure ShardOp::apply(transform::TransformRewriter &,
                                           transform::TransformResults &,
                                           transform::TransformState &state) {
  FailureOr<graph::PathPattern> pattern = patternOf(*this, getPath());
  if (failed(pattern))
    return DiagnosedSilenceableFailure::definiteFailure();
  int64_t axis = getAxisAttr().getInt(), parts = getPartsAttr().getInt();
  SmallVector<graph::ParamOp> params;
  bool modules = false;
  forEachModel(state, getRoot(), [&](graph::ModelOp model) {
    model.walk([&](graph::ParamOp param) {
      if (pattern->matches(graph::getPath(param)))
        params.push_back(param);
    });
    model.walk([&](graph::GraphModuleOp module) {
      modules |= pattern->matches(graph::getPath(module));
    });
  });
  if (params.empty())
    return mlir::emitDefiniteFailure(*this, "path '")
           << getPath() << "' matches no parameter of the model"
           << (modules ? " (shard takes parameters, like "
                         "'<module>.weight', not modules)"
                       : "");
  Builder b(getContext());
  for (graph::ParamOp param : params) {
    auto type = cast<RankedTensorType>(param.getType());
    std::string path = graph::getPath(param);
    if (axis >= type.getRank())
      return mlir::emitDefiniteFailure(*this, "axis ")
             << axis << " is out of range for '" << path << "' of rank "
             << type.getRank();
    if (type.getDimSize(axis) % parts != 0)
      return mlir::emitDefiniteFailure(*this, "axis ")
             << axis << " of '" << path << "' (" << type.getDimSize(axis)
             << ") does not split into " << parts << " parts";
    if (auto earlier = param->getAttrOfType<DictionaryAttr>("shard")) {
      InFlightDiagnostic diag = mlir::emitError(getLoc())
                                << "'" << path << "' is already sharded";
      if (auto at = earlier.getAs<LocationAttr>("at"))
        diag.attachNote(at) << "by this shard";
      return DiagnosedSilenceableFailure::definiteFailure();
    }
    param->setAttr("shard",
                   b.getDictionaryAttr({
                       b.getNamedAttr("axis", b.getI64IntegerAttr(axis)),
                       b.getNamedAttr("parts", b.getI64IntegerAttr(parts)),
                       b.getNamedAttr("at", getLoc()),
                   }));
  }
  return DiagnosedSilenceableFailure::success();
}

/// Puts `sync` (built by `make`) between `value` and its uses in the body
/// of `module` (a linear's bias moves after it).
static Value syncOutput(OpBuilder &b, Value value,
                        function_ref<Value(OpBuilder &, Value)> make) {
  auto linear = value.getDefiningOp<graph::LinearOp>();
  if (!linear || !linear.getBias()) {
    b.setInsertionPointAfterValue(value);
    return make(b, value);
  }
  // A row-parallel linear adds its bias once, after the reduction.
  return takeOutBias(linear, make);
}

DiagnosedSilenceableFailure SyncOp::apply(transform::TransformRewriter &,
                                          transform::TransformResults &,
                                          transform::TransformState &state) {
  Location loc = getLoc();
  auto make = [&](OpBuilder &b, Value value) -> Value {
    return graph::SyncOp::create(b, loc, value, getForwardAttr(),
                                 getBackwardAttr(), b.getI64IntegerAttr(-1),
                                 b.getI64IntegerAttr(1));
  };
  auto isSynced = [&](Operation *op) {
    auto sync = dyn_cast_or_null<graph::SyncOp>(op);
    return sync && sync.getForward() == getForward() &&
           sync.getBackward() == getBackward();
  };
  return editModules(
      *this, getRoot(), getPath(), state,
      [&](graph::GraphModuleOp module) -> LogicalResult {
        Block &body = module.getBody().front();
        std::string path = graph::getPath(module);
        OpBuilder b(getContext());
        int64_t synced = 0;
        if (getAtOutput()) {
          Operation *output = body.getTerminator();
          for (OpOperand &operand : output->getOpOperands()) {
            Value value = operand.get();
            if (!isa<FloatType>(
                    cast<ShapedType>(value.getType()).getElementType()))
              continue;
            Operation *producer = value.getDefiningOp();
            if (isSynced(producer) ||
                (isa_and_nonnull<graph::AddOp>(producer) &&
                 isSynced(producer->getOperand(0).getDefiningOp())))
              return mlir::emitDefiniteFailure(*this, "module '")
                     << path << "' is already synced this way";
            operand.set(syncOutput(b, value, make));
            ++synced;
          }
        } else {
          b.setInsertionPointToStart(&body);
          for (BlockArgument argument : body.getArguments()) {
            auto type = cast<ShapedType>(argument.getType());
            if (!isa<FloatType>(type.getElementType()))
              continue;
            if (argument.hasOneUse() && isSynced(*argument.getUsers().begin()))
              return mlir::emitDefiniteFailure(*this, "module '")
                     << path << "' is already synced this way";
            Value value = make(b, argument);
            argument.replaceAllUsesExcept(value, value.getDefiningOp());
            ++synced;
          }
        }
        if (synced == 0)
          return mlir::emitDefiniteFailure(*this, "module '")
                 << path << "' has no floating-point "
                 << (getAtOutput() ? "output" : "input") << " to sync";
        return success();
      });
}

void slapo::sched::registerSchedExtension(DialectRegistry &registry) {
  registry.addExtensions<SchedExtension>();
}
