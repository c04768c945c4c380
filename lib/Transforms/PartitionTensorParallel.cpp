//===- PartitionTensorParallel.cpp - per-rank shapes ----------------------===//
//
// Checks the model's shards and syncs (ShardingAnalysis) and, for a tp
// degree above 1, gives every split value its per-rank shape: one rank's
// program. With tp 1 the syncs are no-ops and disappear.
//
// A vocabulary that the tp degree does not divide (GPT-2's 50,257 tokens)
// is padded, as Megatron does: each rank holds ceil(V / tp) rows of the
// vocab-parallel table and columns of the logits, the last rank's tail is
// padding, and the vocab-parallel cross-entropy (told V) masks it.
//
//===----------------------------------------------------------------------===//

#include "Sharding.h"

#include "graph/GraphUtils.h"
#include "slapo/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace slapo {
#define GEN_PASS_DEF_GRAPHPARTITIONTENSORPARALLEL
#include "slapo/Transforms/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::graph;

namespace {

LogicalResult partition(ModelOp model, int64_t tp) {
  ShardingAnalysis analysis;
  if (failed(analysis.run(model)))
    return failure();
  Block &body = model.getBody().front();
  if (tp == 1) {
    for (SyncOp sync : llvm::make_early_inc_range(body.getOps<SyncOp>())) {
      sync.getResult().replaceAllUsesWith(sync.getInput());
      sync.erase();
    }
    return success();
  }
  if (!analysis.hasShards())
    return model.emitError("--tp ")
           << tp << " needs a schedule that shards the model (shard and "
           << "sync, e.g. schedules/" << model.getSymName() << "-tp.sched)";

  Builder b(model.getContext());
  // The whole vocabulary of each vocab-parallel op, by the parameter its
  // table or logits are split from.
  llvm::DenseMap<Operation *, int64_t> vocabOf, vocabOfOrigin;
  for (Operation *op : analysis.vocabParallel()) {
    Value split = isa<EmbeddingOp>(op) ? cast<EmbeddingOp>(op).getTable()
                                       : cast<CrossEntropyOp>(op).getLogits();
    ParamOp origin = analysis.get(split).origin;
    if (!origin)
      continue;
    int64_t axis = analysis.get(origin.getResult()).axis;
    int64_t vocab = origin.getResult().getType().getShape()[axis];
    vocabOf[op] = vocab;
    vocabOfOrigin[origin] = vocab;
  }

  for (Operation &op : body) {
    for (Value result : op.getResults()) {
      Sharding s = analysis.get(result);
      if (!s.isSharded())
        continue;
      auto type = cast<RankedTensorType>(result.getType());
      SmallVector<int64_t> shape(type.getShape());
      int64_t &dim = shape[s.axis];
      auto vocab =
          s.origin ? vocabOfOrigin.find(s.origin) : vocabOfOrigin.end();
      bool isVocab =
          vocab != vocabOfOrigin.end() && s.parts == 1 && dim == vocab->second;
      if (dim % (tp * s.parts) != 0 && !isVocab) {
        InFlightDiagnostic diag =
            emitError(s.origin ? shardLocation(s.origin) : op.getLoc());
        if (auto param = dyn_cast<ParamOp>(op))
          diag << "axis " << s.axis << " of '" << getPath(param) << "' (" << dim
               << ")";
        else
          diag << "axis " << s.axis << " of " << op.getName() << " in '"
               << modulePath(&op) << "' (" << dim << ", e.g. attention heads)";
        diag << " does not divide by the tp degree " << tp;
        if (s.parts > 1)
          diag << " in each of its " << s.parts << " parts";
        return failure();
      }
      if (isVocab && dim % tp != 0) {
        if (auto param = dyn_cast<ParamOp>(op)) {
          auto shard = param->getAttrOfType<DictionaryAttr>("shard");
          NamedAttrList entries(shard);
          entries.set("size", b.getI64IntegerAttr(dim));
          param->setAttr("shard", entries.getDictionary(b.getContext()));
        }
        dim = (dim + tp - 1) / tp;
      } else {
        dim /= tp;
      }
      result.setType(RankedTensorType::get(shape, type.getElementType()));
    }
    if (auto split = dyn_cast<SplitOp>(op)) {
      Sharding s = analysis.get(split.getInput());
      int64_t axis = split.getAxisAttr().getInt();
      if (axis < 0)
        axis += split.getInput().getType().getRank();
      if (s.isSharded() && s.axis == axis) {
        SmallVector<int64_t> sizes(split.getSizes());
        for (int64_t &size : sizes)
          size /= tp;
        split.setSizes(sizes);
      }
    }
    if (auto sync = dyn_cast<SyncOp>(op))
      sync.setTpAttr(b.getI64IntegerAttr(tp));
    // A dropout on a split tensor numbers its elements as one process
    // would (see lib/Runtime/CPU/DropoutNumbering.h).
    Value dropped = isa<DropoutOp>(op)     ? cast<DropoutOp>(op).getInput()
                    : isa<AttentionOp>(op) ? cast<AttentionOp>(op).getQuery()
                                           : Value();
    if (Sharding s = dropped ? analysis.get(dropped) : Sharding();
        s.isSharded() && s.parts == 1)
      op.setAttr("dropout_shard_axis", b.getI64IntegerAttr(s.axis));
    if (analysis.vocabParallel().contains(&op))
      op.setAttr("vocab_parallel", b.getI64IntegerAttr(vocabOf.lookup(&op)));
  }
  model->setAttr("tp", b.getI64IntegerAttr(tp));
  return success();
}

struct GraphPartitionTensorParallelPass
    : public slapo::impl::GraphPartitionTensorParallelBase<
          GraphPartitionTensorParallelPass> {
  using Base::Base;
  void runOnOperation() override {
    if (tp < 1) {
      getOperation().emitError("tp must be at least 1, got ") << tp;
      return signalPassFailure();
    }
    for (ModelOp model : getOperation().getOps<ModelOp>())
      if (failed(partition(model, tp)))
        return signalPassFailure();
  }
};

} // namespace
