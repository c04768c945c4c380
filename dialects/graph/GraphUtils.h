//===- GraphUtils.h - queries over graph-dialect models --------*- C++ -*-===//
#ifndef SLAPO_GRAPH_GRAPHUTILS_H
#define SLAPO_GRAPH_GRAPHUTILS_H

#include "mlir/IR/Operation.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>

namespace slapo::graph {
class ModelOp;
class ParamOp;

/// The marks `sparsify ... predictor=train` puts on each layer's
/// predictor loss (graph.sigmoid_bce) and statistics
/// (graph.mask_agreement); graph-collect-predictor-losses gathers them and
/// moves the statistics mark to the joined tensor, which graph-to-plan
/// marks with plan.predictor_stats.
inline constexpr llvm::StringLiteral kPredictorLossAttr = "predictor_loss";
inline constexpr llvm::StringLiteral kPredictorStatsAttr = "predictor_stats";

/// "[?, 12, 64]" for diagnostics.
std::string shapeToString(llvm::ArrayRef<int64_t> shape);

/// The dotted Hugging Face path of an op inside a model: the symbol names of
/// the enclosing graph.module ops, outermost first, then the op's own name
/// if it is a module or parameter ("transformer.h.0.attn.c_attn.weight").
std::string getPath(mlir::Operation *op);

/// Total element count of the model's parameters; tied uses (param_ref) are
/// not counted again.
int64_t countParameters(ModelOp model);

/// The same, restricted to trainable parameters.
int64_t countTrainableParameters(ModelOp model);

/// Prints a human-readable summary of the model, including the line
/// "parameters: N" (tied weights counted once).
void printSummary(ModelOp model, llvm::raw_ostream &os);

/// Prints one line per parameter, in model order:
///   "transformer.h.0.attn.c_attn.weight [768, 2304] f32 normal(0.02)
///   trainable"
/// and one per tied use: "lm_head.weight -> transformer.wte.weight".
void printParameters(ModelOp model, llvm::raw_ostream &os);

} // namespace slapo::graph

#endif // SLAPO_GRAPH_GRAPHUTILS_H
