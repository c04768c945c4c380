//===- RewritesTest.cpp - the schedule's graph rewrites, called alone -----===//
//
// lib/Transforms/Rewrites.h from C++, without a schedule: LoRA insertion
// (PEFT's structure, init and scale), a linear's bias taken out, a sync
// at a row-parallel output, and attention decomposed and fused back to the
// op it was.
//
//===----------------------------------------------------------------------===//

#include "slapo/Transforms/Rewrites.h"
#include "slapo/InitAll.h"

#include "graph/GraphUtils.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "gtest/gtest.h"

using namespace mlir;
using namespace slapo::graph;

namespace {

constexpr const char *kLinearModel = R"mlir(
graph.model @m(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %x = graph.param @x {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x3x8xf32>
  %y = graph.module @proj(%in = %x) : (tensor<2x3x8xf32>) -> tensor<2x3x4xf32> {
    %w = graph.param @weight {init = #graph.init<normal, std = 0.02>, trainable = true} : tensor<4x8xf32>
    %b = graph.param @bias {init = #graph.init<zeros>, trainable = true} : tensor<4xf32>
    %0 = graph.linear %in, %w, %b : tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>
    graph.output %0 : tensor<2x3x4xf32>
  }
  %l = graph.cross_entropy %y, %t : tensor<2x3x4xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}
)mlir";

constexpr const char *kAttentionModel = R"mlir(
graph.model @m(%ids: tensor<2x3xi64>, %t: tensor<2x3xi64>) -> tensor<f32> {
  %q = graph.param @q {init = #graph.init<normal, std = 1.0>, trainable = true} : tensor<2x4x3x2xf32>
  %o = graph.module @attn(%in = %q) : (tensor<2x4x3x2xf32>) -> tensor<2x4x3x2xf32> {
    %0 = graph.attention %in, %in, %in causal {scale = 0.5 : f64, dropout = 0.1 : f64} : tensor<2x4x3x2xf32>, tensor<2x4x3x2xf32>, tensor<2x4x3x2xf32>
    graph.output %0 : tensor<2x4x3x2xf32>
  }
  %r = graph.reshape %o : tensor<2x4x3x2xf32> -> tensor<2x3x8xf32>
  %l = graph.cross_entropy %r, %t : tensor<2x3x8xf32>, tensor<2x3xi64>
  graph.output %l : tensor<f32>
}
)mlir";

class Rewrites : public ::testing::Test {
protected:
  Rewrites() {
    DialectRegistry registry;
    slapo::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  OwningOpRef<ModuleOp> parse(const char *text) {
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
    EXPECT_TRUE(module);
    return module;
  }

  template <class Op> std::vector<Op> all(ModuleOp module) {
    std::vector<Op> ops;
    module.walk([&](Op op) { ops.push_back(op); });
    return ops;
  }

  GraphModuleOp moduleNamed(ModuleOp module, StringRef name) {
    GraphModuleOp found;
    module.walk([&](GraphModuleOp op) {
      if (op.getName() == name)
        found = op;
    });
    return found;
  }

  MLIRContext context;
};

TEST_F(Rewrites, LoraAddsPeftsAdaptersAndFreezesTheBase) {
  OwningOpRef<ModuleOp> module = parse(kLinearModel);
  ASSERT_TRUE(module);
  GraphModuleOp proj = moduleNamed(*module, "proj");
  ASSERT_TRUE(succeeded(insertLoraAdapter(proj,
                                          {/*rank=*/2, /*alpha=*/8.0,
                                           /*dropout=*/0.0},
                                          proj.getLoc())));
  EXPECT_TRUE(succeeded(verify(*module)));
  std::map<std::string, ParamOp> params;
  for (ParamOp param : all<ParamOp>(*module))
    params[getPath(param)] = param;
  ASSERT_TRUE(params.count("proj.lora_A.weight"));
  ASSERT_TRUE(params.count("proj.lora_B.weight"));
  EXPECT_EQ(params["proj.lora_A.weight"].getType().getShape(),
            ArrayRef<int64_t>({2, 8}));
  EXPECT_EQ(params["proj.lora_B.weight"].getType().getShape(),
            ArrayRef<int64_t>({4, 2}));
  EXPECT_EQ(params["proj.lora_A.weight"].getInit().getKind(),
            InitKind::uniform);
  EXPECT_EQ(params["proj.lora_B.weight"].getInit().getKind(), InitKind::zeros);
  EXPECT_TRUE(params["proj.lora_A.weight"].getTrainable());
  EXPECT_FALSE(params["proj.weight"].getTrainable());
  EXPECT_FALSE(params["proj.bias"].getTrainable());
  // The update is scaled by alpha / rank and added to the base.
  std::vector<ScaleOp> scales = all<ScaleOp>(*module);
  ASSERT_EQ(scales.size(), 1u);
  EXPECT_DOUBLE_EQ(scales[0].getFactor().convertToDouble(), 4.0);
  EXPECT_TRUE(proj->hasAttr("lora_adapter"));
  // A second adapter, and a rank above the layer's smaller side, are
  // refused.
  EXPECT_TRUE(failed(insertLoraAdapter(proj, {2, 8.0, 0.0}, proj.getLoc())));
  OwningOpRef<ModuleOp> other = parse(kLinearModel);
  GraphModuleOp otherProj = moduleNamed(*other, "proj");
  EXPECT_TRUE(failed(insertLoraAdapter(otherProj, {/*rank=*/5, 8.0, 0.0},
                                       otherProj.getLoc())));
}

TEST_F(Rewrites, DecomposeTakesTheBiasOutOnce) {
  OwningOpRef<ModuleOp> module = parse(kLinearModel);
  ASSERT_TRUE(module);
  GraphModuleOp proj = moduleNamed(*module, "proj");
  ASSERT_TRUE(succeeded(decomposeLinearBias(proj, proj.getLoc())));
  EXPECT_TRUE(succeeded(verify(*module)));
  std::vector<LinearOp> linears = all<LinearOp>(*module);
  ASSERT_EQ(linears.size(), 1u);
  EXPECT_FALSE(linears[0].getBias());
  ASSERT_EQ(all<AddOp>(*module).size(), 1u);
  // Already out: nothing more to do.
  ASSERT_TRUE(succeeded(decomposeLinearBias(proj, proj.getLoc())));
  EXPECT_EQ(all<AddOp>(*module).size(), 1u);
}

TEST_F(Rewrites, AttentionDecomposesAndFusesBack) {
  OwningOpRef<ModuleOp> module = parse(kAttentionModel);
  ASSERT_TRUE(module);
  AttentionOp attention = all<AttentionOp>(*module).at(0);
  ASSERT_TRUE(succeeded(decomposeAttention(attention, attention.getLoc())));
  EXPECT_TRUE(succeeded(verify(*module)));
  EXPECT_TRUE(all<AttentionOp>(*module).empty());
  EXPECT_EQ(all<MatmulOp>(*module).size(), 2u);
  EXPECT_EQ(all<SoftmaxOp>(*module).size(), 1u);
  EXPECT_EQ(all<CausalMaskOp>(*module).size(), 1u);
  EXPECT_EQ(all<DropoutOp>(*module).size(), 1u);
  // Fused from the last matmul: the op it was, attributes and all.
  std::vector<MatmulOp> matmuls = all<MatmulOp>(*module);
  EXPECT_FALSE(fuseAttention(matmuls.front())); // q k^T ends no chain
  EXPECT_TRUE(fuseAttention(matmuls.back()));
  EXPECT_TRUE(succeeded(verify(*module)));
  std::vector<AttentionOp> fused = all<AttentionOp>(*module);
  ASSERT_EQ(fused.size(), 1u);
  EXPECT_TRUE(fused[0].getCausal());
  EXPECT_DOUBLE_EQ(fused[0].getScale().convertToDouble(), 0.5);
  EXPECT_DOUBLE_EQ(fused[0].getDropout().convertToDouble(), 0.1);
  EXPECT_TRUE(all<MatmulOp>(*module).empty());
}

TEST_F(Rewrites, SyncAtAnOutputMovesTheBiasAfterIt) {
  OwningOpRef<ModuleOp> module = parse(kLinearModel);
  ASSERT_TRUE(module);
  GraphModuleOp proj = moduleNamed(*module, "proj");
  Builder b(&context);
  ASSERT_TRUE(succeeded(insertSync(proj, b.getStringAttr("all_reduce"),
                                   b.getStringAttr("identity"),
                                   /*atOutput=*/true, proj.getLoc())));
  EXPECT_TRUE(succeeded(verify(*module)));
  // linear (no bias) -> sync -> add bias -> output.
  std::vector<SyncOp> syncs = all<SyncOp>(*module);
  ASSERT_EQ(syncs.size(), 1u);
  EXPECT_EQ(syncs[0].getForward(), "all_reduce");
  auto linear = syncs[0].getInput().getDefiningOp<LinearOp>();
  ASSERT_TRUE(linear);
  EXPECT_FALSE(linear.getBias());
  ASSERT_TRUE(syncs[0]->hasOneUse());
  EXPECT_TRUE(isa<AddOp>(*syncs[0]->getUsers().begin()));
  // The same sync again is refused.
  EXPECT_TRUE(failed(insertSync(proj, b.getStringAttr("all_reduce"),
                                b.getStringAttr("identity"),
                                /*atOutput=*/true, proj.getLoc())));
}

} // namespace
