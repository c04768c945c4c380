//===- ApplyOptimizer.cpp - gradients become parameter updates -----------===//

#include "slapo/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace slapo {
#define GEN_PASS_DEF_GRAPHAPPLYOPTIMIZER
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

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
            b.getF64FloatAttr(epsilon), b.getF64FloatAttr(weightDecay));
      gradient.erase();
    }
  }
};

} // namespace
