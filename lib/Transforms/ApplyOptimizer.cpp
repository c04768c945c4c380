//===- ApplyOptimizer.cpp - gradients become parameter updates -----------===//

#include "slapo/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

#include <regex>

namespace slapo {
#define GEN_PASS_DEF_GRAPHAPPLYOPTIMIZER
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

/// Whether Hugging Face Trainer leaves `param` out of weight decay: the
/// parameters of an nn.LayerNorm (here, a layer norm's gamma or beta, read
/// directly or through a cast), and names matching its patterns.
bool exemptFromWeightDecay(Value param) {
  auto op = param.getDefiningOp<ParamOp>();
  if (!op)
    return false;
  static const std::regex names(
      R"(bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.))");
  std::string name = op.getName().str();
  for (char &c : name)
    c = char(std::tolower(static_cast<unsigned char>(c)));
  if (std::regex_search(name, names))
    return true;
  SmallVector<Value> values = {param};
  while (!values.empty()) {
    Value value = values.pop_back_val();
    for (OpOperand &use : value.getUses()) {
      Operation *user = use.getOwner();
      if (auto cast = dyn_cast<CastOp>(user))
        values.push_back(cast.getResult());
      else if (auto norm = dyn_cast<LayerNormOp>(user)) {
        if (value == norm.getGamma() || value == norm.getBeta())
          return true;
      } else if (auto fused = dyn_cast<BiasDropoutAddLayerNormOp>(user)) {
        if (value == fused.getGamma() || value == fused.getBeta())
          return true;
      }
    }
  }
  return false;
}

struct GraphApplyOptimizerPass
    : public slapo::impl::GraphApplyOptimizerBase<GraphApplyOptimizerPass> {
  using Base::Base;

  void runOnOperation() override {
    if (optimizer != "sgd" && optimizer != "adamw") {
      getOperation().emitError("unknown optimizer '")
          << optimizer << "', expected sgd or adamw";
      return signalPassFailure();
    }
    auto inUnit = [](double v) { return v >= 0.0 && v < 1.0; };
    if (optimizer == "adamw" && (!inUnit(beta1) || !inUnit(beta2) ||
                                 !(epsilon > 0.0) || weightDecay < 0.0)) {
      getOperation().emitError("adamw needs betas in [0, 1), epsilon > 0 and "
                               "weight-decay >= 0");
      return signalPassFailure();
    }
    SmallVector<GradientOp> gradients;
    getOperation().walk([&](GradientOp op) { gradients.push_back(op); });
    for (GradientOp gradient : gradients) {
      OpBuilder b(gradient);
      if (optimizer == "sgd")
        SgdUpdateOp::create(b, gradient.getLoc(), gradient.getParam(),
                            gradient.getGrad());
      else
        AdamwUpdateOp::create(
            b, gradient.getLoc(), gradient.getParam(), gradient.getGrad(),
            b.getF64FloatAttr(beta1), b.getF64FloatAttr(beta2),
            b.getF64FloatAttr(epsilon),
            b.getF64FloatAttr(!decayNormsAndBiases &&
                                      exemptFromWeightDecay(gradient.getParam())
                                  ? 0.0
                                  : double(weightDecay)));
      gradient.erase();
    }
  }
};

} // namespace
