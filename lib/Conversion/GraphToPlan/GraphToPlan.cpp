//===- GraphToPlan.cpp - a training step as kernel calls ------------------===//

#include "graph/GraphUtils.h"
#include "slapo/Conversion/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

namespace slapo {
#define GEN_PASS_DEF_CONVERTGRAPHTOPLAN
#include "slapo/Conversion/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo;

namespace {

/// A readable name for an activation: the module it came from and the op.
std::string activationName(Operation *op, unsigned resultIndex) {
  std::string name;
  if (auto loc = dyn_cast<NameLoc>(op->getLoc()))
    name = loc.getName().str() + "/";
  name += op->getName().stripDialect().str();
  if (op->getNumResults() > 1)
    name += "#" + std::to_string(resultIndex);
  return name;
}

class Lowering {
public:
  Lowering(graph::ModelOp model) : model(model), b(model) {}

  LogicalResult run() {
    Block &body = model.getBody().front();
    if (!body.getOps<graph::GraphModuleOp>().empty() ||
        !body.getOps<graph::ParamRefOp>().empty())
      return model.emitOpError("must be flattened (graph-flatten) before "
                               "convert-graph-to-plan");
    if (!body.getOps<graph::GradientOp>().empty())
      return model.emitOpError("has gradients without updates: run "
                               "graph-apply-optimizer first");
    for (BlockArgument arg : body.getArguments())
      if (!cast<RankedTensorType>(arg.getType()).hasStaticShape())
        return model.emitOpError("shapes must be static: run "
                                 "graph-specialize-shapes first");

    // Values that are gradients of parameters stay resident as such.
    for (Operation &op : body)
      if (isa<graph::SgdUpdateOp, graph::AdamwUpdateOp>(op))
        gradValues.insert(op.getOperand(1));

    program = plan::ProgramOp::create(b, model.getLoc(), model.getSymName());
    program.getBody().push_back(new Block());
    b.setInsertionPointToStart(&program.getBody().front());
    setProgramAttributes();

    static constexpr const char *kInputNames[] = {"input_ids", "targets"};
    for (auto [i, arg] : llvm::enumerate(body.getArguments()))
      values[arg] = tensor(uniqueName(i < 2 ? kInputNames[i] : "input"),
                           plan::MemoryCategory::Input, arg.getType());
    for (Operation &op : body)
      if (failed(lower(op)))
        return failure();
    model.erase();
    return success();
  }

private:
  Value tensor(StringRef name, plan::MemoryCategory category, Type type) {
    return plan::TensorOp::create(
        b, model.getLoc(), type, b.getStringAttr(name),
        plan::MemoryCategoryAttr::get(b.getContext(), category),
        b.getI64IntegerAttr(-1), Attribute(), BoolAttr());
  }

  void setProgramAttributes() {
    auto ids = cast<RankedTensorType>(model.getArgumentTypes()[0]);
    program->setAttr("batch", b.getI64IntegerAttr(ids.getDimSize(0)));
    program->setAttr("seq", b.getI64IntegerAttr(ids.getDimSize(1)));
    if (DictionaryAttr config = model.getConfigAttr())
      for (StringRef key :
           {"model_type", "vocab_size", "max_positions", "hf_config"})
        if (Attribute value = config.get(key))
          program->setAttr(key, value);
    std::string optimizer = "none";
    for (Operation &op : model.getBody().front()) {
      if (isa<graph::SgdUpdateOp>(op))
        optimizer = "sgd";
      if (auto adamw = dyn_cast<graph::AdamwUpdateOp>(op)) {
        optimizer = "adamw";
        for (StringRef key : {"beta1", "beta2", "epsilon", "weight_decay"})
          program->setAttr(key, adamw->getAttr(key));
      }
    }
    program->setAttr("optimizer", b.getStringAttr(optimizer));
    if (Attribute tp = model->getAttr("tp"))
      program->setAttr("tp", tp);
    if (Attribute adapters = model->getAttr("lora_adapters"))
      program->setAttr("lora_adapters", adapters);
  }

  LogicalResult lower(Operation &op) {
    Location loc = op.getLoc();
    if (auto param = dyn_cast<graph::ParamOp>(op)) {
      auto t = plan::TensorOp::create(
          b, loc, param.getType(), param.getNameAttr(),
          plan::MemoryCategoryAttr::get(b.getContext(),
                                        plan::MemoryCategory::Param),
          b.getI64IntegerAttr(-1), param.getInitAttr(),
          b.getBoolAttr(param.getTrainable()));
      // Which slice a rank holds, for initialising and saving per rank.
      // A padded vocabulary also records its whole `size`.
      if (auto shard = param->getAttrOfType<DictionaryAttr>("shard")) {
        NamedAttrList slice;
        for (StringRef key : {"axis", "parts", "size"})
          if (Attribute value = shard.get(key))
            slice.set(key, value);
        t->setAttr("shard", slice.getDictionary(b.getContext()));
      }
      for (StringRef key : {"added_by", "init_file"})
        if (Attribute value = param->getAttr(key))
          t->setAttr(key, value);
      values[param.getResult()] = t;
      return success();
    }
    if (auto output = dyn_cast<graph::OutputOp>(op)) {
      plan::LossOp::create(b, loc, values.lookup(output.getValues()[0]));
      // Marked at the end, as the loss is, so that they live to the step's
      // end.
      if (predictorStats)
        plan::PredictorStatsOp::create(b, loc, predictorStats);
      return success();
    }
    if (auto reshape = dyn_cast<graph::ReshapeOp>(op)) {
      values[reshape.getResult()] = plan::ViewOp::create(
          b, loc, reshape.getType(), values.lookup(reshape.getInput()));
      return success();
    }
    if (isa<graph::SgdUpdateOp, graph::AdamwUpdateOp>(op))
      return lowerUpdate(op);

    SmallVector<Value> ins, outs;
    for (Value operand : op.getOperands()) {
      Value lowered = values.lookup(operand);
      if (!lowered)
        return op.emitOpError("operand has no plan tensor");
      ins.push_back(lowered);
    }
    for (auto [i, result] : llvm::enumerate(op.getResults())) {
      bool isGrad = gradValues.contains(result);
      std::string name = uniqueName(activationName(&op, i));
      Value t = tensor(isGrad ? "grad:" + name : name,
                       isGrad ? plan::MemoryCategory::Grad
                              : plan::MemoryCategory::Activation,
                       result.getType());
      values[result] = t;
      outs.push_back(t);
    }
    auto call = plan::CallOp::create(
        b, loc, b.getStringAttr(op.getName().stripDialect()), ins, outs);
    for (NamedAttribute attr : op.getAttrs())
      if (attr.getName() != graph::kPredictorLossAttr &&
          attr.getName() != graph::kPredictorStatsAttr)
        call->setAttr(attr.getName(), attr.getValue());
    if (op.hasAttr(graph::kPredictorStatsAttr))
      predictorStats = outs[0];
    return success();
  }

  /// Updates write the parameter (and AdamW's moments) in place.
  LogicalResult lowerUpdate(Operation &op) {
    Value param = values.lookup(op.getOperand(0));
    Value grad = values.lookup(op.getOperand(1));
    auto paramOp = param.getDefiningOp<plan::TensorOp>();
    SmallVector<Value> outs{param};
    if (isa<graph::AdamwUpdateOp>(op))
      for (StringRef suffix : {".exp_avg", ".exp_avg_sq"})
        outs.push_back(tensor(paramOp.getName().str() + suffix.str(),
                              plan::MemoryCategory::OptimizerState,
                              param.getType()));
    auto call = plan::CallOp::create(
        b, op.getLoc(), b.getStringAttr(op.getName().stripDialect()),
        ValueRange{grad}, outs);
    for (NamedAttribute attr : op.getAttrs())
      call->setAttr(attr.getName(), attr.getValue());
    return success();
  }

  /// `name`, or `name_2`, `name_3`, ... when a tensor already has it: a
  /// module's ops of the same kind (its forward and backward linears) share
  /// the readable part.
  std::string uniqueName(const std::string &name) {
    unsigned &uses = nameUses[name];
    ++uses;
    return uses == 1 ? name : name + "_" + std::to_string(uses);
  }

  graph::ModelOp model;
  OpBuilder b;
  llvm::StringMap<unsigned> nameUses;
  plan::ProgramOp program;
  llvm::DenseMap<Value, Value> values;
  llvm::DenseSet<Value> gradValues;
  Value predictorStats;
};

struct ConvertGraphToPlanPass
    : public slapo::impl::ConvertGraphToPlanBase<ConvertGraphToPlanPass> {
  void runOnOperation() override {
    SmallVector<graph::ModelOp> models(getOperation().getOps<graph::ModelOp>());
    for (graph::ModelOp model : models)
      if (failed(Lowering(model).run()))
        return signalPassFailure();
  }
};

} // namespace
