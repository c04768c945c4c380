//===- GraphSharding.cpp - each op's tensor-parallel sharding rule --------===//
//
// ShardingOpInterface for the graph ops: how each maps its operands'
// states (replicated, split on an axis, partial sum) to its results', and
// what it refuses (a partial sum reaching a nonlinear op, a bias added on
// every rank, a layer norm over a split axis). An op without a rule takes
// replicated operands only (lib/Transforms/Sharding.cpp). Adding an op:
// docs/adding-an-op.md.
//
//===----------------------------------------------------------------------===//

#include "graph/ShardingRules.h"

#include "graph/GraphUtils.h"

using namespace mlir;

namespace slapo::graph {

//===----------------------------------------------------------------------===//
// The context rules work through
//===----------------------------------------------------------------------===//

Sharding Sharding::shardedOn(int64_t axis, int64_t parts, ParamOp origin) {
  Sharding s;
  s.kind = Sharded;
  s.axis = axis;
  s.parts = parts;
  s.origin = origin;
  return s;
}

Sharding Sharding::partialFrom(Operation *producer, ParamOp origin) {
  Sharding s;
  s.kind = Partial;
  s.producer = producer;
  s.origin = origin;
  return s;
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

InFlightDiagnostic blame(const Sharding &cause, Operation *op) {
  if (!cause.origin)
    return emitError(op->getLoc());
  InFlightDiagnostic diag = emitError(shardLocation(cause.origin));
  diag << "with '" << getPath(cause.origin) << "' sharded, ";
  return diag;
}

void ShardingContext::set(Value value, const Sharding &s) {
  if (!s.isReplicated())
    states[value] = s;
}

void ShardingContext::setAll(const Sharding &s) {
  for (Value result : op->getResults())
    set(result, s);
}

Sharding ShardingContext::firstNonReplicated() const {
  for (Value operand : op->getOperands())
    if (!state(operand).isReplicated())
      return state(operand);
  return Sharding::replicated();
}

LogicalResult ShardingContext::refuse(const Sharding &cause, const Twine &why) {
  return blame(cause, op) << op->getName().getStringRef() << " in '"
                          << modulePath(op) << "' " << why;
}

LogicalResult ShardingContext::unreducedPartial(const Sharding &partial) {
  return blame(partial, op)
         << op->getName().getStringRef() << " in '" << modulePath(op)
         << "' gets partial sums: add `sync " << modulePath(partial.producer)
         << " forward=all_reduce` to reduce them first";
}

LogicalResult ShardingContext::passThrough(Value input, bool linearInPartial) {
  Sharding s = state(input);
  if (s.isPartial() && !linearInPartial)
    return unreducedPartial(s);
  setAll(s);
  return success();
}

namespace {

int64_t rankOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getRank();
}

/// Layer norm and RMS norm: whole weights, an input whole along the
/// normalised last axis.
LogicalResult normRule(ShardingContext &rule) {
  Operation *norm = rule.getOp();
  Value input = norm->getOperand(0);
  for (Value affine : norm->getOperands().drop_front())
    if (!rule.state(affine).isReplicated())
      return rule.refuse(rule.state(affine), "cannot use a sharded weight");
  Sharding x = rule.state(input);
  if (x.isPartial())
    return rule.unreducedPartial(x);
  if (x.isSharded() && x.axis == rankOf(input) - 1)
    return rule.refuse(x, "normalises over the last axis, which is split "
                          "over the ranks");
  rule.setAll(x);
  return success();
}

/// Add and mul, broadcasting: operands split alike (aligned from the
/// trailing axis) or replicated where they do not span the split axis; a
/// partial sum plus a replicated value would add it once per rank.
LogicalResult broadcastingRule(ShardingContext &rule, bool isMul) {
  Operation *op = rule.getOp();
  Value result = op->getResult(0);
  int64_t rank = rankOf(result);
  Sharding out = Sharding::replicated();
  for (Value operand : op->getOperands()) {
    Sharding s = rule.state(operand);
    if (s.isSharded())
      s.axis += rank - rankOf(operand);
    if (s.isReplicated())
      continue;
    if (!out.isReplicated() &&
        (out.kind != s.kind ||
         (s.isSharded() && (out.axis != s.axis || out.parts != s.parts))))
      return rule.refuse(s, "combines operands split differently (" +
                                describe(out) + " and " + describe(s) + ")");
    if (s.isPartial() && isMul && !out.isReplicated())
      return rule.unreducedPartial(s);
    out = s;
  }
  for (Value operand : op->getOperands()) {
    if (!rule.state(operand).isReplicated() || out.isReplicated())
      continue;
    if (out.isPartial() && !isMul)
      return rule.unreducedPartial(out);
    auto shape = cast<RankedTensorType>(operand.getType()).getShape();
    int64_t local = out.axis - (rank - int64_t(shape.size()));
    if (out.isSharded() && local >= 0 && shape[local] != 1)
      return rule.refuse(out, "combines a split axis with a whole one");
  }
  rule.setAll(out);
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

// No reduction: a split passes through; a partial sum may not, except
// through the ops linear in their input (a rank's share is scaled or
// rounded alone).
LogicalResult ReluOp::propagateSharding(ShardingContext &rule) {
  return rule.passThrough(getInput(), /*linearInPartial=*/false);
}
LogicalResult SiluOp::propagateSharding(ShardingContext &rule) {
  return rule.passThrough(getInput(), /*linearInPartial=*/false);
}
LogicalResult GeluOp::propagateSharding(ShardingContext &rule) {
  return rule.passThrough((*this)->getOperand(0), /*linearInPartial=*/false);
}
LogicalResult DropoutOp::propagateSharding(ShardingContext &rule) {
  return rule.passThrough((*this)->getOperand(0), /*linearInPartial=*/false);
}
LogicalResult CausalMaskOp::propagateSharding(ShardingContext &rule) {
  return rule.passThrough((*this)->getOperand(0), /*linearInPartial=*/false);
}
LogicalResult ScaleOp::propagateSharding(ShardingContext &rule) {
  return rule.passThrough((*this)->getOperand(0), /*linearInPartial=*/true);
}
LogicalResult CastOp::propagateSharding(ShardingContext &rule) {
  return rule.passThrough((*this)->getOperand(0), /*linearInPartial=*/true);
}
LogicalResult AddOp::propagateSharding(ShardingContext &rule) {
  return broadcastingRule(rule, /*isMul=*/false);
}
LogicalResult MulOp::propagateSharding(ShardingContext &rule) {
  return broadcastingRule(rule, /*isMul=*/true);
}

//===----------------------------------------------------------------------===//
// Norms
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::propagateSharding(ShardingContext &rule) {
  return normRule(rule);
}
LogicalResult RmsNormOp::propagateSharding(ShardingContext &rule) {
  return normRule(rule);
}

//===----------------------------------------------------------------------===//
// Parameters, linear algebra, attention, shapes, loss and syncs
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::propagateSharding(ShardingContext &rule) {
  if (auto shard = (*this)->getAttrOfType<DictionaryAttr>("shard")) {
    rule.markSharded();
    rule.set(getResult(),
             Sharding::shardedOn(shard.getAs<IntegerAttr>("axis").getInt(),
                                 shard.getAs<IntegerAttr>("parts").getInt(),
                                 *this));
  }
  return success();
}

LogicalResult EmbeddingOp::propagateSharding(ShardingContext &rule) {
  Sharding table = rule.state(getTable());
  if (table.isReplicated())
    return success();
  if (table.isSharded() && table.parts == 1 && table.axis == 0) {
    rule.markVocabParallel(); // ids outside the rank's rows give zeros
    rule.set(getResult(), Sharding::partialFrom(getOperation(), table.origin));
    return success();
  }
  if (table.isSharded() && table.parts == 1 && table.axis == 1) {
    rule.set(getResult(),
             Sharding::shardedOn(rankOf(getResult()) - 1, 1, table.origin));
    return success();
  }
  return rule.refuse(table, "cannot use a table " + describe(table));
}

namespace {

/// A column-parallel layer (its weight split on the output axis): the
/// input replicated, the bias (if any) split the same way, the result
/// split on its last axis.
LogicalResult columnParallel(ShardingContext &rule, Value result, Sharding x,
                             Sharding w, Value biasValue, Sharding bias) {
  if (!x.isReplicated())
    return rule.refuse(w, "splits its output, so its input must be "
                          "replicated, but it is " +
                              describe(x));
  if (biasValue &&
      !(bias.isSharded() && bias.axis == 0 && bias.parts == w.parts))
    return rule.refuse(w, "splits its output but not its bias: shard '" +
                              getPath(biasValue.getDefiningOp<ParamOp>()) +
                              "' axis=0 too");
  rule.set(result, Sharding::shardedOn(rankOf(result) - 1, w.parts, w.origin));
  return success();
}

/// A row-parallel layer (its weight split on the input axis): each rank
/// multiplies its slice of the input into a partial sum, so it adds no
/// bias.
LogicalResult rowParallel(ShardingContext &rule, Value result, Sharding x,
                          Sharding w, bool hasBias) {
  if (!(x.isSharded() && x.axis == rankOf(result) - 1 && x.parts == w.parts))
    return rule.refuse(w, "splits its input axis, so its input must come "
                          "split the same way (from a column-parallel "
                          "layer), but it is " +
                              describe(x));
  if (hasBias)
    return rule.refuse(w, "would add its bias on every rank: `sync " +
                              modulePath(rule.getOp()) +
                              " forward=all_reduce` adds it after the "
                              "reduction");
  rule.set(result, Sharding::partialFrom(rule.getOp(), w.origin));
  return success();
}

} // namespace

LogicalResult LinearOp::propagateSharding(ShardingContext &rule) {
  Sharding x = rule.state(getInput()), w = rule.state(getWeight());
  Sharding bias = getBias() ? rule.state(getBias()) : Sharding();
  int64_t last = rankOf(getInput()) - 1;
  int64_t outAxis = getInOut() ? 1 : 0;
  if (w.isReplicated()) {
    if (!bias.isReplicated())
      return rule.refuse(bias, "has a sharded bias but a whole weight");
    if (x.isSharded() && x.axis == last)
      return rule.refuse(x, "needs the whole last axis of its input, which "
                            "is split over the ranks");
    if (x.isPartial() && getBias())
      return rule.unreducedPartial(x);
    rule.set(getResult(), x);
    return success();
  }
  if (!w.isSharded())
    return rule.refuse(w, "cannot use a weight that is " + describe(w));
  if (w.axis == outAxis)
    return columnParallel(rule, getResult(), x, w, getBias(), bias);
  return rowParallel(rule, getResult(), x, w, bool(getBias()));
}

LogicalResult MatmulOp::propagateSharding(ShardingContext &rule) {
  Sharding l = rule.state(getLhs()), r = rule.state(getRhs());
  if (l.isReplicated() && r.isReplicated())
    return success();
  if (l.isSharded() && r.isSharded() && l.axis == r.axis &&
      l.axis < rankOf(getLhs()) - 2) {
    rule.set(getResult(), l);
    return success();
  }
  return rule.refuse(l.isReplicated() ? r : l,
                     "needs both operands split on the same batch axis, got " +
                         describe(l) + " and " + describe(r));
}

LogicalResult AttentionOp::propagateSharding(ShardingContext &rule) {
  Sharding q = rule.state(getQuery()), k = rule.state(getKey()),
           v = rule.state(getValue());
  // A block mask [B, H, ...] is split as the heads are.
  Sharding m = getMask() ? rule.state(getMask()) : q;
  if (q.isReplicated() && k.isReplicated() && v.isReplicated() &&
      m.isReplicated())
    return success();
  for (const Sharding &s : {q, k, v, m})
    if (!(s.isSharded() && s.axis == 1))
      return rule.refuse(
          s.isReplicated() ? q : s,
          std::string(getMask() ? "needs query, key, value and its "
                                  "block mask"
                                : "needs query, key and value") +
              " all split by heads (axis 1), but one is " + describe(s));
  rule.set(getResult(), q);
  return success();
}

LogicalResult SoftmaxOp::propagateSharding(ShardingContext &rule) {
  Sharding x = rule.state(getInput());
  int64_t axis = getAxisAttr().getInt();
  if (axis < 0)
    axis += rankOf(getInput());
  if (x.isSharded() && x.axis == axis)
    return rule.refuse(x, "normalises over the axis split over the ranks");
  return rule.passThrough(getInput(), false);
}

LogicalResult RopeOp::propagateSharding(ShardingContext &rule) {
  Sharding x = rule.state(getInput());
  if (x.isSharded() && x.axis >= rankOf(getInput()) - 2)
    return rule.refuse(x, "rotates along positions and features, which "
                          "must stay whole");
  return rule.passThrough(getInput(), false);
}

LogicalResult BiasGeluOp::propagateSharding(ShardingContext &rule) {
  // As the bias add and the gelu it fuses: a column-parallel output
  // takes a bias sharded the same way.
  Sharding x = rule.state(getInput()), bias = rule.state(getBias());
  bool matching = (x.isReplicated() && bias.isReplicated()) ||
                  (x.isSharded() && x.axis == rankOf(getInput()) - 1 &&
                   bias.isSharded() && bias.axis == 0 && bias.parts == x.parts);
  if (x.isPartial())
    return rule.unreducedPartial(x);
  if (!matching)
    return rule.refuse(x.isReplicated() ? bias : x,
                       "needs its input and bias split alike, got " +
                           describe(x) + " and " + describe(bias));
  rule.setAll(x);
  return success();
}

LogicalResult ReshapeOp::propagateSharding(ShardingContext &rule) {
  Sharding x = rule.state(getInput());
  if (!x.isSharded()) {
    rule.setAll(x);
    return success();
  }
  auto in = getInput().getType().getShape();
  auto out = getType().getShape();
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
      rule.set(getResult(), Sharding::shardedOn(groupOut, 1, x.origin));
      return success();
    }
  }
  return rule.refuse(x, "cannot keep axis " + std::to_string(x.axis) +
                            " split through this reshape");
}

LogicalResult TransposeOp::propagateSharding(ShardingContext &rule) {
  Sharding x = rule.state(getInput());
  if (x.isSharded()) {
    ArrayRef<int64_t> perm = getPermutation();
    x.axis = llvm::find(perm, x.axis) - perm.begin();
  }
  rule.setAll(x);
  return success();
}

LogicalResult SplitOp::propagateSharding(ShardingContext &rule) {
  Sharding x = rule.state(getInput());
  int64_t axis = getAxisAttr().getInt();
  if (axis < 0)
    axis += rankOf(getInput());
  if (!x.isSharded() || x.axis != axis) {
    rule.setAll(x);
    return success();
  }
  ArrayRef<int64_t> sizes = getSizes();
  if (int64_t(sizes.size()) != x.parts || !llvm::all_equal(sizes))
    return rule.refuse(
        x, "cuts the split axis into " + std::to_string(sizes.size()) +
               " pieces, but it was sharded in " + std::to_string(x.parts) +
               " parts (shard ... parts=" + std::to_string(sizes.size()) + ")");
  rule.setAll(Sharding::shardedOn(axis, 1, x.origin));
  return success();
}

LogicalResult ConcatOp::propagateSharding(ShardingContext &rule) {
  Sharding first = rule.state(getInputs()[0]);
  for (Value input : getInputs()) {
    Sharding s = rule.state(input);
    if (s.kind != first.kind ||
        (s.isSharded() && (s.axis != first.axis || s.parts != 1)))
      return rule.refuse(s.isReplicated() ? first : s,
                         "joins inputs split differently");
  }
  int64_t axis = getAxisAttr().getInt();
  if (axis < 0)
    axis += rankOf(getResult());
  if (first.isSharded() && first.axis == axis)
    first.parts = int64_t(getInputs().size());
  rule.setAll(first);
  return success();
}

LogicalResult CrossEntropyOp::propagateSharding(ShardingContext &rule) {
  Sharding logits = rule.state(getLogits());
  if (logits.isReplicated())
    return success();
  if (logits.isSharded() && logits.parts == 1 &&
      logits.axis == rankOf(getLogits()) - 1) {
    rule.markVocabParallel(); // softmax statistics reduced over the ranks
    return success();
  }
  if (logits.isPartial())
    return rule.unreducedPartial(logits);
  return rule.refuse(logits, "needs the logits whole or split by "
                             "vocabulary, but they are " +
                                 describe(logits));
}

LogicalResult SyncOp::propagateSharding(ShardingContext &rule) {
  Sharding x = rule.state(getInput());
  StringRef kind = getForward();
  int64_t axis = getAxisAttr().getInt();
  if (axis < 0)
    axis += rankOf(getInput());
  auto wrongInput = [&](StringRef needs) {
    return mlir::emitError(getLoc(), "sync forward=")
           << kind << " backward=" << getBackward() << " on '"
           << modulePath(*this) << "' needs " << needs << ", but its input is "
           << describe(x);
  };
  if (kind == "all_reduce" || kind == "reduce_scatter") {
    if (!x.isPartial())
      return wrongInput("a partial sum (the output of a row-parallel "
                        "layer or a vocab-parallel embedding)");
    rule.set(getResult(), kind == "all_reduce"
                              ? Sharding::replicated()
                              : Sharding::shardedOn(axis, 1, x.origin));
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
    rule.set(getResult(), Sharding::shardedOn(axis, 1, ParamOp()));
  return success();
}

LogicalResult OutputOp::propagateSharding(ShardingContext &rule) {
  Sharding loss = rule.state(getValues()[0]);
  if (loss.isPartial())
    return rule.unreducedPartial(loss);
  if (!loss.isReplicated())
    return blame(loss, getOperation()) << "the loss is " << describe(loss);
  return success();
}

//===----------------------------------------------------------------------===//
// Block-sparse ops (sparsify)
//===----------------------------------------------------------------------===//

/// A mask follows its scores' column split: each rank's columns make whole
/// blocks of its own, so its mask is its slice of the blocks (axis 1).
LogicalResult BlockMaskOp::propagateSharding(ShardingContext &rule) {
  Sharding s = rule.state(getScores());
  if (s.isReplicated())
    return success();
  if (s.isPartial())
    return rule.unreducedPartial(s);
  int64_t last = rankOf(getScores()) - 1;
  if (s.axis != last)
    return rule.refuse(s, "needs its scores whole on every axis but the "
                          "last, but they are " +
                              describe(s));
  int64_t width =
      cast<RankedTensorType>(getScores().getType()).getShape().back();
  int64_t cols = getCols();
  if (ShapedType::isDynamic(width) || (width / cols) % s.parts != 0)
    return rule.refuse(s, "cannot split its " + std::to_string(width / cols) +
                              " blocks of " + std::to_string(cols) +
                              " evenly over " + std::to_string(s.parts) +
                              " ranks");
  rule.set(getResult(), Sharding::shardedOn(1, s.parts, s.origin));
  return success();
}

/// As graph.linear's column- and row-parallel forms, with the mask split
/// on its blocks the way the weight splits the sparse features.
LogicalResult BlockSparseLinearOp::propagateSharding(ShardingContext &rule) {
  Sharding x = rule.state(getInput()), w = rule.state(getWeight());
  Sharding mask = rule.state(getMask());
  Sharding bias = getBias() ? rule.state(getBias()) : Sharding();
  bool sparseOut = getSparse() == "out";
  if (w.isReplicated()) {
    for (const Sharding &s : {x, mask, bias})
      if (!s.isReplicated())
        return rule.refuse(s, "has a whole weight, so its input, mask and "
                              "bias must be whole too, but one is " +
                                  describe(s));
    return success();
  }
  if (!w.isSharded())
    return rule.refuse(w, "cannot use a weight that is " + describe(w));
  if (!(mask.isSharded() && mask.axis == 1 && mask.parts == w.parts))
    return rule.refuse(w, "splits its weight, so its block mask must be "
                          "split on its blocks the same way, but it is " +
                              describe(mask));
  // The mask's blocks are the sparse side's: fc1's outputs, fc2's inputs.
  if (sparseOut != (w.axis == 0))
    return rule.refuse(w, std::string("is sparse in its ") +
                              (sparseOut ? "output" : "input") +
                              " blocks, so its weight can only be split on "
                              "that axis (" +
                              (sparseOut ? "0" : "1") + ")");
  if (sparseOut)
    return columnParallel(rule, getResult(), x, w, getBias(), bias);
  return rowParallel(rule, getResult(), x, w, bool(getBias()));
}

} // namespace slapo::graph
