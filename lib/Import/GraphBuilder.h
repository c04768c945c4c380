//===- GraphBuilder.h - building blocks of imported models -----*- C++ -*-===//
//
// The pieces every model family is made of (linear layers, norms,
// embeddings, attention heads) as graph-dialect modules named the Hugging
// Face way. Private to lib/Import.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_IMPORT_GRAPHBUILDER_H
#define SLAPO_LIB_IMPORT_GRAPHBUILDER_H

#include "graph/GraphDialect.h"
#include "slapo/Import/ModelConfig.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <functional>

namespace slapo::import {

class GraphBuilder {
public:
  using Body = std::function<mlir::Value(mlir::ValueRange)>;

  GraphBuilder(mlir::MLIRContext &context, const ModelConfig &config);

  /// Creates `graph.model @<model_type>(input_ids, targets) -> loss`, with
  /// the config facts later stages need, in a new builtin.module; `body`
  /// gets the two inputs and returns the loss.
  mlir::OwningOpRef<mlir::ModuleOp> model(const Body &body);

  /// `graph.module @name(inputs)`, whose body `body` builds from the
  /// module's arguments and whose single result it returns.
  mlir::Value module(llvm::StringRef name, mlir::ValueRange inputs,
                     const Body &body);

  mlir::Value param(llvm::StringRef name, llvm::ArrayRef<int64_t> shape,
                    graph::InitAttr init);
  mlir::Value paramRef(llvm::StringRef path, llvm::ArrayRef<int64_t> shape);
  graph::InitAttr normal(double stddev);
  graph::InitAttr zeros();
  graph::InitAttr ones();

  /// A Linear (`weight [out, in]`) or, with `inOut`, GPT-2 Conv1D
  /// (`weight [in, out]`) module, weights normal(0, std), bias zero.
  mlir::Value linear(llvm::StringRef name, mlir::Value x, int64_t in,
                     int64_t out, bool bias, bool inOut = false,
                     double stddev = 0.0);
  mlir::Value embedding(llvm::StringRef name, mlir::Value ids, int64_t rows,
                        int64_t dim);
  mlir::Value layerNorm(llvm::StringRef name, mlir::Value x,
                        bool affine = true);
  mlir::Value rmsNorm(llvm::StringRef name, mlir::Value x);

  /// A module list: `graph.module @name` holding `numLayers` modules named
  /// "0", "1", ..., each built by `layer(x, index)` from its input.
  using LayerBody = std::function<mlir::Value(mlir::Value, int64_t)>;
  mlir::Value layers(llvm::StringRef name, mlir::Value x,
                     const LayerBody &layer);

  /// The `lm_head` module (bias-free linear to the vocabulary) and the mean
  /// cross-entropy against `targets`. With a non-empty `tiedTo` the head
  /// reads that parameter (tied embeddings); otherwise it owns its weight.
  mlir::Value lmHeadLoss(mlir::Value hidden, mlir::Value targets,
                         llvm::StringRef tiedTo);

  /// Dropout with probability `p`; no op at all when p is 0.
  mlir::Value dropout(mlir::Value x, double p);
  mlir::Value activation(mlir::Value x);
  mlir::Value add(mlir::Value a, mlir::Value b);
  mlir::Value mul(mlir::Value a, mlir::Value b);

  /// Causal attention with the config's attention dropout.
  mlir::Value attention(mlir::Value q, mlir::Value k, mlir::Value v,
                        double scale);

  /// [B, T, H*D] -> [B, H, T, D] and back.
  mlir::Value splitHeads(mlir::Value x, int64_t heads);
  mlir::Value mergeHeads(mlir::Value x);

  mlir::OpBuilder &builder() { return b; }
  mlir::Location loc() const { return location; }
  const ModelConfig &config() const { return cfg; }

private:
  mlir::MLIRContext &context;
  const ModelConfig &cfg;
  mlir::OpBuilder b;
  mlir::Location location;
};

mlir::OwningOpRef<mlir::ModuleOp> buildGPT2(GraphBuilder &g);
mlir::OwningOpRef<mlir::ModuleOp> buildOPT(GraphBuilder &g);
mlir::OwningOpRef<mlir::ModuleOp> buildLlama(GraphBuilder &g);

} // namespace slapo::import

#endif // SLAPO_LIB_IMPORT_GRAPHBUILDER_H
