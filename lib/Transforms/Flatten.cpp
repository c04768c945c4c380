//===- Flatten.cpp - inline the module hierarchy --------------------------===//

#include "graph/GraphUtils.h"
#include "slapo/Transforms/Passes.h"

#include "llvm/ADT/StringMap.h"

namespace slapo {
#define GEN_PASS_DEF_GRAPHFLATTEN
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

constexpr llvm::StringLiteral kRegionAttr = "checkpoint_region";

/// Replaces `module` by its body. The path of everything it held is
/// `module`'s name (already the full path of `module`) plus its own name.
void inlineModule(GraphModuleOp module) {
  std::string prefix = module.getName().str();
  Block &body = module.getBody().front();
  auto output = cast<OutputOp>(body.getTerminator());
  MLIRContext *context = module.getContext();
  StringAttr where = StringAttr::get(context, prefix);
  // A checkpointed module's ops (and those of its submodules) form one
  // recompute region, named by the module's path.
  StringAttr region = module->hasAttr("checkpoint")
                          ? StringAttr::get(context, prefix)
                          : module->getAttrOfType<StringAttr>(kRegionAttr);

  for (Operation &op : body.without_terminator()) {
    if (region && !isa<ParamOp>(op))
      op.setAttr(kRegionAttr, region);
    if (auto param = dyn_cast<ParamOp>(op))
      param.setName(prefix + "." + param.getName().str());
    else if (auto child = dyn_cast<GraphModuleOp>(op))
      child.setName(prefix + "." + child.getName().str());
    // The innermost module an op came from names it best; ops are moved
    // once per enclosing level, outermost first. What the name wraps (a
    // .sched statement for ops that schedules add) stays.
    Location source = op.getLoc();
    while (auto named = dyn_cast<NameLoc>(source))
      source = named.getChildLoc();
    op.setLoc(NameLoc::get(where, source));
  }
  for (auto [argument, operand] :
       llvm::zip(body.getArguments(), module.getInputs()))
    argument.replaceAllUsesWith(operand);
  for (auto [result, value] :
       llvm::zip(module.getResults(), output.getValues()))
    result.replaceAllUsesWith(value);
  output.erase();
  module->getBlock()->getOperations().splice(Block::iterator(module),
                                             body.getOperations());
  module.erase();
}

LogicalResult flatten(ModelOp model) {
  Block &body = model.getBody().front();
  // LoRA adapters are remembered on the model once their modules are gone.
  SmallVector<Attribute> adapters;
  Builder builder(model.getContext());
  model.walk([&](GraphModuleOp module) {
    auto adapter = module->getAttrOfType<DictionaryAttr>("lora_adapter");
    if (!adapter)
      return;
    SmallVector<NamedAttribute> fields(adapter.getValue());
    fields.push_back(
        builder.getNamedAttr("path", builder.getStringAttr(getPath(module))));
    adapters.push_back(builder.getDictionaryAttr(fields));
  });
  if (!adapters.empty())
    model->setAttr("lora_adapters", builder.getArrayAttr(adapters));
  while (true) {
    auto modules = body.getOps<GraphModuleOp>();
    if (modules.empty())
      break;
    inlineModule(*modules.begin());
  }

  // Parameters first, so every use (tied ones included) comes after them.
  llvm::StringMap<ParamOp> params;
  SmallVector<ParamOp> ordered(body.getOps<ParamOp>());
  for (ParamOp param : llvm::reverse(ordered)) {
    param->moveBefore(&body, body.begin());
    params[param.getName()] = param;
  }
  SmallVector<ParamRefOp> refs(body.getOps<ParamRefOp>());
  for (ParamRefOp ref : refs) {
    ParamOp param = params.lookup(ref.getTarget());
    if (!param)
      return ref.emitOpError("refers to an unknown parameter '")
             << ref.getTarget() << "'";
    ref.replaceAllUsesWith(param.getResult());
    ref.erase();
  }

  // Each source of randomness gets its own stream.
  int64_t stream = 0;
  Builder b(model.getContext());
  model.walk([&](Operation *op) {
    if (auto dropout = dyn_cast<DropoutOp>(op))
      dropout.setRngStreamAttr(b.getI64IntegerAttr(stream++));
    else if (auto attention = dyn_cast<AttentionOp>(op);
             attention && attention.getDropout().convertToDouble() > 0.0)
      attention.setRngStreamAttr(b.getI64IntegerAttr(stream++));
  });
  return success();
}

struct GraphFlattenPass
    : public slapo::impl::GraphFlattenBase<GraphFlattenPass> {
  void runOnOperation() override {
    for (ModelOp model : getOperation().getOps<ModelOp>())
      if (failed(flatten(model)))
        return signalPassFailure();
  }
};

} // namespace
