//===- Sharding.cpp - how tensor parallelism splits every value ----------===//
//
// Forward: each op maps the states of its operands to the states of its
// results, or refuses the combination (a partial sum reaching a nonlinear
// op, a bias added on every rank, a layer norm over a split axis).
// Backward: a replicated value read by sharded computation gets only the
// rank's share of its gradient (a partial sum); `sync backward=all_reduce`
// completes it. Every trainable replicated parameter and every sharded or
// partial value must end up with its whole gradient.
//
//===----------------------------------------------------------------------===//

#include "Sharding.h"

#include "graph/GraphUtils.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace slapo::graph {

Location shardLocation(ParamOp param) {
  if (auto shard = param->getAttrOfType<DictionaryAttr>("shard"))
    if (auto at = shard.getAs<LocationAttr>("at"))
      return at;
  return param.getLoc();
}

std::string modulePath(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return "the model";
}

namespace {

Sharding replicated() { return Sharding(); }

Sharding shardedOn(int64_t axis, int64_t parts, ParamOp origin) {
  Sharding s;
  s.kind = Sharding::Sharded;
  s.axis = axis;
  s.parts = parts;
  s.origin = origin;
  return s;
}

Sharding partialFrom(Operation *producer, ParamOp origin) {
  Sharding s;
  s.kind = Sharding::Partial;
  s.producer = producer;
  s.origin = origin;
  return s;
}

int64_t rankOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getRank();
}

std::string describe(const Sharding &s) {
  switch (s.kind) {
  case Sharding::Replicated:
    return "replicated";
  case Sharding::Partial:
    return "a partial sum";
  case Sharding::Sharded:
    return "split on axis " + std::to_string(s.axis);
  }
  return "";
}

std::string opName(Operation *op) { return op->getName().getStringRef().str(); }

} // namespace

/// Starts an error about `op` caused by the shard behind `cause` (at its
/// .sched statement), or at `op` when nothing sharded is to blame.
static InFlightDiagnostic blame(const Sharding &cause, Operation *op) {
  if (!cause.origin)
    return emitError(op->getLoc());
  InFlightDiagnostic diag = emitError(shardLocation(cause.origin));
  diag << "with '" << getPath(cause.origin) << "' sharded, ";
  return diag;
}

/// The error for a partial sum reaching an op that needs the whole value.
static LogicalResult unreducedPartial(const Sharding &partial, Operation *op) {
  return blame(partial, op)
         << opName(op) << " in '" << modulePath(op)
         << "' gets partial sums: add `sync " << modulePath(partial.producer)
         << " forward=all_reduce` to reduce them first";
}

LogicalResult ShardingAnalysis::forward(Operation &op) {
  auto state = [&](Value v) { return get(v); };
  auto set = [&](Value v, Sharding s) {
    if (!s.isReplicated())
      states[v] = s;
  };
  auto setAll = [&](Sharding s) {
    for (Value result : op.getResults())
      set(result, s);
  };
  auto refuse = [&](const Sharding &cause, const Twine &why) {
    return blame(cause, &op)
           << opName(&op) << " in '" << modulePath(&op) << "' " << why;
  };
  /// The first operand that is not replicated, or a replicated state.
  auto firstNonReplicated = [&]() {
    for (Value operand : op.getOperands())
      if (!state(operand).isReplicated())
        return state(operand);
    return replicated();
  };
  /// Elementwise ops without reductions: a state passes through, a partial
  /// sum may not (unless `linearInPartial`).
  auto passThrough = [&](Value input, bool linearInPartial) -> LogicalResult {
    Sharding s = state(input);
    if (s.isPartial() && !linearInPartial)
      return unreducedPartial(s, &op);
    setAll(s);
    return success();
  };

  return llvm::TypeSwitch<Operation *, LogicalResult>(&op)
      .Case([&](ParamOp param) {
        if (auto shard = param->getAttrOfType<DictionaryAttr>("shard")) {
          sharded = true;
          set(param.getResult(),
              shardedOn(shard.getAs<IntegerAttr>("axis").getInt(),
                        shard.getAs<IntegerAttr>("parts").getInt(), param));
        }
        return success();
      })
      .Case([&](EmbeddingOp embedding) -> LogicalResult {
        Sharding table = state(embedding.getTable());
        if (table.isReplicated())
          return success();
        if (table.isSharded() && table.parts == 1 && table.axis == 0) {
          vocabOps.insert(&op); // ids outside the rank's rows give zeros
          set(embedding.getResult(), partialFrom(&op, table.origin));
          return success();
        }
        if (table.isSharded() && table.parts == 1 && table.axis == 1) {
          set(embedding.getResult(),
              shardedOn(rankOf(embedding.getResult()) - 1, 1, table.origin));
          return success();
        }
        return refuse(table, "cannot use a table " + describe(table));
      })
      .Case([&](LinearOp linear) -> LogicalResult {
        Sharding x = state(linear.getInput()), w = state(linear.getWeight());
        Sharding bias = linear.getBias() ? state(linear.getBias()) : Sharding();
        int64_t last = rankOf(linear.getInput()) - 1;
        int64_t outAxis = linear.getInOut() ? 1 : 0;
        if (w.isReplicated()) {
          if (!bias.isReplicated())
            return refuse(bias, "has a sharded bias but a whole weight");
          if (x.isSharded() && x.axis == last)
            return refuse(x, "needs the whole last axis of its input, which "
                             "is split over the ranks");
          if (x.isPartial() && linear.getBias())
            return unreducedPartial(x, &op);
          set(linear.getResult(), x);
          return success();
        }
        if (!w.isSharded())
          return refuse(w, "cannot use a weight that is " + describe(w));
        if (w.axis == outAxis) { // column-parallel
          if (!x.isReplicated())
            return refuse(w, "splits its output, so its input must be "
                             "replicated, but it is " +
                                 describe(x));
          if (linear.getBias() &&
              !(bias.isSharded() && bias.axis == 0 && bias.parts == w.parts))
            return refuse(
                w, "splits its output but not its bias: shard '" +
                       getPath(linear.getBias().getDefiningOp<ParamOp>()) +
                       "' axis=0 too");
          set(linear.getResult(), shardedOn(last, w.parts, w.origin));
          return success();
        }
        // Row-parallel: each rank multiplies its slice of the input.
        if (!(x.isSharded() && x.axis == last && x.parts == w.parts))
          return refuse(w, "splits its input axis, so its input must come "
                           "split the same way (from a column-parallel "
                           "layer), but it is " +
                               describe(x));
        if (linear.getBias())
          return refuse(w, "would add its bias on every rank: `sync " +
                               modulePath(&op) +
                               " forward=all_reduce` adds it after the "
                               "reduction");
        set(linear.getResult(), partialFrom(&op, w.origin));
        return success();
      })
      .Case([&](MatmulOp matmul) -> LogicalResult {
        Sharding l = state(matmul.getLhs()), r = state(matmul.getRhs());
        if (l.isReplicated() && r.isReplicated())
          return success();
        if (l.isSharded() && r.isSharded() && l.axis == r.axis &&
            l.axis < rankOf(matmul.getLhs()) - 2) {
          set(matmul.getResult(), l);
          return success();
        }
        return refuse(l.isReplicated() ? r : l,
                      "needs both operands split on the same batch axis, got " +
                          describe(l) + " and " + describe(r));
      })
      .Case([&](AttentionOp attention) -> LogicalResult {
        Sharding q = state(attention.getQuery()), k = state(attention.getKey()),
                 v = state(attention.getValue());
        if (q.isReplicated() && k.isReplicated() && v.isReplicated())
          return success();
        for (const Sharding &s : {q, k, v})
          if (!(s.isSharded() && s.axis == 1))
            return refuse(s.isReplicated() ? q : s,
                          "needs query, key and value all split by heads "
                          "(axis 1), but one is " +
                              describe(s));
        set(attention.getResult(), q);
        return success();
      })
      .Case<LayerNormOp, RmsNormOp>([&](Operation *norm) -> LogicalResult {
        Value input = norm->getOperand(0);
        for (Value affine : norm->getOperands().drop_front())
          if (!state(affine).isReplicated())
            return refuse(state(affine), "cannot use a sharded weight");
        Sharding x = state(input);
        if (x.isPartial())
          return unreducedPartial(x, &op);
        if (x.isSharded() && x.axis == rankOf(input) - 1)
          return refuse(x, "normalises over the last axis, which is split "
                           "over the ranks");
        setAll(x);
        return success();
      })
      .Case([&](SoftmaxOp softmax) -> LogicalResult {
        Sharding x = state(softmax.getInput());
        int64_t axis = softmax.getAxisAttr().getInt();
        if (axis < 0)
          axis += rankOf(softmax.getInput());
        if (x.isSharded() && x.axis == axis)
          return refuse(x, "normalises over the axis split over the ranks");
        return passThrough(softmax.getInput(), false);
      })
      .Case([&](RopeOp rope) -> LogicalResult {
        Sharding x = state(rope.getInput());
        if (x.isSharded() && x.axis >= rankOf(rope.getInput()) - 2)
          return refuse(x, "rotates along positions and features, which "
                           "must stay whole");
        return passThrough(rope.getInput(), false);
      })
      .Case<ReluOp, SiluOp, GeluOp, DropoutOp, CausalMaskOp>(
          [&](Operation *) { return passThrough(op.getOperand(0), false); })
      // Linear in their input, so a partial sum stays one (each rank's
      // share is scaled or rounded alone).
      .Case<ScaleOp, CastOp>(
          [&](Operation *) { return passThrough(op.getOperand(0), true); })
      .Case([&](BiasGeluOp fused) -> LogicalResult {
        // As the bias add and the gelu it fuses: a column-parallel output
        // takes a bias sharded the same way.
        Sharding x = state(fused.getInput()), bias = state(fused.getBias());
        bool matching =
            (x.isReplicated() && bias.isReplicated()) ||
            (x.isSharded() && x.axis == rankOf(fused.getInput()) - 1 &&
             bias.isSharded() && bias.axis == 0 && bias.parts == x.parts);
        if (x.isPartial())
          return unreducedPartial(x, &op);
        if (!matching)
          return refuse(x.isReplicated() ? bias : x,
                        "needs its input and bias split alike, got " +
                            describe(x) + " and " + describe(bias));
        setAll(x);
        return success();
      })
      .Case<AddOp, MulOp>([&](Operation *) -> LogicalResult {
        Value result = op.getResult(0);
        int64_t rank = rankOf(result);
        Sharding out = replicated();
        for (Value operand : op.getOperands()) {
          Sharding s = state(operand);
          if (s.isSharded())
            s.axis += rank - rankOf(operand);
          if (s.isReplicated())
            continue;
          if (!out.isReplicated() &&
              (out.kind != s.kind ||
               (s.isSharded() && (out.axis != s.axis || out.parts != s.parts))))
            return refuse(s, "combines operands split differently (" +
                                 describe(out) + " and " + describe(s) + ")");
          if (s.isPartial() && isa<MulOp>(op) && !out.isReplicated())
            return unreducedPartial(s, &op);
          out = s;
        }
        // A replicated operand must not span a split axis, and adding it to
        // a partial sum would add it once per rank.
        for (Value operand : op.getOperands()) {
          if (!state(operand).isReplicated() || out.isReplicated())
            continue;
          if (out.isPartial() && isa<AddOp>(op))
            return unreducedPartial(out, &op);
          auto shape = cast<RankedTensorType>(operand.getType()).getShape();
          int64_t local = out.axis - (rank - int64_t(shape.size()));
          if (out.isSharded() && local >= 0 && shape[local] != 1)
            return refuse(out, "combines a split axis with a whole one");
        }
        setAll(out);
        return success();
      })
      .Case([&](ReshapeOp reshape) -> LogicalResult {
        Sharding x = state(reshape.getInput());
        if (!x.isSharded()) {
          setAll(x);
          return success();
        }
        auto in = reshape.getInput().getType().getShape();
        auto out = reshape.getType().getShape();
        // Group dimensions with equal products; the split axis must lead
        // its group, and lands on the first dimension of the result's.
        size_t i = 0, j = 0;
        while (i < in.size() && j < out.size()) {
          size_t groupIn = i, groupOut = j;
          int64_t a = in[i++], b = out[j++];
          while (a != b && i <= in.size() && j <= out.size()) {
            if (a < b && i < in.size())
              a *= in[i++];
            else if (b < a && j < out.size())
              b *= out[j++];
            else
              break;
          }
          if (x.axis >= int64_t(groupIn) && x.axis < int64_t(i)) {
            if (x.axis != int64_t(groupIn) || x.parts != 1 || a != b)
              break;
            set(reshape.getResult(), shardedOn(groupOut, 1, x.origin));
            return success();
          }
        }
        return refuse(x, "cannot keep axis " + std::to_string(x.axis) +
                             " split through this reshape");
      })
      .Case([&](TransposeOp transpose) -> LogicalResult {
        Sharding x = state(transpose.getInput());
        if (x.isSharded()) {
          ArrayRef<int64_t> perm = transpose.getPermutation();
          x.axis = llvm::find(perm, x.axis) - perm.begin();
        }
        setAll(x);
        return success();
      })
      .Case([&](SplitOp split) -> LogicalResult {
        Sharding x = state(split.getInput());
        int64_t axis = split.getAxisAttr().getInt();
        if (axis < 0)
          axis += rankOf(split.getInput());
        if (!x.isSharded() || x.axis != axis) {
          setAll(x);
          return success();
        }
        ArrayRef<int64_t> sizes = split.getSizes();
        if (int64_t(sizes.size()) != x.parts || !llvm::all_equal(sizes))
          return refuse(
              x, "cuts the split axis into " + std::to_string(sizes.size()) +
                     " pieces, but it was sharded in " +
                     std::to_string(x.parts) + " parts (shard ... parts=" +
                     std::to_string(sizes.size()) + ")");
        setAll(shardedOn(axis, 1, x.origin));
        return success();
      })
      .Case([&](ConcatOp concat) -> LogicalResult {
        Sharding first = state(concat.getInputs()[0]);
        for (Value input : concat.getInputs()) {
          Sharding s = state(input);
          if (s.kind != first.kind ||
              (s.isSharded() && (s.axis != first.axis || s.parts != 1)))
            return refuse(s.isReplicated() ? first : s,
                          "joins inputs split differently");
        }
        int64_t axis = concat.getAxisAttr().getInt();
        if (axis < 0)
          axis += rankOf(concat.getResult());
        if (first.isSharded() && first.axis == axis)
          first.parts = int64_t(concat.getInputs().size());
        setAll(first);
        return success();
      })
      .Case([&](CrossEntropyOp loss) -> LogicalResult {
        Sharding logits = state(loss.getLogits());
        if (logits.isReplicated())
          return success();
        if (logits.isSharded() && logits.parts == 1 &&
            logits.axis == rankOf(loss.getLogits()) - 1) {
          vocabOps.insert(&op); // softmax statistics reduced over the ranks
          return success();
        }
        if (logits.isPartial())
          return unreducedPartial(logits, &op);
        return refuse(logits, "needs the logits whole or split by "
                              "vocabulary, but they are " +
                                  describe(logits));
      })
      .Case([&](SyncOp sync) -> LogicalResult {
        Sharding x = state(sync.getInput());
        StringRef kind = sync.getForward();
        int64_t axis = sync.getAxisAttr().getInt();
        if (axis < 0)
          axis += rankOf(sync.getInput());
        auto wrongInput = [&](StringRef needs) {
          return emitError(sync.getLoc(), "sync forward=")
                 << kind << " backward=" << sync.getBackward() << " on '"
                 << modulePath(sync) << "' needs " << needs
                 << ", but its input is " << describe(x);
        };
        if (kind == "all_reduce" || kind == "reduce_scatter") {
          if (!x.isPartial())
            return wrongInput("a partial sum (the output of a row-parallel "
                              "layer or a vocab-parallel embedding)");
          set(sync.getResult(), kind == "all_reduce"
                                    ? replicated()
                                    : shardedOn(axis, 1, x.origin));
          return success();
        }
        if (kind == "all_gather") {
          if (!(x.isSharded() && x.axis == axis && x.parts == 1))
            return wrongInput("a value split on axis " + std::to_string(axis));
          return success();
        }
        if (!x.isReplicated())
          return wrongInput("a replicated value");
        if (kind == "split")
          set(sync.getResult(), shardedOn(axis, 1, ParamOp()));
        return success();
      })
      .Case([&](OutputOp output) -> LogicalResult {
        Sharding loss = state(output.getValues()[0]);
        if (loss.isPartial())
          return unreducedPartial(loss, &op);
        if (!loss.isReplicated())
          return blame(loss, &op) << "the loss is " << describe(loss);
        return success();
      })
      .Default([&](Operation *) -> LogicalResult {
        Sharding s = firstNonReplicated();
        if (s.isReplicated())
          return success();
        return refuse(s, "cannot take an operand that is " + describe(s));
      });
}

namespace {

/// How much of its gradient a rank holds for a value.
enum class Grad { None, Whole, Partial, Mixed };

struct GradState {
  Grad grad = Grad::None;
  Operation *culprit = nullptr; // the sharded reader that made it partial

  void join(const GradState &other) {
    if (other.grad == Grad::None)
      return;
    if (grad == Grad::None || grad == other.grad) {
      grad = other.grad;
      culprit = culprit ? culprit : other.culprit;
      return;
    }
    grad = Grad::Mixed;
    culprit = culprit ? culprit : other.culprit;
  }
  bool incomplete() const {
    return grad == Grad::Partial || grad == Grad::Mixed;
  }
};

} // namespace

LogicalResult ShardingAnalysis::backward(ModelOp model) {
  Block &body = model.getBody().front();
  // Values whose gradient anyone needs: those a trainable parameter reaches.
  llvm::DenseSet<Value> active;
  for (Operation &op : body) {
    auto param = dyn_cast<ParamOp>(op);
    bool reached = (param && param.getTrainable()) ||
                   llvm::any_of(op.getOperands(),
                                [&](Value v) { return active.contains(v); });
    if (reached)
      active.insert(op.result_begin(), op.result_end());
  }

  llvm::DenseMap<Value, GradState> grads;
  auto output = cast<OutputOp>(body.getTerminator());
  grads[output.getValues()[0]] = GradState{Grad::Whole, nullptr};

  auto incompleteError = [&](const GradState &g, Operation *at,
                             StringRef what) -> InFlightDiagnostic {
    if (!g.culprit)
      return emitError(at->getLoc())
             << what << " gets only part of its gradient";
    Sharding cause = get(g.culprit->getResult(0));
    std::string reader = modulePath(g.culprit);
    return blame(cause, at)
           << "'" << reader << "' reads a replicated input, so each rank gets "
           << "only part of its gradient, and " << what
           << " needs all of it: add `sync " << reader
           << " backward=all_reduce`";
  };

  for (Operation &op : llvm::reverse(body.without_terminator())) {
    if (auto param = dyn_cast<ParamOp>(op)) {
      GradState g = grads.lookup(param.getResult());
      if (param.getTrainable() && g.incomplete())
        return incompleteError(g, &op, "'" + getPath(param) + "'");
      continue;
    }
    GradState out;
    bool resultSplit = false;
    for (Value result : op.getResults()) {
      GradState g = grads.lookup(result);
      if (g.incomplete() && !get(result).isReplicated())
        return incompleteError(g, &op,
                               "the result of " + opName(&op) + " in '" +
                                   modulePath(&op) + "' (" +
                                   describe(get(result)) + ")");
      resultSplit |= !get(result).isReplicated();
      out.join(g);
    }
    if (out.grad == Grad::None)
      continue;

    auto sync = dyn_cast<SyncOp>(op);
    bool completes = sync && (sync.getBackward() == "all_reduce" ||
                              sync.getBackward() == "reduce_scatter");
    if (completes && out.grad == Grad::Whole)
      return emitError(sync.getLoc(), "sync backward=")
             << sync.getBackward() << " on '" << modulePath(sync)
             << "' would sum gradients that are already whole on every "
                "rank (nothing sharded reads this input)";
    if (completes && out.grad == Grad::Mixed)
      return incompleteError(out, &op, "this sync");

    for (Value operand : op.getOperands()) {
      if (!active.contains(operand))
        continue;
      GradState contribution = out;
      if (completes)
        contribution = GradState{Grad::Whole, nullptr};
      else if (!sync && resultSplit && get(operand).isReplicated())
        contribution = GradState{Grad::Partial, &op};
      grads[operand].join(contribution);
    }
  }
  return success();
}

LogicalResult ShardingAnalysis::run(ModelOp model) {
  for (Operation &op : model.getBody().front())
    if (failed(forward(op)))
      return failure();
  if (!sharded)
    return success();
  return backward(model);
}

} // namespace slapo::graph
