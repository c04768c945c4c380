//===- SparsifyModules.h - what both forms of sparsify build -----*- C++
//-*-===//
//
// The mask modules `sparsify` inserts (SparsifyRewrite.cpp for an MLP,
// SparsifyAttention.cpp for an attention) and the predictors' parameters.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_TRANSFORMS_SPARSIFYMODULES_H
#define SLAPO_TRANSFORMS_SPARSIFYMODULES_H

#include "graph/GraphDialect.h"

#include "mlir/IR/Builders.h"

#include <cmath>

namespace slapo::graph {

/// A graph.module named `name` before `before`, on `operands`, whose body
/// `build` fills (given a builder at the body's end and the body's
/// arguments) and returns the one result of.
inline mlir::Value buildModuleBefore(
    mlir::Operation *before, llvm::StringRef name, mlir::ValueRange operands,
    llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::ValueRange)>
        build) {
  mlir::Location loc = before->getLoc();
  // The body first, so that the module gets the result's inferred type.
  auto *body = new mlir::Block();
  for (mlir::Value operand : operands)
    body->addArgument(operand.getType(), loc);
  mlir::OpBuilder ib(before->getContext()); // the block has no region yet
  ib.setInsertionPointToEnd(body);
  mlir::Value result = build(ib, body->getArguments());
  OutputOp::create(ib, loc, result);
  mlir::OpBuilder b(before);
  auto module = GraphModuleOp::create(b, loc, mlir::TypeRange{result.getType()},
                                      name, operands);
  module.getBody().push_back(body);
  return module.getResult(0);
}

/// A predictor's parameter `name`: `added_by = "sparsify"`, with the
/// attributes `decorate` adds (the predictor file it is read from).
inline mlir::Value
predictorParam(mlir::OpBuilder &ib, mlir::Location loc, llvm::StringRef name,
               mlir::RankedTensorType type, InitAttr init, bool trainable,
               llvm::function_ref<void(mlir::Operation *)> decorate) {
  mlir::Value value = ParamOp::create(ib, loc, type, name, init, trainable);
  mlir::Operation *op = value.getDefiningOp();
  op->setAttr("added_by", ib.getStringAttr("sparsify"));
  decorate(op);
  return value;
}

/// The logit a sigmoid's probability `p` is above: log(p / (1 - p)).
inline double logitOf(double p) { return std::log(p / (1 - p)); }

} // namespace slapo::graph

#endif // SLAPO_TRANSFORMS_SPARSIFYMODULES_H
