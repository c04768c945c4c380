//===- SpecializeShapes.cpp - fix batch and sequence length --------------===//

#include "graph/GraphUtils.h"
#include "slapo/Transforms/Passes.h"

#include "mlir/IR/Verifier.h"

namespace slapo {
#define GEN_PASS_DEF_GRAPHSPECIALIZESHAPES
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

/// `type` with its leading dynamic dimensions taken from `like`.
RankedTensorType fillDynamicPrefix(RankedTensorType type,
                                   RankedTensorType like) {
  SmallVector<int64_t> shape(type.getShape());
  for (size_t i = 0; i < shape.size() && i < size_t(like.getRank()); ++i)
    if (ShapedType::isDynamic(shape[i]))
      shape[i] = like.getDimSize(i);
  return RankedTensorType::get(shape, type.getElementType());
}

LogicalResult specialize(ModelOp model, int64_t batch, int64_t seq) {
  if (!model.getBody().getOps<GraphModuleOp>().empty())
    return model.emitOpError("has graph.module ops left: run graph-flatten "
                             "before graph-specialize-shapes");
  if (DictionaryAttr config = model.getConfigAttr())
    if (auto positions = config.getAs<IntegerAttr>("max_positions");
        positions && seq > positions.getInt())
      return model.emitOpError("sequence length ")
             << seq << " exceeds the " << positions.getInt()
             << " positions of the model (max_positions)";

  Block &body = model.getBody().front();
  SmallVector<Type> inputs;
  for (BlockArgument argument : body.getArguments()) {
    auto type = cast<RankedTensorType>(argument.getType());
    if (type.getRank() != 2)
      return model.emitOpError("inputs must be [batch, seq] token ids");
    auto fixed = RankedTensorType::get({batch, seq}, type.getElementType());
    argument.setType(fixed);
    inputs.push_back(fixed);
  }
  model.setFunctionTypeAttr(TypeAttr::get(FunctionType::get(
      model.getContext(), inputs, model.getFunctionType().getResults())));

  for (Operation &op : body.without_terminator()) {
    if (auto reshape = dyn_cast<ReshapeOp>(op)) {
      reshape.getResult().setType(fillDynamicPrefix(
          reshape.getResult().getType(), reshape.getInput().getType()));
      continue;
    }
    auto inferable = dyn_cast<InferTypeOpInterface>(op);
    if (!inferable)
      continue;
    SmallVector<Type> types;
    if (failed(inferable.inferReturnTypes(
            op.getContext(), op.getLoc(), op.getOperands(),
            op.getAttrDictionary(), op.getPropertiesStorage(), op.getRegions(),
            types)))
      return failure();
    for (auto [result, type] : llvm::zip(op.getResults(), types))
      result.setType(type);
  }
  return verify(model);
}

struct GraphSpecializeShapesPass
    : public slapo::impl::GraphSpecializeShapesBase<GraphSpecializeShapesPass> {
  using Base::Base;
  void runOnOperation() override {
    if (batch <= 0 || seq <= 0) {
      getOperation().emitError("graph-specialize-shapes needs batch > 0 and "
                               "seq > 0, got batch=")
          << static_cast<int64_t>(batch)
          << " seq=" << static_cast<int64_t>(seq);
      return signalPassFailure();
    }
    for (ModelOp model : getOperation().getOps<ModelOp>())
      if (failed(specialize(model, batch, seq)))
        return signalPassFailure();
  }
};

} // namespace
