//===- KernelChecks.cpp - what each kernel needs of its operands ----------===//
//
// The load-time half of every kernel of the catalog, whatever the backend: the
// dtypes, ranks and dimensions that must agree, the attributes it reads (with
// their kinds and ranges) and the workspace it uses, written down once and
// checked when a plan loads (PlanLoader.cpp). A plan that passes cannot make a
// kernel read or write outside its tensors. One function per kernel, or per
// family of kernels with the same rule; the rules themselves live in `Rules`.
//
//===----------------------------------------------------------------------===//

#include "KernelChecks.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>

namespace slapo::rt::checks {

namespace {

/// Attribute integers that count elements stay below the loader's bound on
/// a dimension.
constexpr int64_t kMaxCount = int64_t(1) << 40;

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

const char *kindName(AttrKind kind) {
  switch (kind) {
  case AttrKind::Int:
    return "an integer";
  case AttrKind::Float:
    return "a float";
  case AttrKind::Ints:
    return "an integer list";
  case AttrKind::String:
    return "a string";
  }
  return "an attribute";
}

const char *categoryName(Category category) {
  switch (category) {
  case Category::Input:
    return "an input";
  case Category::Param:
    return "a parameter";
  case Category::Grad:
    return "a gradient";
  case Category::OptimizerState:
    return "optimizer state";
  case Category::Activation:
    return "an activation";
  case Category::Workspace:
    return "workspace";
  }
  return "a tensor";
}

/// a * b, or the largest uint64_t where that overflows.
uint64_t saturatingMul(uint64_t a, uint64_t b) {
  uint64_t product;
  return __builtin_mul_overflow(a, b, &product)
             ? std::numeric_limits<uint64_t>::max()
             : product;
}

/// `shape` with its last dimension replaced by (or, with `append`, followed
/// by) `dim`.
std::vector<int64_t> withLast(std::vector<int64_t> shape, int64_t dim,
                              bool append = false) {
  if (append || shape.empty())
    shape.push_back(dim);
  else
    shape.back() = dim;
  return shape;
}

/// One tensor of the call and what the kernel calls it.
struct Operand {
  const TensorInfo *tensor;
  std::string role;

  const std::vector<int64_t> &shape() const { return tensor->shape; }
  int64_t rank() const { return int64_t(tensor->shape.size()); }
  int64_t dim(int64_t i) const { return tensor->shape[i < 0 ? i + rank() : i]; }
  /// "weight [64, 192]".
  std::string str() const { return role + " " + shapeString(shape()); }
};

/// Which stored value a float attribute may hold.
enum class FloatRange { Finite, Positive, NonNegative, BelowOne };

/// The rules of one call, checked in order: each returns true when it
/// holds, and the first that does not records the problem. Chain them with
/// && so that later rules may rely on earlier ones.
class Rules {
public:
  Rules(const KernelCheck &check, std::vector<std::string> inRoles,
        std::vector<std::string> outRoles = {"result"})
      : check(check), inRoles(std::move(inRoles)),
        outRoles(std::move(outRoles)) {}

  Operand in(size_t i) const {
    return {check.ins[i], roleOf(inRoles, i, "input")};
  }
  Operand out(size_t i) const {
    return {check.outs[i], roleOf(outRoles, i, "result")};
  }
  size_t numIns() const { return check.ins.size(); }
  size_t numOuts() const { return check.outs.size(); }
  std::vector<Operand> outs() const {
    std::vector<Operand> all;
    for (size_t i = 0; i < numOuts(); ++i)
      all.push_back(out(i));
    return all;
  }
  std::vector<Operand> ins() const {
    std::vector<Operand> all;
    for (size_t i = 0; i < numIns(); ++i)
      all.push_back(in(i));
    return all;
  }
  bool has(const char *flag) const { return check.call->has(flag); }
  int32_t tp() const { return check.tp; }
  const std::string &problem() const { return first; }
  /// The problem of the rules just evaluated into `held` ("" when they all
  /// held): `return r.outcome(r.floats() && r.rank(r.in(0), 2));`.
  std::string outcome(bool held) const {
    (void)held;
    return first;
  }

  bool fail(std::string message) {
    if (first.empty())
      first = std::move(message);
    return false;
  }

  //===--- dtypes ---------------------------------------------------------===//

  /// Every operand holds floats of one dtype (f32, bf16 or f16: the
  /// activations' dtype, which the backend then needs kernels for) but the
  /// inputs and outputs listed in `idInputs` / `idOutputs`, which hold token
  /// ids (I64), and the outputs in `f32Outputs`, which are f32 whatever the
  /// activations are (a loss).
  bool floatsExcept(std::initializer_list<size_t> idInputs,
                    std::initializer_list<size_t> idOutputs = {},
                    std::initializer_list<size_t> f32Outputs = {}) {
    auto listed = [](std::initializer_list<size_t> list, size_t i) {
      return std::find(list.begin(), list.end(), i) != list.end();
    };
    const Operand *floatsLike = nullptr;
    Operand first{nullptr, ""};
    auto element = [&](const Operand &op, bool ids) {
      if (ids)
        return dtype(op, DType::I64);
      if (!floatsLike) {
        if (!isFloat(op.tensor->dtype))
          return fail(op.str() + " must hold floats (f32 or bf16), not " +
                      dtypeName(op.tensor->dtype));
        first = op;
        floatsLike = &first;
        return true;
      }
      return op.tensor->dtype == floatsLike->tensor->dtype ||
             fail(op.str() + " holds " + dtypeName(op.tensor->dtype) +
                  ", but " + floatsLike->str() + " holds " +
                  dtypeName(floatsLike->tensor->dtype) +
                  ": the kernel's floats share one dtype");
    };
    for (size_t i = 0; i < numIns(); ++i)
      if (!element(in(i), listed(idInputs, i)))
        return false;
    for (size_t i = 0; i < numOuts(); ++i) {
      if (listed(f32Outputs, i)) {
        if (!dtype(out(i), DType::F32))
          return false;
        continue;
      }
      if (!element(out(i), listed(idOutputs, i)))
        return false;
    }
    return true;
  }
  bool floats() { return floatsExcept({}); }
  /// Every operand is f32: parameters, their gradients and optimizer state.
  bool f32Only() {
    for (size_t i = 0; i < numIns(); ++i)
      if (!dtype(in(i), DType::F32))
        return false;
    for (size_t i = 0; i < numOuts(); ++i)
      if (!dtype(out(i), DType::F32))
        return false;
    return true;
  }

  //===--- shapes ---------------------------------------------------------===//

  bool rank(const Operand &op, int64_t rank) {
    return op.rank() == rank ||
           fail(op.str() + " must have rank " + std::to_string(rank));
  }
  bool minRank(const Operand &op, int64_t rank) {
    return op.rank() >= rank ||
           fail(op.str() + " must have at least " + std::to_string(rank) +
                (rank == 1 ? " axis" : " axes"));
  }
  bool shapeIs(const Operand &op, const std::vector<int64_t> &shape,
               const std::string &because = "") {
    return op.shape() == shape ||
           fail(op.str() + " must be " + shapeString(shape) +
                (because.empty() ? "" : " (" + because + ")"));
  }
  bool sameShape(const Operand &op, const Operand &like) {
    return op.shape() == like.shape() ||
           fail(op.str() + " must have the shape of " + like.str());
  }
  /// Every operand has the shape of the first input.
  bool sameShapes() {
    for (const Operand &op : ins())
      if (!sameShape(op, in(0)))
        return false;
    for (const Operand &op : outs())
      if (!sameShape(op, in(0)))
        return false;
    return true;
  }
  /// Dimension `i` of `a` equals dimension `j` of `b` (`what` they are).
  bool sameDim(const Operand &a, int64_t i, const Operand &b, int64_t j,
               const std::string &what) {
    return a.dim(i) == b.dim(j) ||
           fail(a.str() + " and " + b.str() + " disagree on " + what + ": " +
                std::to_string(a.dim(i)) + " vs " + std::to_string(b.dim(j)));
  }
  /// `a` and `b` have the same rank and agree on all but their last
  /// `trailing` axes.
  bool sameLeading(const Operand &a, const Operand &b, int64_t trailing) {
    bool same = a.rank() == b.rank() &&
                std::equal(a.shape().begin(), a.shape().end() - trailing,
                           b.shape().begin());
    return same || fail(a.str() + " and " + b.str() +
                        " must agree on every axis but the last" +
                        (trailing == 1 ? "" : " " + std::to_string(trailing)));
  }
  /// A row-wise kernel over `x` [..., D]: each of `rows` has the shape of
  /// `x` and each of `vectors` is [D] (one value per feature).
  bool rowwise(const Operand &x, const std::vector<Operand> &rows,
               const std::vector<Operand> &vectors) {
    if (!minRank(x, 1))
      return false;
    for (const Operand &op : rows)
      if (!sameShape(op, x))
        return false;
    for (const Operand &op : vectors)
      if (!shapeIs(op, {x.dim(-1)}, "one value per feature of " + x.str()))
        return false;
    return true;
  }

  //===--- plan facts -----------------------------------------------------===//

  bool category(const Operand &op, Category category, const char *why) {
    return op.tensor->category == category ||
           fail(op.str() + " is " + categoryName(op.tensor->category) +
                ", not " + categoryName(category) + ": " + why);
  }
  bool workspace(uint64_t need, const std::string &forWhat) {
    return need <= check.workspaceBytes ||
           fail("needs " + std::to_string(need) + " bytes of workspace (" +
                forWhat + ") but the call has " +
                std::to_string(check.workspaceBytes));
  }

  //===--- attributes -----------------------------------------------------===//

  /// The attribute `key` if it is present with `kind`; null (and true) if
  /// it is absent and optional.
  bool attr(const char *key, AttrKind kind, bool required,
            const AttrValue *&value) {
    value = nullptr;
    auto it = check.call->attrs.find(key);
    if (it == check.call->attrs.end())
      return !required || fail(std::string("needs the attribute '") + key +
                               "' (" + kindName(kind) + ")");
    auto stored = check.attrKinds.find(key);
    if (stored == check.attrKinds.end() || stored->second != kind)
      return fail(std::string("attribute '") + key + "' must be " +
                  kindName(kind) + ", got " +
                  (stored == check.attrKinds.end() ? "no kind"
                                                   : kindName(stored->second)));
    value = &it->second;
    return true;
  }
  /// An integer in [low, high], optional unless `required`.
  bool intAttr(const char *key, int64_t low = INT64_MIN,
               int64_t high = INT64_MAX, bool required = false) {
    const AttrValue *value;
    if (!attr(key, AttrKind::Int, required, value))
      return false;
    return !value || (value->i >= low && value->i <= high) ||
           fail(std::string("attribute '") + key + "' must be in [" +
                std::to_string(low) + ", " + std::to_string(high) + "], got " +
                std::to_string(value->i));
  }
  /// A float in `range`, optional unless `required`.
  bool floatAttr(const char *key, FloatRange range, bool required = false) {
    const AttrValue *value;
    if (!attr(key, AttrKind::Float, required, value))
      return false;
    if (!value)
      return true;
    double f = value->f;
    bool valid = std::isfinite(f);
    const char *want = "finite";
    if (range == FloatRange::Positive) {
      valid = valid && f > 0.0;
      want = "positive";
    } else if (range == FloatRange::NonNegative) {
      valid = valid && f >= 0.0;
      want = "zero or positive";
    } else if (range == FloatRange::BelowOne) {
      valid = valid && f >= 0.0 && f < 1.0;
      want = "in [0, 1)";
    }
    return valid || fail(std::string("attribute '") + key + "' must be " +
                         want + ", got " + std::to_string(f));
  }
  /// A string, one of `allowed`; optional only when not `required`.
  bool stringAttr(const char *key, std::initializer_list<const char *> allowed,
                  bool required = true) {
    const AttrValue *value;
    if (!attr(key, AttrKind::String, required, value))
      return false;
    if (!value)
      return true;
    std::string list;
    for (const char *name : allowed) {
      if (value->s == name)
        return true;
      list += std::string(list.empty() ? "" : ", ") + name;
    }
    return fail(std::string("attribute '") + key + "' must be one of " + list +
                ", got '" + value->s + "'");
  }
  /// The axis `key` (`fallback` when absent) of a rank-`rank` tensor,
  /// counted from the end when negative; `axis` gets it in [0, rank).
  bool axisAttr(const char *key, int64_t rank, int64_t fallback,
                int64_t &axis) {
    const AttrValue *value;
    if (!attr(key, AttrKind::Int, /*required=*/false, value))
      return false;
    int64_t given = value ? value->i : fallback;
    axis = given < 0 ? given + rank : given;
    return (axis >= 0 && axis < rank) ||
           fail(std::string("attribute '") + key + "' is " +
                std::to_string(given) + ", not an axis of a rank-" +
                std::to_string(rank) + " tensor");
  }
  /// Dropout's numbering of a split tensor of rank `rank`, and its stream.
  bool dropoutNumbering(int64_t rank) {
    return intAttr("rng_stream") && intAttr("dropout_shard_axis", -1, rank - 1);
  }
  /// A vocabulary split over the group: this rank holds `rows` rows (or
  /// logit columns) of a vocabulary of V = `vocab_parallel`, padded to tp
  /// blocks, so (tp - 1) * rows < V <= tp * rows.
  bool vocabParallel(int64_t rows) {
    const AttrValue *value;
    if (!attr("vocab_parallel", AttrKind::Int, /*required=*/false, value))
      return false;
    int64_t low = (tp() - 1) * rows + 1, high = tp() * rows;
    return !value || (value->i >= low && value->i <= high) ||
           fail("a vocabulary of 'vocab_parallel' = " +
                std::to_string(value->i) + " does not split into " +
                std::to_string(tp()) + " blocks of " + std::to_string(rows) +
                " rows (it must be in [" + std::to_string(low) + ", " +
                std::to_string(high) + "])");
  }

private:
  static std::string roleOf(const std::vector<std::string> &roles, size_t i,
                            const char *generic) {
    return i < roles.size() ? roles[i]
                            : std::string(generic) + " #" + std::to_string(i);
  }
  bool dtype(const Operand &op, DType dtype) {
    return op.tensor->dtype == dtype ||
           fail(op.str() + " must hold " +
                (dtype == DType::I64 ? "token ids (i64)" : "floats (f32)") +
                ", not " + dtypeName(op.tensor->dtype));
  }

  const KernelCheck &check;
  std::vector<std::string> inRoles, outRoles;
  std::string first;
};

//===----------------------------------------------------------------------===//
// Rules shared by families
//===----------------------------------------------------------------------===//

/// Normalising along the last axis (softmax and its gradient): the kernels
/// reduce over the last axis whatever `axis` says, so it must name it.
std::string checkLastAxisRows(const KernelCheck &check,
                              std::vector<std::string> roles) {
  Rules r(check, std::move(roles));
  int64_t axis;
  if (r.floats() && r.minRank(r.in(0), 1) && r.sameShapes() &&
      r.axisAttr("axis", r.in(0).rank(), -1, axis) &&
      axis != r.in(0).rank() - 1)
    r.fail("attribute 'axis' names axis " + std::to_string(axis) +
           "; the kernel normalises the last axis only");
  return r.problem();
}

/// q [B, H, T, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv] with H a multiple of
/// Hkv (query head h reads kv head h / (H / Hkv)); causal attention needs
/// S >= T. Also the attributes both attention kernels read.
bool attentionOperands(Rules &r, const Operand &q, const Operand &k,
                       const Operand &v) {
  if (!(r.floats() && r.rank(q, 4) && r.rank(k, 4) && r.rank(v, 4) &&
        r.sameDim(q, 0, k, 0, "the batch") &&
        r.sameDim(k, 0, v, 0, "the batch") &&
        r.sameDim(k, 1, v, 1, "the heads") &&
        r.sameDim(k, 2, v, 2, "the sequence length") &&
        r.sameDim(q, 3, k, 3, "the head size")))
    return false;
  if (q.dim(1) % k.dim(1) != 0)
    return r.fail("the query heads of " + q.str() +
                  " are not a multiple of the key/value heads of " + k.str());
  if (r.has("causal") && k.dim(2) < q.dim(2))
    return r.fail("causal attention needs at least as many keys as queries: " +
                  q.str() + ", " + k.str());
  return r.floatAttr("scale", FloatRange::Positive) &&
         r.floatAttr("dropout", FloatRange::BelowOne) &&
         r.dropoutNumbering(q.rank());
}

/// The probabilities of every (batch, head): B * H * T * S floats, as
/// lib/Plan/AssignOffsets.cpp's workspaceOf reserves them.
uint64_t probabilityBytes(const Operand &q, const Operand &k) {
  uint64_t bytes = sizeof(float);
  for (int64_t dim : {q.dim(0), q.dim(1), q.dim(2), k.dim(2)})
    bytes = saturatingMul(bytes, uint64_t(dim));
  return bytes;
}

/// `whole` cut on `axis` into `parts` (split's results, concat's inputs):
/// the parts agree with it on every other axis and their sizes add up.
bool piecesOf(Rules &r, const Operand &whole, const std::vector<Operand> &parts,
              int64_t axis) {
  int64_t total = 0;
  for (const Operand &part : parts) {
    std::vector<int64_t> like = whole.shape();
    if (part.rank() == whole.rank())
      like[axis] = part.dim(axis);
    if (!r.shapeIs(part, like,
                   "the shape of " + whole.str() + " but on axis " +
                       std::to_string(axis)))
      return false;
    total += part.dim(axis);
  }
  return total == whole.dim(axis) ||
         r.fail("the pieces add up to " + std::to_string(total) + " on axis " +
                std::to_string(axis) + ", but " + whole.str() + " has " +
                std::to_string(whole.dim(axis)));
}

/// Logits [..., V] and target ids [...] (cross-entropy and its gradient).
/// `lossResult`: the call's result is the loss, f32 whatever the logits.
bool lossOperands(Rules &r, const Operand &logits, const Operand &targets,
                  bool lossResult) {
  return (lossResult ? r.floatsExcept({1}, {}, {0}) : r.floatsExcept({1})) &&
         r.minRank(logits, 1) &&
         r.shapeIs(targets,
                   std::vector<int64_t>(logits.shape().begin(),
                                        logits.shape().end() - 1),
                   "the logits' shape without the vocabulary axis") &&
         r.intAttr("ignore_index") && r.vocabParallel(logits.dim(-1));
}

} // namespace

//===----------------------------------------------------------------------===//
// Dense.cpp
//===----------------------------------------------------------------------===//

std::string checkEmbedding(const KernelCheck &check) {
  Rules r(check, {"ids", "table"});
  Operand ids = r.in(0), table = r.in(1);
  return r.outcome(r.floatsExcept({0}) && r.rank(table, 2) &&
                   r.shapeIs(r.out(0),
                             withLast(ids.shape(), table.dim(1), true),
                             "a row of the table for each id") &&
                   r.vocabParallel(table.dim(0)));
}

std::string checkEmbeddingGrad(const KernelCheck &check) {
  Rules r(check, {"ids", "grad"}, {"table grad"});
  Operand ids = r.in(0), table = r.out(0);
  return r.outcome(r.floatsExcept({0}) && r.rank(table, 2) &&
                   r.shapeIs(r.in(1), withLast(ids.shape(), table.dim(1), true),
                             "a row of the table for each id") &&
                   r.vocabParallel(table.dim(0)));
}

std::string checkPositionIds(const KernelCheck &check) {
  Rules r(check, {"ids"});
  return r.outcome(r.floatsExcept({0}, {0}) && r.rank(r.in(0), 2) &&
                   r.sameShape(r.out(0), r.in(0)) &&
                   r.intAttr("offset", 0, kMaxCount));
}

std::string checkLinear(const KernelCheck &check) {
  Rules r(check, {"input", "weight", "bias"});
  Operand x = r.in(0), w = r.in(1);
  bool inOut = r.has("in_out");
  if (!(r.floats() && r.minRank(x, 1) && r.rank(w, 2) &&
        r.sameDim(x, -1, w, inOut ? 0 : 1,
                  inOut ? "the input features (weight [in, out])"
                        : "the input features (weight [out, in])")))
    return r.problem();
  int64_t outFeatures = w.dim(inOut ? 1 : 0);
  return r.outcome(
      (r.numIns() < 3 ||
       r.shapeIs(r.in(2), {outFeatures}, "one value per output feature")) &&
      r.shapeIs(r.out(0), withLast(x.shape(), outFeatures)));
}

std::string checkLinearGradWeight(const KernelCheck &check) {
  Rules r(check, {"input", "grad"}, {"weight grad"});
  Operand x = r.in(0), dy = r.in(1);
  if (r.floats() && r.minRank(x, 1) && r.minRank(dy, 1) &&
      r.sameLeading(x, dy, 1)) {
    int64_t in = x.dim(-1), out = dy.dim(-1);
    r.shapeIs(r.out(0),
              r.has("in_out") ? std::vector<int64_t>{in, out}
                              : std::vector<int64_t>{out, in},
              r.has("in_out") ? "[in, out]" : "[out, in]");
  }
  return r.problem();
}

/// ceil(rows / tile) of a [..., D] tensor's rows, taken `tile` at a time.
/// ceil(n / tile) without overflow near INT64_MAX.
int64_t tilesOf(int64_t n, int64_t tile) {
  return n == 0 ? 0 : 1 + (n - 1) / tile;
}

int64_t rowTiles(const Operand &x, int64_t tile) {
  int64_t rows = 1;
  for (int64_t i = 0; i + 1 < x.rank(); ++i)
    rows *= x.dim(i);
  return tilesOf(rows, tile);
}

std::string checkBlockMask(const KernelCheck &check) {
  Rules r(check, {"scores"}, {"mask"});
  Operand scores = r.in(0);
  if (!(r.floats() && r.minRank(scores, 1) &&
        r.intAttr("rows", 1, INT64_MAX, true) &&
        r.intAttr("cols", 1, INT64_MAX, true) &&
        r.floatAttr("threshold", FloatRange::Finite, true)))
    return r.problem();
  int64_t rows = check.call->intAttr("rows", 1),
          cols = check.call->intAttr("cols", 1);
  if (scores.dim(-1) % cols != 0)
    return r.outcome(r.fail("attribute 'cols' (" + std::to_string(cols) +
                            ") does not divide " + scores.str()));
  if (r.has("keep_shape"))
    return r.outcome(
        (rows == 1 || r.fail("keep_shape needs attribute 'rows' = 1")) &&
        r.shapeIs(r.out(0), withLast(scores.shape(), scores.dim(-1) / cols),
                  "the scores' leading axes, column blocks"));
  return r.outcome(r.shapeIs(r.out(0),
                             {rowTiles(scores, rows), scores.dim(-1) / cols},
                             "[row tiles, column blocks]"));
}

/// graph.block_sparse_linear (x [..., in]) and its input gradient (x is
/// dy [..., out]): the weight [out, in], a mask of [row tiles, blocks] of
/// the side `sparse` names, and the result [..., in or out].
std::string checkBlockSparse(const KernelCheck &check, bool gradient) {
  Rules r(check, gradient ? std::vector<std::string>{"grad", "weight", "mask"}
                          : std::vector<std::string>{"input", "weight", "bias",
                                                     "mask"});
  bool hasBias = !gradient && r.numIns() == 4;
  Operand x = r.in(0), w = r.in(1), mask = r.in(r.numIns() - 1);
  if (!(r.floats() && r.minRank(x, 1) && r.rank(w, 2) && r.rank(mask, 2) &&
        r.intAttr("rows", 1, INT64_MAX, true) &&
        r.intAttr("block", 1, INT64_MAX, true) &&
        r.stringAttr("sparse", {"out", "in"}) &&
        r.sameDim(x, -1, w, gradient ? 0 : 1,
                  gradient ? "the output features (weight [out, in])"
                           : "the input features (weight [out, in])")))
    return r.problem();
  int64_t rows = check.call->intAttr("rows", 1),
          block = check.call->intAttr("block", 1);
  bool sparseOut = check.call->attrs.at("sparse").s == "out";
  int64_t cut = w.dim(sparseOut ? 0 : 1);
  if (cut % block != 0)
    return r.outcome(r.fail("attribute 'block' (" + std::to_string(block) +
                            ") does not divide the " +
                            (sparseOut ? "output" : "input") + " features of " +
                            w.str()));
  int64_t resultFeatures = w.dim(gradient ? 1 : 0);
  return r.outcome(r.shapeIs(mask, {rowTiles(x, rows), cut / block},
                             "[row tiles, feature blocks]") &&
                   (!hasBias || r.shapeIs(r.in(2), {w.dim(0)},
                                          "one value per output feature")) &&
                   r.shapeIs(r.out(0), withLast(x.shape(), resultFeatures)));
}

std::string checkBlockSparseLinear(const KernelCheck &check) {
  return checkBlockSparse(check, /*gradient=*/false);
}

std::string checkBlockSparseLinearGrad(const KernelCheck &check) {
  return checkBlockSparse(check, /*gradient=*/true);
}

std::string checkMatmul(const KernelCheck &check) {
  Rules r(check, {"lhs", "rhs"});
  Operand a = r.in(0), b = r.in(1);
  bool transposeB = r.has("transpose_b");
  if (r.floats() && r.minRank(a, 2) && r.minRank(b, 2) &&
      r.sameLeading(a, b, 2) &&
      r.sameDim(a, -1, b, transposeB ? -1 : -2,
                transposeB ? "the contracting dimension (transpose_b)"
                           : "the contracting dimension"))
    r.shapeIs(r.out(0), withLast(a.shape(), b.dim(transposeB ? -2 : -1)),
              "[..., M, N]");
  return r.problem();
}

//===----------------------------------------------------------------------===//
// Norms.cpp
//===----------------------------------------------------------------------===//

std::string checkLayerNorm(const KernelCheck &check) {
  Rules r(check, {"input", "gamma", "beta"});
  if (r.numIns() == 2)
    return "takes gamma and beta together or neither, got only gamma";
  std::vector<Operand> affine;
  if (r.numIns() == 3)
    affine = {r.in(1), r.in(2)};
  return r.outcome(r.floats() && r.rowwise(r.in(0), {r.out(0)}, affine) &&
                   r.floatAttr("epsilon", FloatRange::Positive));
}

std::string checkLayerNormGrad(const KernelCheck &check) {
  Rules r(check, {"input", "grad", "gamma"},
          {"input grad", "gamma grad", "beta grad"});
  if (r.numOuts() != 1 && r.numOuts() != 3)
    return "gives the input's gradient, then optionally gamma's and beta's "
           "(1 or 3 results), got " +
           std::to_string(r.numOuts()) + " results";
  std::vector<Operand> vectors;
  if (r.numIns() == 3)
    vectors.push_back(r.in(2));
  for (size_t i = 1; i < r.numOuts(); ++i)
    vectors.push_back(r.out(i));
  return r.outcome(r.floats() &&
                   r.rowwise(r.in(0), {r.in(1), r.out(0)}, vectors) &&
                   r.floatAttr("epsilon", FloatRange::Positive));
}

std::string checkRmsNorm(const KernelCheck &check) {
  Rules r(check, {"input", "weight"});
  return r.outcome(r.floats() && r.rowwise(r.in(0), {r.out(0)}, {r.in(1)}) &&
                   r.floatAttr("epsilon", FloatRange::Positive));
}

std::string checkRmsNormGrad(const KernelCheck &check) {
  Rules r(check, {"input", "grad", "weight"}, {"input grad", "weight grad"});
  return r.outcome(
      r.floats() &&
      r.rowwise(r.in(0), {r.in(1), r.out(0)}, {r.in(2), r.out(1)}) &&
      r.floatAttr("epsilon", FloatRange::Positive));
}

std::string checkBiasDropoutAddLayerNorm(const KernelCheck &check) {
  Rules r(check, {"input", "bias", "residual", "gamma", "beta"},
          {"sum", "normed"});
  Operand x = r.in(0);
  return r.outcome(r.floats() &&
                   r.rowwise(x, {r.in(2), r.out(0), r.out(1)},
                             {r.in(1), r.in(3), r.in(4)}) &&
                   r.floatAttr("probability", FloatRange::BelowOne) &&
                   r.floatAttr("epsilon", FloatRange::Positive) &&
                   r.dropoutNumbering(x.rank()));
}

std::string checkAddRmsNorm(const KernelCheck &check) {
  Rules r(check, {"input", "residual", "weight"}, {"sum", "normed"});
  return r.outcome(
      r.floats() &&
      r.rowwise(r.in(0), {r.in(1), r.out(0), r.out(1)}, {r.in(2)}) &&
      r.floatAttr("epsilon", FloatRange::Positive));
}

std::string checkCausalMask(const KernelCheck &check) {
  Rules r(check, {"input"});
  return r.outcome(r.floats() && r.minRank(r.in(0), 2) && r.sameShapes());
}

std::string checkSoftmax(const KernelCheck &check) {
  return checkLastAxisRows(check, {"input"});
}

std::string checkSoftmaxGrad(const KernelCheck &check) {
  return checkLastAxisRows(check, {"output", "grad"});
}

//===----------------------------------------------------------------------===//
// Attention.cpp
//===----------------------------------------------------------------------===//

namespace {

/// Block-sparse attention's optional mask, input `index`: causal
/// self-attention (T = S) under a [B, H, ceil(T / block), ceil(S / block)]
/// tile mask.
bool attentionMask(const KernelCheck &check, Rules &r, const Operand &q,
                   const Operand &k, size_t index) {
  if (r.numIns() <= index)
    return true;
  Operand mask = r.in(index);
  if (!(r.rank(mask, 4) && r.intAttr("block", 1, INT64_MAX, true)))
    return false;
  if (!r.has("causal") || q.dim(2) != k.dim(2))
    return r.fail("a block mask takes causal self-attention (T = S), not " +
                  q.str() + " against " + k.str());
  int64_t block = check.call->intAttr("block", 1);
  return r.shapeIs(
      mask,
      {q.dim(0), q.dim(1), tilesOf(q.dim(2), block), tilesOf(k.dim(2), block)},
      "[B, H, query tiles, key tiles]");
}

} // namespace

std::string checkAttention(const KernelCheck &check) {
  Rules r(check, {"query", "key", "value", "mask"});
  Operand q = r.in(0), k = r.in(1), v = r.in(2);
  return r.outcome(
      attentionOperands(r, q, k, v) && attentionMask(check, r, q, k, 3) &&
      r.shapeIs(r.out(0), withLast(q.shape(), v.dim(3)), "[B, H, T, Dv]") &&
      r.workspace(probabilityBytes(q, k), "B * H * T * S floats"));
}

std::string checkAttentionGrad(const KernelCheck &check) {
  Rules r(check, {"query", "key", "value", "grad", "mask"},
          {"query grad", "key grad", "value grad"});
  Operand q = r.in(0), k = r.in(1), v = r.in(2);
  return r.outcome(
      attentionOperands(r, q, k, v) && attentionMask(check, r, q, k, 4) &&
      r.shapeIs(r.in(3), withLast(q.shape(), v.dim(3)), "[B, H, T, Dv]") &&
      r.sameShape(r.out(0), q) && r.sameShape(r.out(1), k) &&
      r.sameShape(r.out(2), v) &&
      r.workspace(saturatingMul(2, probabilityBytes(q, k)),
                  "the probabilities and their gradient, 2 * B * H * T * S "
                  "floats"));
}

std::string checkRope(const KernelCheck &check) {
  Rules r(check, {"input"});
  Operand x = r.in(0);
  if (!(r.floats() && r.rank(x, 4) && r.sameShapes() &&
        (x.dim(3) % 2 == 0 ||
         r.fail("the head size of " + x.str() + " must be even")) &&
        r.floatAttr("theta", FloatRange::Positive) &&
        r.stringAttr("scaling", {"linear", "llama3"}, /*required=*/false)))
    return r.problem();
  // llama3 scaling interpolates between two wavelengths of the original
  // context (the rule of the graph dialect's verifier).
  bool scaled = check.call->has("scaling");
  bool llama3 = scaled && check.call->attrs.at("scaling").s == "llama3";
  return r.outcome(
      r.floatAttr("factor", FloatRange::Positive, scaled) &&
      r.floatAttr("low_freq_factor", FloatRange::Positive, llama3) &&
      r.floatAttr("high_freq_factor", FloatRange::Positive, llama3) &&
      r.intAttr("original_max_positions", 1, kMaxCount, llama3) &&
      (!llama3 ||
       check.call->floatAttr("low_freq_factor") <
           check.call->floatAttr("high_freq_factor") ||
       r.fail("attribute 'low_freq_factor' must be below "
              "'high_freq_factor'")));
}

//===----------------------------------------------------------------------===//
// Elementwise.cpp
//===----------------------------------------------------------------------===//

std::string checkElementwise(const KernelCheck &check) {
  Rules r(check, {"input"});
  return r.outcome(r.floats() && r.sameShapes());
}

std::string checkActivationGrad(const KernelCheck &check) {
  Rules r(check, {"input", "grad"});
  return r.outcome(
      r.floats() && r.sameShapes() &&
      r.stringAttr("activation", {"relu", "silu", "gelu", "gelu_tanh"}));
}

std::string checkBiasGelu(const KernelCheck &check) {
  Rules r(check, {"input", "bias"});
  return r.outcome(r.floats() && r.rowwise(r.in(0), {r.out(0)}, {r.in(1)}));
}

std::string checkBiasGeluGrad(const KernelCheck &check) {
  Rules r(check, {"input", "bias", "grad"});
  return r.outcome(r.floats() &&
                   r.rowwise(r.in(0), {r.in(2), r.out(0)}, {r.in(1)}));
}

std::string checkScale(const KernelCheck &check) {
  Rules r(check, {"input"});
  return r.outcome(r.floats() && r.sameShapes() &&
                   r.floatAttr("factor", FloatRange::Finite));
}

std::string checkDropout(const KernelCheck &check) {
  Rules r(check, {"input"});
  return r.outcome(r.floats() && r.sameShapes() &&
                   r.floatAttr("probability", FloatRange::BelowOne) &&
                   r.dropoutNumbering(r.in(0).rank()));
}

std::string checkBroadcast(const KernelCheck &check) {
  Rules r(check, {"lhs", "rhs"});
  if (!r.floats())
    return r.problem();
  // NumPy broadcasting over trailing axes.
  const std::vector<int64_t> &a = r.in(0).shape(), &b = r.in(1).shape();
  size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return r.in(0).str() + " and " + r.in(1).str() + " do not broadcast";
    shape[i] = da == 1 ? db : da;
  }
  return r.outcome(r.shapeIs(r.out(0), shape, "the operands broadcast"));
}

std::string checkSumTo(const KernelCheck &check) {
  Rules r(check, {"input"});
  if (!r.floats())
    return r.problem();
  // The result broadcasts back to the input: trailing axes that are equal
  // or 1 in the result.
  const std::vector<int64_t> &from = r.in(0).shape(), &to = r.out(0).shape();
  bool fits = to.size() <= from.size();
  for (size_t i = 0; fits && i < to.size(); ++i)
    fits = to[i] == 1 || to[i] == from[from.size() - to.size() + i];
  if (!fits)
    r.fail(r.out(0).str() + " does not broadcast back to " + r.in(0).str());
  return r.problem();
}

std::string checkCast(const KernelCheck &check) {
  Rules r(check, {"input"});
  const Operand in = r.in(0), out = r.out(0);
  auto convertible = [&](const Operand &op) {
    DType dtype = op.tensor->dtype;
    return dtype == DType::F32 || dtype == DType::BF16 ||
           r.fail(op.str() + " holds " + dtypeName(dtype) +
                  ": casts convert between f32 and bf16");
  };
  return r.outcome(convertible(in) && convertible(out) && r.sameShape(out, in));
}

std::string checkZeros(const KernelCheck &) {
  // Clears its result's bytes, whatever its shape and dtype.
  return "";
}

//===----------------------------------------------------------------------===//
// Shape.cpp
//===----------------------------------------------------------------------===//

std::string checkTranspose(const KernelCheck &check) {
  Rules r(check, {"input"});
  Operand x = r.in(0);
  const AttrValue *perm;
  if (!(r.floats() && r.minRank(x, 1) &&
        r.attr("permutation", AttrKind::Ints, /*required=*/true, perm)))
    return r.problem();
  std::string notPermutation = "permutation " + shapeString(perm->ints) +
                               " is not a permutation of 0.." +
                               std::to_string(x.rank() - 1);
  if (int64_t(perm->ints.size()) != x.rank())
    return notPermutation;
  std::vector<bool> seen(size_t(x.rank()), false);
  std::vector<int64_t> shape;
  for (int64_t axis : perm->ints) {
    if (axis < 0 || axis >= x.rank() || seen[axis])
      return notPermutation;
    seen[axis] = true;
    shape.push_back(x.dim(axis));
  }
  return r.outcome(r.shapeIs(r.out(0), shape, "the input's axes permuted"));
}

std::string checkSplit(const KernelCheck &check) {
  Rules r(check, {"input"}, {});
  Operand x = r.in(0);
  int64_t axis;
  return r.outcome(r.floats() && r.minRank(x, 1) &&
                   r.axisAttr("axis", x.rank(), 0, axis) &&
                   piecesOf(r, x, r.outs(), axis));
}

std::string checkConcat(const KernelCheck &check) {
  Rules r(check, {});
  Operand out = r.out(0);
  int64_t axis;
  return r.outcome(r.floats() && r.minRank(out, 1) &&
                   r.axisAttr("axis", out.rank(), 0, axis) &&
                   piecesOf(r, out, r.ins(), axis));
}

//===----------------------------------------------------------------------===//
// Collectives.cpp
//===----------------------------------------------------------------------===//

std::string checkSync(const KernelCheck &check) {
  Rules r(check, {"input"});
  Operand x = r.in(0), y = r.out(0);
  int64_t axis;
  if (!(r.floats() && r.minRank(x, 1) &&
        r.stringAttr("forward", {"identity", "all_reduce", "split",
                                 "all_gather", "reduce_scatter"}) &&
        r.intAttr("tp") && r.axisAttr("axis", x.rank(), -1, axis)))
    return r.problem();
  if (int64_t group = check.call->intAttr("tp", 1); group != r.tp())
    return "is compiled for a group of " + std::to_string(group) +
           " ranks ('tp'), but the plan is for " + std::to_string(r.tp());
  const std::string &kind = check.call->attrs.at("forward").s;
  std::vector<int64_t> shape = x.shape();
  if (kind == "all_gather")
    shape[axis] *= r.tp();
  if (kind == "split" || kind == "reduce_scatter") {
    if (shape[axis] % r.tp() != 0)
      return "a " + kind + " cannot cut axis " + std::to_string(axis) + " of " +
             x.str() + " into " + std::to_string(r.tp()) + " blocks";
    shape[axis] /= r.tp();
  }
  return r.outcome(r.shapeIs(y, shape,
                             "the input's shape after a " + kind + " over " +
                                 std::to_string(r.tp()) + " ranks"));
}

//===----------------------------------------------------------------------===//
// Loss.cpp
//===----------------------------------------------------------------------===//

std::string checkCrossEntropy(const KernelCheck &check) {
  Rules r(check, {"logits", "targets"}, {"loss"});
  return r.outcome(lossOperands(r, r.in(0), r.in(1), /*lossResult=*/true) &&
                   (r.out(0).tensor->numel() == 1 ||
                    r.fail(r.out(0).str() + " must be one float")));
}

std::string checkCrossEntropyGrad(const KernelCheck &check) {
  Rules r(check, {"logits", "targets"}, {"logits grad"});
  return r.outcome(lossOperands(r, r.in(0), r.in(1), /*lossResult=*/false) &&
                   r.sameShape(r.out(0), r.in(0)));
}

//===----------------------------------------------------------------------===//
// Predictor.cpp
//===----------------------------------------------------------------------===//

namespace {

/// Logits [..., C] and 0/1 labels [rows, C] or of the logits' shape.
/// `causal` pairs: the last two axes (query tiles, key tiles) agree.
bool causalPairs(Rules &r, const Operand &x) {
  return r.minRank(x, 2) &&
         (x.dim(-1) == x.dim(-2) ||
          r.fail("causal pairs need [..., query tiles, key tiles] with as "
                 "many of each, got " +
                 x.str()));
}

bool bceOperands(Rules &r, const Operand &logits, const Operand &labels) {
  if (!(r.minRank(logits, 1) && r.floatAttr("scale", FloatRange::Finite)))
    return false;
  if (r.has("causal"))
    return causalPairs(r, logits) && r.sameShape(labels, logits);
  if (labels.shape() == logits.shape())
    return true;
  int64_t rows = 1;
  for (int64_t i = 0; i + 1 < logits.rank(); ++i)
    rows *= logits.dim(i);
  return r.shapeIs(labels, {rows, logits.dim(-1)},
                   "[rows, classes] of the logits, or their shape");
}

} // namespace

std::string checkSigmoidBce(const KernelCheck &check) {
  Rules r(check, {"logits", "labels"}, {"loss"});
  return r.outcome(r.floatsExcept({}, {}, {0}) &&
                   bceOperands(r, r.in(0), r.in(1)) &&
                   (r.out(0).tensor->numel() == 1 ||
                    r.fail(r.out(0).str() + " must be one float")));
}

std::string checkSigmoidBceGrad(const KernelCheck &check) {
  Rules r(check, {"logits", "labels"}, {"logits grad"});
  return r.outcome(r.floats() && bceOperands(r, r.in(0), r.in(1)) &&
                   r.sameShape(r.out(0), r.in(0)));
}

std::string checkMaskAgreement(const KernelCheck &check) {
  Rules r(check, {"predicted", "live"}, {"agreement"});
  Operand predicted = r.in(0), live = r.in(1);
  if (r.has("causal"))
    return r.outcome(r.floatsExcept({}, {}, {0}) && causalPairs(r, live) &&
                     r.sameShape(predicted, live) &&
                     r.intAttr("rows", 1, 1, true) &&
                     r.floatAttr("scale", FloatRange::Finite) &&
                     r.shapeIs(r.out(0), {4}, "[4]"));
  if (!(r.floatsExcept({}, {}, {0}) && r.rank(predicted, 2) &&
        r.rank(live, 2) && r.intAttr("rows", 1, INT64_MAX, true) &&
        r.floatAttr("scale", FloatRange::Finite) &&
        r.shapeIs(r.out(0), {4}, "[4]")))
    return r.problem();
  int64_t rows = check.call->intAttr("rows", 1);
  return r.outcome(r.shapeIs(predicted, {rowTiles(live, rows), live.dim(1)},
                             "[row tiles of live, its blocks]"));
}

//===----------------------------------------------------------------------===//
// AttentionSparsity.cpp
//===----------------------------------------------------------------------===//

std::string checkTileMean(const KernelCheck &check) {
  Rules r(check, {"input"});
  Operand x = r.in(0);
  if (!(r.floats() && r.rank(x, 3) && r.intAttr("block", 1, INT64_MAX, true)))
    return r.problem();
  int64_t block = check.call->intAttr("block", 1);
  return r.outcome(r.shapeIs(r.out(0),
                             {x.dim(0), tilesOf(x.dim(1), block), x.dim(2)},
                             "[B, tiles of T, D]"));
}

std::string checkAttentionBlockMask(const KernelCheck &check) {
  Rules r(check, {"query", "key"}, {"mask"});
  Operand q = r.in(0), k = r.in(1);
  if (!(r.floats() && r.rank(q, 4) && r.rank(k, 4) &&
        r.sameDim(q, 0, k, 0, "the batch") &&
        r.sameDim(q, 2, k, 2, "the sequence length") &&
        r.sameDim(q, 3, k, 3, "the head size") &&
        r.intAttr("block", 1, INT64_MAX, true) &&
        r.floatAttr("scale", FloatRange::Finite, true) &&
        r.floatAttr("threshold", FloatRange::BelowOne, true)))
    return r.problem();
  if (q.dim(1) % k.dim(1) != 0)
    return r.outcome(r.fail("the query heads of " + q.str() +
                            " are not a multiple of the key heads of " +
                            k.str()));
  int64_t tiles = tilesOf(q.dim(2), check.call->intAttr("block", 1));
  return r.outcome(r.shapeIs(r.out(0), {q.dim(0), q.dim(1), tiles, tiles},
                             "[B, H, query tiles, key tiles]"));
}

//===----------------------------------------------------------------------===//
// Optimizers.cpp
//===----------------------------------------------------------------------===//

std::string checkUpdate(const KernelCheck &check) {
  Rules r(check, {"grad"}, {"parameter", "first moment", "second moment"});
  if (!r.f32Only())
    return r.problem();
  for (const Operand &out : r.outs())
    if (!r.sameShape(out, r.in(0)))
      return r.problem();
  if (!r.category(r.out(0), Category::Param,
                  "an update writes its parameter in place"))
    return r.problem();
  for (size_t i = 1; i < r.numOuts(); ++i)
    if (!r.category(r.out(i), Category::OptimizerState,
                    "AdamW keeps its moments there"))
      return r.problem();
  return r.outcome(r.floatAttr("beta1", FloatRange::BelowOne) &&
                   r.floatAttr("beta2", FloatRange::BelowOne) &&
                   r.floatAttr("epsilon", FloatRange::Positive) &&
                   r.floatAttr("weight_decay", FloatRange::NonNegative));
}

} // namespace slapo::rt::checks
