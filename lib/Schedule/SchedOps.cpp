//===- SchedOps.cpp - schedule primitives as transform ops ---------------===//
//
// Each primitive selects modules or parameters by path and applies a
// rewrite of lib/Transforms (Rewrites.h) or sets an attribute.
//
//===----------------------------------------------------------------------===//

#include "slapo/Schedule/SchedOps.h"
#include "slapo/Schedule/SchedulePath.h"

#include "graph/GraphDialect.h"
#include "graph/GraphUtils.h"
#include "graph/PathPattern.h"
#include "slapo/Transforms/Rewrites.h"

#include "mlir/Dialect/Transform/IR/TransformDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectRegistry.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>

#define GET_OP_CLASSES
#include "slapo/Schedule/SchedOps.cpp.inc"

using namespace mlir;
using namespace slapo;
using namespace slapo::sched;

namespace {

class SchedExtension
    : public transform::TransformDialectExtension<SchedExtension> {
public:
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(SchedExtension)
  using Base::Base;

  void init() {
    declareDependentDialect<graph::GraphDialect>();
    registerTransformOps<
#define GET_OP_LIST
#include "slapo/Schedule/SchedOps.cpp.inc"
        >();
  }
};

/// The pattern of a primitive; the .sched parser has already checked it, so
/// a failure here means transform IR written by hand.
FailureOr<graph::PathPattern> patternOf(Operation *op, StringRef text) {
  std::string error;
  size_t column = 0;
  std::optional<graph::PathPattern> pattern =
      sched::parseSchedulePath(text, error, column);
  if (!pattern) {
    emitError(op->getLoc(), "bad path '") << text << "': " << error;
    return failure();
  }
  return *pattern;
}

/// Where an earlier `OpTy` of the same sequence selected the module (or
/// parameter) at `path`, if one did.
template <typename OpTy>
std::optional<Location> earlierSelection(Operation *op, StringRef path) {
  std::optional<Location> found;
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    auto earlier = dyn_cast<OpTy>(prev);
    if (!earlier)
      continue;
    std::string error;
    size_t column = 0;
    std::optional<graph::PathPattern> pattern =
        sched::parseSchedulePath(earlier.getPath(), error, column);
    if (pattern && pattern->matches(path))
      found = earlier.getLoc(); // the first one is the one that applied
  }
  return found;
}

/// " (line N)" naming the line of `earlier`, " (file:N)" when it is in
/// another file than `here`, "" when it has no line.
std::string lineOf(std::optional<Location> earlier, Location here) {
  auto line = earlier ? dyn_cast<FileLineColLoc>(*earlier) : FileLineColLoc();
  if (!line)
    return "";
  auto current = dyn_cast<FileLineColLoc>(here);
  if (current && current.getFilename() == line.getFilename())
    return (" (line " + Twine(line.getLine()) + ")").str();
  return (" (" + line.getFilename().getValue() + ":" + Twine(line.getLine()) +
          ")")
      .str();
}

/// Runs `body` on every graph.model under the payload ops of `root`.
template <typename Body>
void forEachModel(transform::TransformState &state, Value root, Body body) {
  for (Operation *payload : state.getPayloadOps(root))
    payload->walk([&](graph::ModelOp model) { body(model); });
}

/// Sets the trainable flag of every parameter whose path matches, or that
/// lies in a module whose path matches.
DiagnosedSilenceableFailure setTrainable(Operation *op, Value root,
                                         StringRef text, bool trainable,
                                         transform::TransformState &state) {
  FailureOr<graph::PathPattern> pattern = patternOf(op, text);
  if (failed(pattern))
    return DiagnosedSilenceableFailure::definiteFailure();
  int64_t matched = 0, modules = 0;
  forEachModel(state, root, [&](graph::ModelOp model) {
    model.walk([&](graph::GraphModuleOp module) {
      modules += pattern->matches(graph::getPath(module));
    });
    model.walk([&](graph::ParamOp param) {
      bool selected = pattern->matches(graph::getPath(param));
      for (auto module = param->getParentOfType<graph::GraphModuleOp>();
           module && !selected;
           module = module->getParentOfType<graph::GraphModuleOp>())
        selected = pattern->matches(graph::getPath(module));
      if (!selected)
        return;
      param.setTrainable(trainable);
      ++matched;
    });
  });
  if (matched == 0 && modules > 0)
    return emitDefiniteFailure(op, "path '")
           << text << "' matches modules that own no parameters (tied "
           << "weights belong to the module that defines them)";
  if (matched == 0)
    return emitDefiniteFailure(op, "path '")
           << text << "' matches no parameter or module of the model";
  return DiagnosedSilenceableFailure::success();
}

/// The modules whose paths match `text`; an error (and failure) if none.
FailureOr<SmallVector<graph::GraphModuleOp>>
selectModules(Operation *op, Value root, StringRef text,
              transform::TransformState &state) {
  FailureOr<graph::PathPattern> pattern = patternOf(op, text);
  if (failed(pattern))
    return failure();
  SmallVector<graph::GraphModuleOp> selected;
  forEachModel(state, root, [&](graph::ModelOp model) {
    model.walk([&](graph::GraphModuleOp module) {
      if (pattern->matches(graph::getPath(module)))
        selected.push_back(module);
    });
  });
  if (selected.empty())
    return emitError(op->getLoc(), "path '")
           << text << "' matches no module of the model";
  return selected;
}

/// Runs `edit` on every module whose path matches `text`, stopping at the
/// first failure (which `edit` has reported).
DiagnosedSilenceableFailure
editModules(Operation *op, Value root, StringRef text,
            transform::TransformState &state,
            function_ref<LogicalResult(graph::GraphModuleOp)> edit) {
  FailureOr<SmallVector<graph::GraphModuleOp>> matched =
      selectModules(op, root, text, state);
  if (failed(matched))
    return DiagnosedSilenceableFailure::definiteFailure();
  for (graph::GraphModuleOp module : *matched)
    if (failed(edit(module)))
      return DiagnosedSilenceableFailure::definiteFailure();
  return DiagnosedSilenceableFailure::success();
}

} // namespace

DiagnosedSilenceableFailure FreezeOp::apply(transform::TransformRewriter &,
                                            transform::TransformResults &,
                                            transform::TransformState &state) {
  return setTrainable(*this, getRoot(), getPath(), false, state);
}

DiagnosedSilenceableFailure
UnfreezeOp::apply(transform::TransformRewriter &, transform::TransformResults &,
                  transform::TransformState &state) {
  return setTrainable(*this, getRoot(), getPath(), true, state);
}

DiagnosedSilenceableFailure
CheckpointOp::apply(transform::TransformRewriter &,
                    transform::TransformResults &,
                    transform::TransformState &state) {
  return editModules(
      *this, getRoot(), getPath(), state,
      [&](graph::GraphModuleOp module) -> LogicalResult {
        // A second checkpoint of the same module says nothing new and is
        // most likely a mistake in the schedule: refuse it.
        if (module->hasAttr("checkpoint"))
          return mlir::emitDefiniteFailure(*this, "module '")
                 << graph::getPath(module) << "' is already checkpointed"
                 << lineOf(earlierSelection<CheckpointOp>(
                               *this, graph::getPath(module)),
                           getLoc());
        // Nested checkpoints would recompute twice: refuse them.
        for (auto outer = module->getParentOfType<graph::GraphModuleOp>();
             outer; outer = outer->getParentOfType<graph::GraphModuleOp>())
          if (outer->hasAttr("checkpoint"))
            return mlir::emitDefiniteFailure(*this, "module '")
                   << graph::getPath(module) << "' is inside '"
                   << graph::getPath(outer)
                   << "', which is already checkpointed";
        WalkResult inner =
            module.getBody().walk([&](graph::GraphModuleOp child) {
              return child->hasAttr("checkpoint") ? WalkResult::interrupt()
                                                  : WalkResult::advance();
            });
        if (inner.wasInterrupted())
          return mlir::emitDefiniteFailure(*this, "module '")
                 << graph::getPath(module)
                 << "' holds a module that is already checkpointed";
        module->setAttr("checkpoint", UnitAttr::get(getContext()));
        return success();
      });
}

DiagnosedSilenceableFailure LoraOp::apply(transform::TransformRewriter &,
                                          transform::TransformResults &,
                                          transform::TransformState &state) {
  // The .sched parser checks these; transform IR written by hand may not.
  double alpha = getAlpha().convertToDouble(),
         dropout = getDropout().convertToDouble();
  if (int64_t(getRank()) <= 0 || !std::isfinite(alpha) || !(alpha > 0.0) ||
      !(dropout >= 0.0 && dropout < 1.0))
    return mlir::emitDefiniteFailure(*this,
                                     "lora needs rank > 0, a finite alpha "
                                     "> 0 and dropout in [0, 1), got rank=")
           << int64_t(getRank()) << " alpha=" << alpha
           << " dropout=" << dropout;
  return editModules(*this, getRoot(), getPath(), state,
                     [&](graph::GraphModuleOp module) -> LogicalResult {
                       return graph::insertLoraAdapter(
                           module,
                           {int64_t(getRank()), getAlpha().convertToDouble(),
                            getDropout().convertToDouble()},
                           getLoc());
                     });
}

DiagnosedSilenceableFailure
DecomposeOp::apply(transform::TransformRewriter &,
                   transform::TransformResults &,
                   transform::TransformState &state) {
  return editModules(*this, getRoot(), getPath(), state,
                     [&](graph::GraphModuleOp module) -> LogicalResult {
                       // decomposeLinearBias leaves a bias already out as
                       // it is (a sync may have taken it out); a second
                       // decompose of the module is refused.
                       std::string path = graph::getPath(module);
                       if (std::optional<Location> earlier =
                               earlierSelection<DecomposeOp>(*this, path))
                         return mlir::emitDefiniteFailure(*this, "module '")
                                << path << "' is already decomposed"
                                << lineOf(earlier, getLoc());
                       return graph::decomposeLinearBias(module, getLoc());
                     });
}

DiagnosedSilenceableFailure FuseOp::apply(transform::TransformRewriter &,
                                          transform::TransformResults &,
                                          transform::TransformState &state) {
  Builder b(getContext());
  return editModules(
      *this, getRoot(), getPath(), state,
      [&](graph::GraphModuleOp module) -> LogicalResult {
        auto model = module->getParentOfType<graph::ModelOp>();
        SmallVector<Attribute> fusions;
        if (auto earlier = model->getAttrOfType<ArrayAttr>("fusions"))
          fusions.assign(earlier.begin(), earlier.end());
        std::string path = graph::getPath(module);
        for (Attribute fusion : fusions) {
          auto entry = cast<DictionaryAttr>(fusion);
          if (entry.getAs<StringAttr>("pattern") == getPatternAttr() &&
              entry.getAs<StringAttr>("path").getValue() == path)
            return mlir::emitDefiniteFailure(*this, "module '")
                   << path << "' is already fused with " << getPattern();
        }
        fusions.push_back(b.getDictionaryAttr({
            b.getNamedAttr("pattern", getPatternAttr()),
            b.getNamedAttr("path", b.getStringAttr(path)),
            b.getNamedAttr("at", getLoc()),
        }));
        model->setAttr("fusions", b.getArrayAttr(fusions));
        return success();
      });
}

DiagnosedSilenceableFailure ReplaceOp::apply(transform::TransformRewriter &,
                                             transform::TransformResults &,
                                             transform::TransformState &state) {
  bool decompose = getAttention() == "decomposed";
  return editModules(
      *this, getRoot(), getPath(), state,
      [&](graph::GraphModuleOp module) -> LogicalResult {
        int64_t replaced = 0;
        if (decompose) {
          SmallVector<graph::AttentionOp> attentions;
          module.walk([&](graph::AttentionOp op) { attentions.push_back(op); });
          for (graph::AttentionOp attention : attentions) {
            if (failed(graph::decomposeAttention(attention, getLoc())))
              return failure();
            ++replaced;
          }
        } else {
          // A fused chain erases its scores matmul too, so the walk
          // starts again after each fusion rather than visiting an op it
          // collected before (found by ASan: a use after free).
          for (bool fused = true; fused;) {
            fused = false;
            module.walk([&](graph::MatmulOp op) {
              if (!graph::fuseAttention(op))
                return WalkResult::advance();
              fused = true;
              ++replaced;
              return WalkResult::interrupt();
            });
          }
        }
        if (replaced == 0)
          return mlir::emitDefiniteFailure(*this, "module '")
                 << graph::getPath(module) << "' has no "
                 << (decompose
                         ? "fused attention (graph.attention)"
                         : "decomposed attention (matmul, scale, softmax, "
                           "matmul)")
                 << " to replace";
        return success();
      });
}

DiagnosedSilenceableFailure
SparsifyOp::apply(transform::TransformRewriter &, transform::TransformResults &,
                  transform::TransformState &state) {
  graph::SparsifyConfig config;
  config.block = int64_t(getBlock());
  config.rows = int64_t(getRows());
  config.predictor = getPredictor().str();
  config.threshold = getThreshold().convertToDouble();
  config.rank = int64_t(getRank());
  config.live = getLive().convertToDouble();
  return editModules(
      *this, getRoot(), getPath(), state,
      [&](graph::GraphModuleOp module) -> LogicalResult {
        std::string path = graph::getPath(module);
        if (std::optional<Location> earlier =
                earlierSelection<SparsifyOp>(*this, path))
          return mlir::emitDefiniteFailure(*this, "module '")
                 << path << "' is already sparsified"
                 << lineOf(earlier, getLoc());
        return graph::holdsAttention(module)
                   ? graph::sparsifyAttention(module, config, getLoc())
                   : graph::sparsifyMlp(module, config, getLoc());
      });
}

DiagnosedSilenceableFailure ShardOp::apply(transform::TransformRewriter &,
                                           transform::TransformResults &,
                                           transform::TransformState &state) {
  FailureOr<graph::PathPattern> pattern = patternOf(*this, getPath());
  if (failed(pattern))
    return DiagnosedSilenceableFailure::definiteFailure();
  int64_t axis = getAxisAttr().getInt(), parts = getPartsAttr().getInt();
  SmallVector<graph::ParamOp> params;
  bool modules = false;
  forEachModel(state, getRoot(), [&](graph::ModelOp model) {
    model.walk([&](graph::ParamOp param) {
      if (pattern->matches(graph::getPath(param)))
        params.push_back(param);
    });
    model.walk([&](graph::GraphModuleOp module) {
      modules |= pattern->matches(graph::getPath(module));
    });
  });
  if (params.empty())
    return mlir::emitDefiniteFailure(*this, "path '")
           << getPath() << "' matches no parameter of the model"
           << (modules ? " (shard takes parameters, like "
                         "'<module>.weight', not modules)"
                       : "");
  Builder b(getContext());
  for (graph::ParamOp param : params) {
    auto type = cast<RankedTensorType>(param.getType());
    std::string path = graph::getPath(param);
    if (axis >= type.getRank())
      return mlir::emitDefiniteFailure(*this, "axis ")
             << axis << " is out of range for '" << path << "' of rank "
             << type.getRank();
    if (type.getDimSize(axis) % parts != 0)
      return mlir::emitDefiniteFailure(*this, "axis ")
             << axis << " of '" << path << "' (" << type.getDimSize(axis)
             << ") does not split into " << parts << " parts";
    if (auto earlier = param->getAttrOfType<DictionaryAttr>("shard")) {
      InFlightDiagnostic diag = mlir::emitError(getLoc())
                                << "'" << path << "' is already sharded";
      if (auto at = earlier.getAs<LocationAttr>("at"))
        diag.attachNote(at) << "by this shard";
      return DiagnosedSilenceableFailure::definiteFailure();
    }
    param->setAttr("shard",
                   b.getDictionaryAttr({
                       b.getNamedAttr("axis", b.getI64IntegerAttr(axis)),
                       b.getNamedAttr("parts", b.getI64IntegerAttr(parts)),
                       b.getNamedAttr("at", getLoc()),
                   }));
  }
  return DiagnosedSilenceableFailure::success();
}

DiagnosedSilenceableFailure SyncOp::apply(transform::TransformRewriter &,
                                          transform::TransformResults &,
                                          transform::TransformState &state) {
  return editModules(
      *this, getRoot(), getPath(), state, [&](graph::GraphModuleOp module) {
        return graph::insertSync(module, getForwardAttr(), getBackwardAttr(),
                                 getAtOutput(), getLoc());
      });
}

std::optional<graph::PathPattern>
slapo::sched::parseSchedulePath(StringRef text, std::string &error,
                                size_t &column) {
  // Count the members of each {...} before PathPattern expands them.
  for (size_t open = text.find('{'); open != StringRef::npos;
       open = text.find('{', open + 1)) {
    size_t close = text.find('}', open);
    if (close == StringRef::npos)
      break; // PathPattern reports it
    StringRef body = text.slice(open + 1, close);
    SmallVector<StringRef> items;
    body.split(items, ',');
    uint64_t members = 0;
    for (StringRef item : items) {
      auto [low, high] = item.split("..");
      uint64_t first = 0, last = 0;
      uint64_t count = 1;
      if (item.contains("..") && !low.trim().getAsInteger(10, first) &&
          !high.trim().getAsInteger(10, last) && last >= first)
        count = last - first == UINT64_MAX ? UINT64_MAX : last - first + 1;
      members = count > UINT64_MAX - members ? UINT64_MAX : members + count;
    }
    if (members > kMaxSetMembers) {
      column = open;
      error =
          ("'{" + body + "}' has " + Twine(members) +
           " members; a set or range may have at most " + Twine(kMaxSetMembers))
              .str();
      return std::nullopt;
    }
    open = close;
  }
  std::optional<graph::PathPattern> pattern =
      graph::PathPattern::parse(text, error, column);
  if (!pattern)
    return std::nullopt;
  // `**.**` matches what `**` matches: keep one of each run.
  SmallVector<StringRef> segments;
  size_t start = 0;
  bool inBraces = false;
  for (size_t pos = 0; pos <= text.size(); ++pos) {
    if (pos < text.size() && text[pos] == '{')
      inBraces = true;
    else if (pos < text.size() && text[pos] == '}')
      inBraces = false;
    else if (pos == text.size() || (text[pos] == '.' && !inBraces)) {
      StringRef segment = text.slice(start, pos);
      if (!(segment == "**" && !segments.empty() && segments.back() == "**"))
        segments.push_back(segment);
      start = pos + 1;
    }
  }
  std::string collapsed = llvm::join(segments, ".");
  if (collapsed == text)
    return pattern;
  return graph::PathPattern::parse(collapsed, error, column);
}

void slapo::sched::registerSchedExtension(DialectRegistry &registry) {
  registry.addExtensions<SchedExtension>();
}
