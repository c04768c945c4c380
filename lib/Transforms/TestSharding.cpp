//===- TestSharding.cpp - the sharding analysis, printed for tests --------===//
//
// graph-test-sharding: each op's results get a `sharding` attribute with
// their states, so lit tests can check each family of sharding rules
// (test/Transforms/sharding-rules.mlir).
//
//===----------------------------------------------------------------------===//

#include "Sharding.h"

#include "slapo/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace slapo {
#define GEN_PASS_DEF_GRAPHTESTSHARDING
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

struct TestSharding : public slapo::impl::GraphTestShardingBase<TestSharding> {
  void runOnOperation() override {
    Builder b(&getContext());
    for (ModelOp model : getOperation().getOps<ModelOp>()) {
      ShardingAnalysis analysis;
      if (failed(analysis.run(model)))
        return signalPassFailure();
      for (Operation &op : model.getBody().front()) {
        if (op.getNumResults() == 0)
          continue;
        SmallVector<Attribute> states;
        for (Value result : op.getResults())
          states.push_back(b.getStringAttr(describe(analysis.get(result))));
        op.setAttr("sharding", b.getArrayAttr(states));
        if (analysis.vocabParallel().contains(&op))
          op.setAttr("vocab_parallel", b.getUnitAttr());
      }
    }
  }
};

} // namespace
