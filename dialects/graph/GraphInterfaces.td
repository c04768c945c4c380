//===- GraphInterfaces.td - graph dialect interfaces -------*- tablegen -*-===//

#ifndef SLAPO_GRAPH_INTERFACES
#define SLAPO_GRAPH_INTERFACES

include "mlir/IR/OpBase.td"

def AdjointOpInterface : OpInterface<"AdjointOpInterface"> {
  let description = [{
    An op that reverse-mode autodiff can differentiate: given the gradients
    of its results it builds, at the builder's insertion point, the
    gradients of its operands.
  }];
  let cppNamespace = "::slapo::graph";
  let methods = [
    InterfaceMethod<[{
        Builds operand gradients from result gradients. `resultGrads[i]` is
        null when result `i` has no gradient (a split piece that is never
        used); at least one is non-null, except for the loss op, which
        seeds the backward pass. `operandGrads` gets one entry per operand:
        null where `needsGrad[j]` is false or the operand has no gradient
        (integer ids).
      }],
      "::llvm::LogicalResult", "buildAdjoint",
      (ins "::mlir::OpBuilder &":$builder,
           "::llvm::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::ArrayRef<bool>":$needsGrad,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>
  ];
}

#endif // SLAPO_GRAPH_INTERFACES
