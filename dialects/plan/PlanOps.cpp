//===- PlanOps.cpp - the slapo plan dialect -------------------------------===//

#include "plan/PlanDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace slapo::plan;

#include "plan/PlanDialect.cpp.inc"
#include "plan/PlanEnums.cpp.inc"

/// A tensor's category, printed and parsed as its string ("param").
static ParseResult parseCategoryString(OpAsmParser &parser,
                                       MemoryCategoryAttr &category) {
  SMLoc loc = parser.getCurrentLocation();
  std::string text;
  if (parser.parseString(&text))
    return failure();
  std::optional<MemoryCategory> value = symbolizeMemoryCategory(text);
  if (!value)
    return parser.emitError(loc, "unknown category '")
           << text
           << "', expected input, param, grad, optimizer_state or activation";
  category = MemoryCategoryAttr::get(parser.getContext(), *value);
  return success();
}

static void printCategoryString(OpAsmPrinter &printer, Operation *,
                                MemoryCategoryAttr category) {
  printer << '"' << stringifyMemoryCategory(category.getValue()) << '"';
}

void PlanDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "plan/PlanOps.cpp.inc"
      >();
}

LogicalResult TensorOp::verify() {
  if (getCategory() == MemoryCategory::Workspace)
    return emitOpError("a tensor cannot be workspace (the kernels' scratch "
                       "region), expected input, param, grad, "
                       "optimizer_state or activation");
  if (!getType().hasStaticShape())
    return emitOpError("tensor shapes must be static in a plan");
  bool isParam = getCategory() == MemoryCategory::Param;
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
