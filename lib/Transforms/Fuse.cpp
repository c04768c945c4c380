//===- Fuse.cpp - the `fuse` primitive's rewrites on the flat model ------===//
//
// Each request in the model's `fusions` names a pattern and a module path;
// every instance whose bias add came from that module (or one inside it)
// becomes one fused op. Instances never straddle two checkpoint regions,
// and intermediate values must have no other use.
//
//===----------------------------------------------------------------------===//

#include "graph/GraphUtils.h"
#include "slapo/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace slapo {
#define GEN_PASS_DEF_GRAPHFUSE
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

constexpr llvm::StringLiteral kRegionAttr = "checkpoint_region";

bool inModule(Operation *op, StringRef path) {
  auto name = dyn_cast<NameLoc>(op->getLoc());
  if (!name)
    return false;
  StringRef from = name.getName().getValue();
  return from.starts_with(path) &&
         (from.size() == path.size() || from[path.size()] == '.');
}

bool sameRegion(ArrayRef<Operation *> ops) {
  Attribute region = ops.front()->getAttr(kRegionAttr);
  return llvm::all_of(
      ops, [&](Operation *op) { return op->getAttr(kRegionAttr) == region; });
}

/// `add` as input + bias, the bias [D] over the last axis of the input.
bool splitBiasAdd(AddOp add, Value &input, Value &bias) {
  for (auto [x, b] : {std::pair{add.getLhs(), add.getRhs()},
                      std::pair{add.getRhs(), add.getLhs()}}) {
    auto xType = cast<RankedTensorType>(x.getType());
    auto bType = cast<RankedTensorType>(b.getType());
    if (bType.getRank() == 1 && xType.getRank() >= 2 &&
        bType.getDimSize(0) == xType.getShape().back()) {
      input = x;
      bias = b;
      return true;
    }
  }
  return false;
}

/// `fused` (results: the sum, its norm) takes the place of `sum` and `norm`.
void replaceSumAndNorm(Operation *fused, AddOp sum, Operation *norm) {
  if (Attribute region = norm->getAttr(kRegionAttr))
    fused->setAttr(kRegionAttr, region);
  norm->getResult(0).replaceAllUsesWith(fused->getResult(1));
  sum.getResult().replaceAllUsesWith(fused->getResult(0));
  norm->erase();
  sum.erase();
}

/// gelu(x + b) -> bias_gelu(x, b).
int64_t fuseBiasGelu(ModelOp model, StringRef path) {
  int64_t fused = 0;
  for (GeluOp gelu :
       llvm::make_early_inc_range(model.getBody().front().getOps<GeluOp>())) {
    auto add = gelu.getInput().getDefiningOp<AddOp>();
    Value x, bias;
    if (!add || !add->hasOneUse() || !inModule(add, path) ||
        !splitBiasAdd(add, x, bias) || !sameRegion({add, gelu}))
      continue;
    OpBuilder b(gelu);
    auto op = BiasGeluOp::create(b, gelu.getLoc(), x, bias, gelu.getTanh());
    if (Attribute region = gelu->getAttr(kRegionAttr))
      op->setAttr(kRegionAttr, region);
    gelu.getResult().replaceAllUsesWith(op.getResult());
    gelu.erase();
    add.erase();
    ++fused;
  }
  return fused;
}

/// layer_norm(residual + dropout(x + b)) -> bias_dropout_add_layer_norm,
/// whose first result replaces the residual sum.
int64_t fuseBiasDropoutAddLayerNorm(ModelOp model, StringRef path) {
  int64_t fused = 0;
  for (LayerNormOp norm : llvm::make_early_inc_range(
           model.getBody().front().getOps<LayerNormOp>())) {
    auto sum = norm.getInput().getDefiningOp<AddOp>();
    if (!sum || !norm.getGamma())
      continue;
    for (auto [branch, residual] : {std::pair{sum.getRhs(), sum.getLhs()},
                                    std::pair{sum.getLhs(), sum.getRhs()}}) {
      auto dropout = branch.getDefiningOp<DropoutOp>();
      Value biased = dropout ? dropout.getInput() : branch;
      auto add = biased.getDefiningOp<AddOp>();
      Value x, bias;
      if (!add || !add->hasOneUse() || (dropout && !dropout->hasOneUse()) ||
          !inModule(add, path) || !splitBiasAdd(add, x, bias) ||
          residual.getType() != x.getType())
        continue;
      SmallVector<Operation *> parts{add, sum, norm};
      if (dropout)
        parts.push_back(dropout);
      if (!sameRegion(parts))
        continue;
      OpBuilder b(sum);
      Builder attrs(model.getContext());
      auto op = BiasDropoutAddLayerNormOp::create(
          b, norm.getLoc(), x, bias, residual, norm.getGamma(), norm.getBeta(),
          attrs.getF64FloatAttr(
              dropout ? dropout.getProbability().convertToDouble() : 0.0),
          dropout ? dropout.getRngStreamAttr() : IntegerAttr(),
          norm.getEpsilonAttr());
      replaceSumAndNorm(op, sum, norm);
      if (dropout)
        dropout.erase();
      add.erase();
      ++fused;
      break;
    }
  }
  return fused;
}

/// rms_norm(residual + x) -> add_rms_norm, whose first result replaces the
/// sum.
int64_t fuseAddRmsNorm(ModelOp model, StringRef path) {
  int64_t fused = 0;
  for (RmsNormOp norm : llvm::make_early_inc_range(
           model.getBody().front().getOps<RmsNormOp>())) {
    auto sum = norm.getInput().getDefiningOp<AddOp>();
    if (!sum || sum.getLhs().getType() != sum.getRhs().getType() ||
        !inModule(sum, path) || !sameRegion({sum, norm}))
      continue;
    OpBuilder b(sum);
    auto op = AddRmsNormOp::create(b, norm.getLoc(), sum.getRhs(), sum.getLhs(),
                                   norm.getWeight(), norm.getEpsilonAttr());
    replaceSumAndNorm(op, sum, norm);
    ++fused;
  }
  return fused;
}

/// What each pattern needs, for the error when it finds nothing.
const char *patternNeeds(StringRef pattern) {
  if (pattern == "bias_gelu")
    return "a bias add followed by gelu (decompose the linear to take its "
           "bias out first)";
  if (pattern == "add_rms_norm")
    return "a residual add followed by an RMS norm, in one checkpoint region";
  return "a bias add, optional dropout, a residual add and a layer norm, in "
         "one checkpoint region (decompose the linear to take its bias out "
         "first)";
}

struct GraphFusePass : public slapo::impl::GraphFuseBase<GraphFusePass> {
  void runOnOperation() override {
    for (ModelOp model : getOperation().getOps<ModelOp>()) {
      auto fusions = model->getAttrOfType<ArrayAttr>("fusions");
      if (!fusions)
        continue;
      for (Attribute fusion : fusions) {
        auto entry = cast<DictionaryAttr>(fusion);
        StringRef pattern = entry.getAs<StringAttr>("pattern").getValue();
        StringRef path = entry.getAs<StringAttr>("path").getValue();
        int64_t fused = pattern == "bias_gelu" ? fuseBiasGelu(model, path)
                        : pattern == "add_rms_norm"
                            ? fuseAddRmsNorm(model, path)
                            : fuseBiasDropoutAddLayerNorm(model, path);
        if (fused > 0)
          continue;
        Location at = model.getLoc();
        if (auto loc = entry.getAs<LocationAttr>("at"))
          at = loc;
        emitError(at, "fuse pattern=")
            << pattern << " finds nothing to fuse in '" << path
            << "': it needs " << patternNeeds(pattern);
        return signalPassFailure();
      }
      model->removeAttr("fusions");
    }
  }
};

} // namespace
