//===- GraphDialect.cpp - graph dialect and its attributes ---------------===//

#include "graph/GraphDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace slapo::graph;

#include "graph/GraphDialect.cpp.inc"
#include "graph/GraphEnums.cpp.inc"
#include "graph/GraphInterfaces.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "graph/GraphAttrs.cpp.inc"

void GraphDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "graph/GraphOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "graph/GraphAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// #graph.init<zeros> | #graph.init<ones> | #graph.init<normal, std = S>
//===----------------------------------------------------------------------===//

Attribute InitAttr::parse(AsmParser &parser, Type) {
  StringRef keyword;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLess() || parser.parseKeyword(&keyword))
    return {};
  std::optional<InitKind> kind = symbolizeInitKind(keyword);
  if (!kind) {
    parser.emitError(loc) << "unknown initializer '" << keyword
                          << "', expected zeros, ones, normal or uniform";
    return {};
  }
  // normal takes `std = S`, uniform `bound = B`; both are the scale.
  double stddev = 0.0;
  if (*kind == InitKind::normal || *kind == InitKind::uniform) {
    if (parser.parseComma() ||
        parser.parseKeyword(*kind == InitKind::normal ? "std" : "bound") ||
        parser.parseEqual() || parser.parseFloat(stddev))
      return {};
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<InitAttr>(parser.getContext(), *kind,
                                     llvm::APFloat(stddev));
}

void InitAttr::print(AsmPrinter &printer) const {
  printer << "<" << stringifyInitKind(getKind());
  if (getKind() == InitKind::normal)
    printer << ", std = " << getStd().convertToDouble();
  else if (getKind() == InitKind::uniform)
    printer << ", bound = " << getStd().convertToDouble();
  printer << ">";
}

LogicalResult InitAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               InitKind kind, llvm::APFloat std) {
  double stddev = std.convertToDouble();
  if (kind == InitKind::normal && !(stddev > 0.0))
    return emitError() << "normal initializer needs std > 0, got " << stddev;
  if (kind == InitKind::uniform && !(stddev > 0.0))
    return emitError() << "uniform initializer needs bound > 0, got " << stddev;
  if (kind != InitKind::normal && kind != InitKind::uniform && stddev != 0.0)
    return emitError() << stringifyInitKind(kind)
                       << " initializer takes no std";
  return success();
}
