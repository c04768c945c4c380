//===- LinearRewrites.cpp - a linear layer's bias as its own add ----------===//
//
// The `decompose` primitive takes a linear module's bias out of its
// graph.linear into a graph.add, and `sync` at a row-parallel layer's output
// puts the reduction between the two (lib/Schedule/SchedOps.cpp).
//
//===----------------------------------------------------------------------===//

#include "slapo/Transforms/Rewrites.h"

#include "graph/GraphUtils.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace slapo::graph {

Value takeOutBias(LinearOp linear,
                  function_ref<Value(OpBuilder &, Value)> wrap) {
  OpBuilder b(linear);
  Value bare = LinearOp::create(b, linear.getLoc(), linear.getInput(),
                                linear.getWeight(), Value(), linear.getInOut());
  Value sum =
      AddOp::create(b, linear.getLoc(), wrap(b, bare), linear.getBias());
  linear.getResult().replaceAllUsesWith(sum);
  linear.erase();
  return sum;
}

LogicalResult decomposeLinearBias(GraphModuleOp module, Location at) {
  auto linears = llvm::to_vector(module.getBody().getOps<LinearOp>());
  // A bias already taken out (by decompose, or by a sync that adds it
  // after its reduction) stays as it is.
  bool alreadyOut =
      llvm::any_of(module.getBody().getOps<ParamOp>(), [](ParamOp param) {
        return param.getName() == "bias" &&
               llvm::all_of(param->getUsers(),
                            [](Operation *user) { return isa<AddOp>(user); });
      });
  if (linears.size() == 1 && !linears[0].getBias() && alreadyOut)
    return success();
  if (linears.size() != 1 || !linears[0].getBias())
    return emitError(at, "module '")
           << getPath(module)
           << "' is not a linear layer with a bias (decompose takes the "
              "bias out of one)";
  takeOutBias(linears[0], [](OpBuilder &, Value bare) { return bare; });
  return success();
}

} // namespace slapo::graph
