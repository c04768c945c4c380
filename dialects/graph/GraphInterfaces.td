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

def ShardingOpInterface : OpInterface<"ShardingOpInterface"> {
  let description = [{
    An op's tensor-parallel sharding rule: given the sharding states of its
    operands (replicated, split on an axis, or a partial sum; see
    ShardingRules.h), it states its results' states, or refuses the
    combination with an error blamed on the `.sched` shard at fault. The
    analysis in lib/Transforms (Sharding.cpp) walks a flat model and calls
    each op's rule; an op without one takes replicated operands only.
  }];
  let cppNamespace = "::slapo::graph";
  let methods = [
    InterfaceMethod<[{
        Reads the operands' states from `rule` and sets the results' (a
        result not set stays replicated), or returns a failure that `rule`
        has reported.
      }],
      "::llvm::LogicalResult", "propagateSharding",
      (ins "::slapo::graph::ShardingContext &":$rule)>
  ];
}

#endif // SLAPO_GRAPH_INTERFACES
