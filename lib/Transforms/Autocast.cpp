//===- Autocast.cpp - bf16/f16 mixed precision on the flat model ---------===//
//
// The Megatron / PyTorch-autocast recipe, made explicit with graph.cast ops.
// Parameters stay f32: they are the master weights, so their gradients and
// the optimizer state stay f32 too (a cast's adjoint casts the gradient
// back). Each op gets one of three rules (an op with none is refused);
// "16" below is `precision` (bf16 or f16):
//
//   rule     ops                                     operands -> results
//   -------  --------------------------------------  --------------------
//   compute  embedding (its table), linear, matmul,  float ones cast to
//            attention, rope, gelu, relu, silu,      16 -> 16 (a loss
//            dropout, add, mul, scale, causal_mask,  stays f32)
//            bias_gelu, sync, layer_norm, rms_norm,
//            softmax, add_rms_norm,
//            bias_dropout_add_layer_norm,
//            cross_entropy, block_mask,
//            block_sparse_linear, sigmoid_bce
//            (f32 loss), mask_agreement (f32)
//   layout   reshape, transpose, split, concat       16 if any float one
//                                                    is 16 (concat casts
//                                                    the rest), else as
//                                                    they are
//   keep     param, position_ids, cast               unchanged
//
// Kernels read and write 16-bit tensors and compute in float32: GEMMs
// accumulate in f32, norms keep their statistics and softmax and the loss
// their maxima and sums in f32, and the loss is f32. So the norms' inputs
// and the logits are stored in 16 bits, as Megatron's bf16 recipe does
// (PyTorch's autocast keeps layer_norm and the loss's log_softmax in f32).
// The model's result (the loss) keeps its declared type, f32. A value is
// cast to a type at most once: the cast sits before its first reader and
// every later reader shares it, so a parameter read by several 16-bit ops
// (a tied embedding) has one cast and one gradient. A cast takes the
// checkpoint region of that first reader, so recomputation redoes it.
// An op with no rule is an error, not silently kept in f32.
//
//===----------------------------------------------------------------------===//

#include "slapo/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

namespace slapo {
#define GEN_PASS_DEF_GRAPHAUTOCAST
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

constexpr llvm::StringLiteral kRegionAttr = "checkpoint_region";

enum class Rule { Compute, Layout, Keep, None };

Rule ruleOf(Operation *op) {
  return llvm::TypeSwitch<Operation *, Rule>(op)
      .Case<EmbeddingOp, LinearOp, MatmulOp, AttentionOp, RopeOp, GeluOp,
            ReluOp, SiluOp, DropoutOp, AddOp, MulOp, ScaleOp, CausalMaskOp,
            BiasGeluOp, SyncOp, LayerNormOp, RmsNormOp, SoftmaxOp,
            CrossEntropyOp, BiasDropoutAddLayerNormOp, AddRmsNormOp,
            BlockMaskOp, BlockSparseLinearOp, SigmoidBceOp, MaskAgreementOp,
            TileMeanOp, AttentionBlockMaskOp>(
          [](Operation *) { return Rule::Compute; })
      .Case<ReshapeOp, TransposeOp, SplitOp, ConcatOp>(
          [](Operation *) { return Rule::Layout; })
      .Case<ParamOp, PositionIdsOp, CastOp>(
          [](Operation *) { return Rule::Keep; })
      .Default([](Operation *) { return Rule::None; });
}

/// The element type of `value` if it is a float tensor, else null.
FloatType floatElementType(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type ? dyn_cast<FloatType>(type.getElementType()) : FloatType();
}

class Autocast {
public:
  Autocast(ModelOp model, FloatType low)
      : model(model), low(low), f32(Float32Type::get(model.getContext())) {}

  LogicalResult run() {
    Block &body = model.getBody().front();
    if (!body.getOps<GraphModuleOp>().empty())
      return model.emitOpError("has graph.module ops left: run graph-flatten "
                               "before graph-autocast");
    if (!body.getOps<GradientOp>().empty())
      return model.emitOpError("already has a backward pass: run "
                               "graph-autocast before graph-generate-backward");
    for (Operation &op : llvm::make_early_inc_range(body))
      if (failed(rewrite(op)))
        return failure();
    return success();
  }

private:
  LogicalResult rewrite(Operation &op) {
    if (auto output = dyn_cast<OutputOp>(op)) {
      for (auto [i, type] : llvm::enumerate(model.getResultTypes()))
        if (auto element = dyn_cast<FloatType>(
                cast<RankedTensorType>(type).getElementType()))
          if (failed(castOperand(op, i, element)))
            return failure();
      return success();
    }
    Rule rule = ruleOf(&op);
    if (rule == Rule::None)
      return op.emitOpError("has no graph-autocast rule: add it to the table "
                            "in lib/Transforms/Autocast.cpp");
    if (rule == Rule::Keep)
      return success();

    FloatType target = low;
    if (rule == Rule::Layout) {
      target = FloatType();
      for (Value operand : op.getOperands())
        if (FloatType type = floatElementType(operand))
          target = (!target || type == low) ? type : target;
      if (!target)
        return success();
    }
    for (unsigned i = 0; i < op.getNumOperands(); ++i)
      if (failed(castOperand(op, i, target)))
        return failure();
    return reinferResultTypes(op);
  }

  /// Makes operand `index` of `user` have element type `to` (if it is a
  /// float tensor), through the value's one cast to `to`.
  LogicalResult castOperand(Operation &user, unsigned index, FloatType to) {
    Value value = user.getOperand(index);
    FloatType from = floatElementType(value);
    if (!from || from == to)
      return success();
    if (from != f32 && from != low)
      return user.emitOpError("has an operand of element type ")
             << from << ": graph-autocast takes f32 models";
    Value &shared = casts[{value, to}];
    if (!shared) {
      OpBuilder b(&user);
      auto op = CastOp::create(b, user.getLoc(), value, to);
      if (Attribute region = user.getAttr(kRegionAttr))
        op->setAttr(kRegionAttr, region);
      shared = op.getResult();
    }
    user.setOperand(index, shared);
    return success();
  }

  /// Result types follow the operands' new element types.
  static LogicalResult reinferResultTypes(Operation &op) {
    if (auto reshape = dyn_cast<ReshapeOp>(op)) {
      reshape.getResult().setType(reshape.getType().clone(
          reshape.getInput().getType().getElementType()));
      return success();
    }
    SmallVector<Type> types;
    if (failed(cast<InferTypeOpInterface>(op).inferReturnTypes(
            op.getContext(), op.getLoc(), op.getOperands(),
            op.getAttrDictionary(), op.getPropertiesStorage(), op.getRegions(),
            types)))
      return failure();
    for (auto [result, type] : llvm::zip(op.getResults(), types))
      result.setType(type);
    return success();
  }

  ModelOp model;
  FloatType low, f32;
  llvm::DenseMap<std::pair<Value, Type>, Value> casts;
};

struct GraphAutocastPass
    : public slapo::impl::GraphAutocastBase<GraphAutocastPass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    FloatType low = precision == "bf16"  ? FloatType(BFloat16Type::get(context))
                    : precision == "f16" ? FloatType(Float16Type::get(context))
                                         : FloatType();
    if (!low) {
      getOperation().emitError("graph-autocast: unknown precision '")
          << precision << "', expected bf16 or f16";
      return signalPassFailure();
    }
    for (ModelOp model : getOperation().getOps<ModelOp>())
      if (failed(Autocast(model, low).run()))
        return signalPassFailure();
  }
};

} // namespace
