//===- GraphConfigCheck.cpp - graph.model's config against its params -----===//
//
// graph.model checks the sizes in its `config`, so that a hand-edited IR
// whose config disagrees with its weights is refused where the model is
// instead of being compiled:
//  - the sizes are positive where given, and `num_kv_heads` divides
//    `num_heads` (verifyConfigValues);
//  - `vocab_size` is the rows of the token embedding and the vocabulary
//    axis of the LM head's weight (or of the logits of graph.cross_entropy);
//    `hidden_size` the columns of the token embedding (unless a graph.linear
//    projects its rows to `hidden_size`, OPT's project_in) and of the
//    position embedding; `max_positions` plus the `offset` of
//    graph.position_ids the rows of the position embedding
//    (verifyConfigShapes).
// The embeddings are found by what they read, not by their names, through
// module boundaries, graph.param_ref (tied weights) and graph.cast. After
// graph-partition-tensor-parallel (`tp = N`) a parameter sharded on an axis
// holds one rank's share of it, size / N; the rows of a vocab-parallel
// table or LM head are padded where N does not divide them, as Megatron
// pads them: ceil(size / N) a rank, the whole size in the shard's `size`
// and the op's `vocab_parallel`. Only the keys a config has are checked.
//
//===----------------------------------------------------------------------===//

#include "GraphConfigCheck.h"

#include "graph/GraphDialect.h"
#include "graph/GraphUtils.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace slapo::graph;

LogicalResult slapo::graph::verifyConfigValues(ModelOp model) {
  DictionaryAttr config = model.getConfigAttr();
  if (!config)
    return success();
  for (StringRef key :
       {"num_layers", "hidden_size", "num_heads", "num_kv_heads", "head_dim",
        "vocab_size", "max_positions"}) {
    Attribute value = config.get(key);
    if (!value)
      continue;
    auto integer = dyn_cast<IntegerAttr>(value);
    if (!integer || integer.getInt() <= 0)
      return model.emitOpError("config '")
             << key << "' must be a positive integer, got " << value;
  }
  auto heads = config.getAs<IntegerAttr>("num_heads");
  auto kvHeads = config.getAs<IntegerAttr>("num_kv_heads");
  if (heads && kvHeads && heads.getInt() % kvHeads.getInt() != 0)
    return model.emitOpError("config 'num_kv_heads' (")
           << kvHeads.getInt() << ") does not divide 'num_heads' ("
           << heads.getInt() << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// The config's sizes against the parameters
//===----------------------------------------------------------------------===//

/// `value` seen from outside the modules it was handed into: the argument
/// of a module body is that module's operand.
static Value throughModuleArguments(Value value) {
  while (auto argument = dyn_cast<BlockArgument>(value)) {
    auto module =
        dyn_cast_or_null<GraphModuleOp>(argument.getOwner()->getParentOp());
    if (!module)
      break;
    value = module.getInputs()[argument.getArgNumber()];
  }
  return value;
}

/// Where `value` comes from, seen through module boundaries (a module's
/// result is what its body outputs) and casts, which keep the shape.
static Value sourceOf(Value value) {
  while (true) {
    value = throughModuleArguments(value);
    Operation *def = value.getDefiningOp();
    if (auto module = dyn_cast_or_null<GraphModuleOp>(def)) {
      auto output =
          dyn_cast<OutputOp>(module.getBody().front().getTerminator());
      if (!output)
        return value;
      value = output.getValues()[cast<OpResult>(value).getResultNumber()];
    } else if (auto castOp = dyn_cast_or_null<CastOp>(def)) {
      value = castOp.getInput();
    } else {
      return value;
    }
  }
}

/// The operands that read `value`, seen through module boundaries, casts
/// and syncs that keep the shape (an all_reduce after a vocab-parallel
/// embedding).
static void collectReaders(Value value, SmallVectorImpl<OpOperand *> &readers) {
  for (OpOperand &use : value.getUses()) {
    Operation *user = use.getOwner();
    unsigned index = use.getOperandNumber();
    if (isa<OutputOp>(user)) {
      if (auto module = dyn_cast<GraphModuleOp>(user->getParentOp()))
        collectReaders(module.getResult(index), readers);
      continue;
    }
    if (auto module = dyn_cast<GraphModuleOp>(user)) {
      collectReaders(module.getBody().front().getArgument(index), readers);
      continue;
    }
    if (isa<CastOp>(user) ||
        (isa<SyncOp>(user) &&
         user->getResult(0).getType() == value.getType())) {
      collectReaders(user->getResult(0), readers);
      continue;
    }
    readers.push_back(&use);
  }
}

namespace {

/// The size an axis must have: the whole `full` or, on an axis split over
/// the ranks after graph-partition-tensor-parallel, one rank's share.
struct AxisSize {
  int64_t size = 0;
  bool split = false;
  /// The tp degree does not divide `full`: each rank holds ceil(full / tp),
  /// the last rank's tail padding (a vocabulary, as Megatron pads it).
  bool padded = false;
};

/// Checks the token and position embeddings and the logits of
/// graph.cross_entropy (the LM head's weight) against the config, as the
/// file comment says.
class ConfigShapes {
public:
  ConfigShapes(ModelOp model, DictionaryAttr config,
               const llvm::StringMap<Operation *> &byPath)
      : model(model), byPath(byPath) {
    auto get = [&](StringRef key) -> int64_t {
      auto attr = config.getAs<IntegerAttr>(key);
      return attr ? attr.getInt() : 0;
    };
    vocabSize = get("vocab_size");
    hiddenSize = get("hidden_size");
    maxPositions = get("max_positions");
  }

  LogicalResult verify() {
    if (Attribute attr = model->getAttr("tp")) {
      auto integer = dyn_cast<IntegerAttr>(attr);
      if (!integer || integer.getInt() < 1)
        return model.emitOpError("attribute 'tp' must be a positive "
                                 "integer (the tensor-parallel degree), got ")
               << attr;
      tp = integer.getInt();
    }
    WalkResult result = model.walk([&](Operation *op) {
      LogicalResult checked = success();
      if (auto embedding = dyn_cast<EmbeddingOp>(op))
        checked = verifyEmbedding(embedding);
      else if (auto loss = dyn_cast<CrossEntropyOp>(op))
        checked = verifyLogits(loss);
      return failed(checked) ? WalkResult::interrupt() : WalkResult::advance();
    });
    return failure(result.wasInterrupted());
  }

private:
  ModelOp model;
  const llvm::StringMap<Operation *> &byPath;
  int64_t vocabSize = 0, hiddenSize = 0, maxPositions = 0;
  int64_t tp = 1;

  /// The parameter `value` is, through module boundaries, casts and tied
  /// uses; null if it is computed.
  ParamOp paramOf(Value value) {
    Operation *def = sourceOf(value).getDefiningOp();
    if (auto ref = dyn_cast_or_null<ParamRefOp>(def))
      return dyn_cast_or_null<ParamOp>(byPath.lookup(ref.getTarget()));
    return dyn_cast_or_null<ParamOp>(def);
  }

  /// The size `param` must have on `axis`, whose whole size is `full`.
  /// `vocabParallel`: the axis is the vocabulary of a vocab-parallel op,
  /// which may be padded (and, where `param` is null because the value is
  /// computed, is split).
  AxisSize expectedSize(ParamOp param, int64_t axis, int64_t full,
                        bool vocabParallel = false) {
    AxisSize expected{full};
    if (tp == 1)
      return expected;
    if (param) {
      auto shard = param->getAttrOfType<DictionaryAttr>("shard");
      auto shardAxis = shard ? shard.getAs<IntegerAttr>("axis") : nullptr;
      if (!shardAxis || shardAxis.getInt() != axis)
        return expected;
    } else if (!vocabParallel) {
      return expected;
    }
    expected.split = true;
    expected.padded = full % tp != 0;
    expected.size = vocabParallel ? (full + tp - 1) / tp : full / tp;
    return expected;
  }

  /// "parameter 'transformer.wte.weight' of shape [1000, 64]", or for a
  /// value that is not a parameter "the table [1000, 64] of graph.embedding".
  std::string describe(ParamOp param, Value value, StringRef role,
                       Operation *reader) {
    auto type = cast<RankedTensorType>(value.getType());
    if (param)
      return "parameter '" + getPath(param) + "' of shape " +
             shapeToString(type.getShape());
    return ("the " + role + " " + shapeToString(type.getShape()) + " of " +
            reader->getName().getStringRef())
        .str();
  }

  /// `value`'s size on `axis` is the config's `key` (plus `offset`, making
  /// `full`), or one rank's share of it where the axis is split.
  LogicalResult checkAxis(Value value, int64_t axis, StringRef role,
                          Operation *reader, StringRef key, int64_t full,
                          int64_t offset = 0, bool vocabParallel = false) {
    ParamOp param = paramOf(value);
    auto type = cast<RankedTensorType>(value.getType());
    AxisSize expected = expectedSize(param, axis, full, vocabParallel);
    int64_t size = type.getDimSize(axis);
    StringRef unit = type.getRank() != 2 ? "logits per token"
                     : axis == 0         ? "rows"
                                         : "columns";
    if (expected.padded && !vocabParallel)
      return model.emitOpError()
             << describe(param, value, role, reader) << " is split on axis "
             << axis << " over tp " << tp << ", which does not divide config '"
             << key << "' " << full
             << " (only the rows of a vocab-parallel table or logits are "
                "padded)";
    if (size != expected.size) {
      InFlightDiagnostic diag =
          model.emitOpError()
          << describe(param, value, role, reader) << " has " << size << " "
          << unit << " but config '" << key << "' is " << full - offset;
      if (offset)
        diag << ", " << full << " " << unit << " with the position offset "
             << offset;
      if (expected.split)
        diag << ", " << expected.size << " a rank at tp " << tp
             << (expected.padded ? " with padding" : "");
      if (!param)
        diag.attachNote(reader->getLoc()) << "read here";
      return diag;
    }
    // The whole size of a padded axis is kept in the shard: it is what the
    // loss masks and a checkpoint drops.
    if (!expected.split || !param)
      return success();
    auto shard = param->getAttrOfType<DictionaryAttr>("shard");
    auto whole = shard.getAs<IntegerAttr>("size");
    if (whole ? whole.getInt() == full : !expected.padded)
      return success();
    InFlightDiagnostic diag = model.emitOpError()
                              << describe(param, value, role, reader)
                              << " holds " << size << " " << unit
                              << " a rank at tp " << tp << " of config '" << key
                              << "' " << full << ", but its shard ";
    if (whole)
      diag << "says the whole size is " << whole.getInt();
    else
      diag << "does not say the whole size (size = " << full << ")";
    return diag;
  }

  /// A vocab-parallel op's whole vocabulary (what it masks) is the
  /// config's `key`, plus `offset` making `full`.
  LogicalResult checkVocabParallel(Operation *op, StringRef key, int64_t full,
                                   int64_t offset = 0) {
    auto whole = op->getAttrOfType<IntegerAttr>("vocab_parallel");
    if (!whole || whole.getInt() == full)
      return success();
    InFlightDiagnostic diag =
        model.emitOpError()
        << op->getName() << " is vocab-parallel over " << whole.getInt()
        << (isa<EmbeddingOp>(op) ? " rows" : " tokens") << " but config '"
        << key << "' is " << full - offset;
    if (offset)
      diag << ", " << full << " rows with the position offset " << offset;
    return diag;
  }

  /// Whether a graph.linear reads the rows of `embedding` and makes them
  /// `hidden_size` wide (OPT's project_in from word_embed_proj_dim).
  bool isProjected(EmbeddingOp embedding) {
    SmallVector<OpOperand *> readers;
    collectReaders(embedding.getResult(), readers);
    return llvm::any_of(readers, [&](OpOperand *use) {
      auto linear = dyn_cast<LinearOp>(use->getOwner());
      if (!linear || use->get() != linear.getInput())
        return false;
      int64_t outAxis = linear.getInOut() ? 1 : 0;
      AxisSize expected =
          expectedSize(paramOf(linear.getWeight()), outAxis, hiddenSize);
      return linear.getResult().getType().getShape().back() == expected.size;
    });
  }

  /// The token embedding (of a model argument, the token ids) has
  /// `vocab_size` rows, the position embedding (of graph.position_ids)
  /// `max_positions` plus the offset; both are `hidden_size` wide unless
  /// the token embedding's rows are projected to it.
  LogicalResult verifyEmbedding(EmbeddingOp embedding) {
    Value table = embedding.getTable();
    if (cast<RankedTensorType>(table.getType()).getRank() != 2)
      return success(); // the op's own verifier says so
    Value ids = throughModuleArguments(embedding.getIds());
    auto argument = dyn_cast<BlockArgument>(ids);
    bool tokens = argument && argument.getOwner()->getParentOp() == model;
    auto positions = ids.getDefiningOp<PositionIdsOp>();
    if (!tokens && !positions)
      return success();
    StringRef rowsKey = tokens ? "vocab_size" : "max_positions";
    int64_t rows = tokens ? vocabSize : maxPositions;
    int64_t offset = tokens ? 0 : positions.getOffset();
    if (rows &&
        (failed(
             checkVocabParallel(embedding, rowsKey, rows + offset, offset)) ||
         failed(checkAxis(table, 0, "table", embedding, rowsKey, rows + offset,
                          offset, embedding->hasAttr("vocab_parallel")))))
      return failure();
    if (hiddenSize && !(tokens && isProjected(embedding)))
      return checkAxis(table, 1, "table", embedding, "hidden_size", hiddenSize);
    return success();
  }

  /// The LM head's weight, where the logits are its output, else the
  /// logits, have `vocab_size` on their vocabulary axis.
  LogicalResult verifyLogits(CrossEntropyOp loss) {
    if (!vocabSize)
      return success();
    if (failed(checkVocabParallel(loss, "vocab_size", vocabSize)))
      return failure();
    bool vocabParallel = loss->hasAttr("vocab_parallel");
    if (auto linear = sourceOf(loss.getLogits()).getDefiningOp<LinearOp>()) {
      Value weight = linear.getWeight();
      if (cast<RankedTensorType>(weight.getType()).getRank() == 2)
        return checkAxis(weight, linear.getInOut() ? 1 : 0, "weight", linear,
                         "vocab_size", vocabSize, 0, vocabParallel);
    }
    Value logits = loss.getLogits();
    int64_t rank = cast<RankedTensorType>(logits.getType()).getRank();
    if (rank == 0)
      return success();
    return checkAxis(logits, rank - 1, "logits", loss, "vocab_size", vocabSize,
                     0, vocabParallel);
  }
};

} // namespace

LogicalResult
slapo::graph::verifyConfigShapes(ModelOp model,
                                 const llvm::StringMap<Operation *> &byPath) {
  DictionaryAttr config = model.getConfigAttr();
  if (!config)
    return success();
  return ConfigShapes(model, config, byPath).verify();
}
