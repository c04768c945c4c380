//===- LoraRewrite.cpp - insert a LoRA adapter into a linear module -------===//
//
// PEFT's LoRA on one linear module: the base weight frozen, and
// lora_A (kaiming-uniform) and lora_B (zeros) modules added beside it, so
// the module computes base(x) + (alpha / rank) * lora_B(lora_A(dropout(x))).
// The `lora` schedule primitive calls it (lib/Schedule/SchedOps.cpp).
//
//===----------------------------------------------------------------------===//

#include "slapo/Transforms/Rewrites.h"

#include "graph/GraphUtils.h"

#include "mlir/IR/Builders.h"

#include <cmath>

using namespace mlir;

namespace slapo::graph {

LogicalResult insertLoraAdapter(GraphModuleOp module, const LoraConfig &config,
                                Location at) {
  int64_t rank = config.rank;
  double alpha = config.alpha, dropout = config.dropout;
  auto path = getPath(module);
  Block &body = module.getBody().front();
  auto linears = llvm::to_vector(body.getOps<LinearOp>());
  if (linears.size() != 1 || !linears[0].getWeight().getDefiningOp<ParamOp>())
    return emitError(at, "module '")
           << path << "' is not a linear layer (lora needs a module holding "
           << "one graph.linear on its own weight)";
  if (!body.getOps<GraphModuleOp>().empty())
    return emitError(at, "module '") << path << "' already has a LoRA adapter";
  LinearOp linear = linears[0];
  auto weightType = linear.getWeight().getType();
  bool inOut = linear.getInOut();
  int64_t in = weightType.getDimSize(inOut ? 0 : 1);
  int64_t out = weightType.getDimSize(inOut ? 1 : 0);
  if (rank > std::min(in, out))
    return emitError(at, "rank ")
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
  for (ParamOp param : body.getOps<ParamOp>())
    param.setTrainable(false);

  MLIRContext *context = module.getContext();
  Location loc = module.getLoc();
  OpBuilder b(linear->getNextNode());
  Value x = linear.getInput();
  if (dropout > 0.0)
    x = DropoutOp::create(b, loc, x, b.getF64FloatAttr(dropout), IntegerAttr());
  auto adapterModule = [&](StringRef name, Value input, int64_t rows,
                           int64_t cols, InitAttr init) -> Value {
    auto inputType = cast<RankedTensorType>(input.getType());
    SmallVector<int64_t> shape(inputType.getShape());
    shape.back() = rows;
    auto resultType = RankedTensorType::get(shape, inputType.getElementType());
    auto adapter = GraphModuleOp::create(b, loc, TypeRange{resultType}, name,
                                         ValueRange{input});
    Block *inner = new Block();
    adapter.getBody().push_back(inner);
    Value arg = inner->addArgument(input.getType(), loc);
    OpBuilder ib = OpBuilder::atBlockEnd(inner);
    Value weight = ParamOp::create(
        ib, loc,
        RankedTensorType::get({rows, cols}, weightType.getElementType()),
        "weight", init, /*trainable=*/true);
    // Not in a base model's checkpoint: slapo-run --init keeps its init.
    weight.getDefiningOp()->setAttr("added_by", ib.getStringAttr("lora"));
    Value y = LinearOp::create(ib, loc, arg, weight, Value(), false);
    OutputOp::create(ib, loc, y);
    return adapter.getResult(0);
  };
  // kaiming_uniform(a = sqrt(5)) on [rank, in]: bound = 1 / sqrt(in).
  auto uniform = InitAttr::get(context, InitKind::uniform,
                               APFloat(1.0 / std::sqrt(double(in))));
  auto zeros = InitAttr::get(context, InitKind::zeros, APFloat(0.0));
  Value a = adapterModule("lora_A", x, rank, in, uniform);
  Value bOut = adapterModule("lora_B", a, out, rank, zeros);
  Value scaled =
      ScaleOp::create(b, loc, bOut, b.getF64FloatAttr(alpha / double(rank)));
  Value sum = AddOp::create(b, loc, linear.getResult(), scaled);
  linear.getResult().replaceAllUsesExcept(sum, sum.getDefiningOp());
  return success();
}

} // namespace slapo::graph
