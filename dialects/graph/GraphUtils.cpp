//===- GraphUtils.cpp - queries over graph-dialect models ----------------===//

#include "graph/GraphUtils.h"
#include "graph/GraphDialect.h"

#include "llvm/ADT/SmallVector.h"

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

} // namespace slapo::graph
