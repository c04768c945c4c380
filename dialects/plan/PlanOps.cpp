//===- PlanOps.cpp - the slapo plan dialect -------------------------------===//

#include "plan/PlanDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace slapo::plan;

#include "plan/PlanDialect.cpp.inc"

void PlanDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "plan/PlanOps.cpp.inc"
      >();
}

LogicalResult TensorOp::verify() {
  static constexpr llvm::StringLiteral kCategories[] = {
      "input", "param", "grad", "optimizer_state", "activation"};
  if (!llvm::is_contained(kCategories, getCategory()))
    return emitOpError("unknown category '")
           << getCategory()
           << "', expected input, param, grad, optimizer_state or activation";
  if (!getType().hasStaticShape())
    return emitOpError("tensor shapes must be static in a plan");
  bool isParam = getCategory() == "param";
  if (isParam != bool(getTrainableAttr()))
    return emitOpError("parameters, and only they, carry `trainable`");
  return success();
}

LogicalResult ProgramOp::verifyRegions() {
  llvm::StringMap<TensorOp> seen;
  for (TensorOp tensor : getBody().front().getOps<TensorOp>()) {
    auto [it, inserted] = seen.try_emplace(tensor.getName(), tensor);
    if (inserted)
      continue;
    InFlightDiagnostic diag = tensor.emitOpError()
                              << "name '" << tensor.getName()
                              << "' is already the name of another tensor of "
                                 "the program";
    diag.attachNote(it->second.getLoc()) << "the first tensor of that name";
    return diag;
  }
  return success();
}

LogicalResult ViewOp::verify() {
  auto from = getSource().getType();
  auto to = getResult().getType();
  if (from.getNumElements() != to.getNumElements() ||
      from.getElementType() != to.getElementType())
    return emitOpError("a view must keep the element count and type");
  return success();
}

#define GET_OP_CLASSES
#include "plan/PlanOps.cpp.inc"
