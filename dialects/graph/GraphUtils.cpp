//===- GraphUtils.cpp - queries over graph-dialect models ----------------===//

#include "graph/GraphUtils.h"
#include "graph/GraphDialect.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Format.h"

using namespace mlir;

namespace slapo::graph {

std::string getPath(Operation *op) {
  SmallVector<StringRef> parts;
  if (auto module = dyn_cast<GraphModuleOp>(op))
    parts.push_back(module.getName());
  else if (auto param = dyn_cast<ParamOp>(op))
    parts.push_back(param.getName());
  for (auto module = op->getParentOfType<GraphModuleOp>(); module;
       module = module->getParentOfType<GraphModuleOp>())
    parts.push_back(module.getName());
  std::string path;
  for (StringRef part : llvm::reverse(parts)) {
    if (!path.empty())
      path += '.';
    path += part.str();
  }
  return path;
}

static int64_t countWhere(ModelOp model, bool trainableOnly) {
  int64_t total = 0;
  model.walk([&](ParamOp param) {
    if (!trainableOnly || param.getTrainable())
      total += param.getType().getNumElements();
  });
  return total;
}

int64_t countParameters(ModelOp model) { return countWhere(model, false); }

int64_t countTrainableParameters(ModelOp model) {
  return countWhere(model, true);
}

void printParameters(ModelOp model, llvm::raw_ostream &os) {
  model.walk([&](Operation *op) {
    if (auto param = dyn_cast<ParamOp>(op)) {
      InitAttr init = param.getInit();
      os << getPath(param) << " " << shapeToString(param.getType().getShape())
         << " " << param.getType().getElementType() << " "
         << stringifyInitKind(init.getKind());
      if (init.getKind() == InitKind::normal ||
          init.getKind() == InitKind::uniform)
        os << "(" << llvm::format("%g", init.getStd().convertToDouble()) << ")";
      os << (param.getTrainable() ? " trainable" : " frozen") << "\n";
    } else if (auto ref = dyn_cast<ParamRefOp>(op)) {
      // The tied name is the using module's path plus the target's leaf name.
      StringRef leaf = ref.getTarget().rsplit('.').second;
      os << getPath(ref) << "." << leaf << " -> " << ref.getTarget() << "\n";
    }
  });
}

void printSummary(ModelOp model, llvm::raw_ostream &os) {
  int64_t modules = 0, params = 0, tied = 0;
  model.walk([&](Operation *op) {
    modules += isa<GraphModuleOp>(op);
    params += isa<ParamOp>(op);
    tied += isa<ParamRefOp>(op);
  });
  os << "model: " << model.getSymName() << "\n";
  if (DictionaryAttr config = model.getConfigAttr()) {
    auto get = [&](StringRef key) -> int64_t {
      auto value = config.getAs<IntegerAttr>(key);
      return value ? value.getInt() : 0;
    };
    os << "layers: " << get("num_layers") << ", hidden: " << get("hidden_size")
       << ", heads: " << get("num_heads") << " (key/value "
       << get("num_kv_heads") << ", size " << get("head_dim")
       << "), vocab: " << get("vocab_size")
       << ", positions: " << get("max_positions") << "\n";
  }
  os << "modules: " << modules << ", parameter tensors: " << params
     << ", tied uses: " << tied << "\n";
  os << "parameters: " << countParameters(model) << "\n";
  os << "trainable parameters: " << countTrainableParameters(model) << "\n";
}

} // namespace slapo::graph
