//===- SchedOps.cpp - schedule primitives as transform ops ---------------===//

#include "sched/SchedOps.h"

#include "graph/GraphDialect.h"
#include "graph/GraphUtils.h"
#include "slapo/Schedule/PathPattern.h"

#include "mlir/Dialect/Transform/IR/TransformDialect.h"
#include "mlir/IR/DialectRegistry.h"

#define GET_OP_CLASSES
#include "sched/SchedOps.cpp.inc"

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
#include "sched/SchedOps.cpp.inc"
        >();
  }
};

/// The pattern of a primitive; the .sched parser has already checked it, so
/// a failure here means transform IR written by hand.
FailureOr<schedule::PathPattern> patternOf(Operation *op, StringRef text) {
  std::string error;
  size_t column = 0;
  std::optional<schedule::PathPattern> pattern =
      schedule::PathPattern::parse(text, error, column);
  if (!pattern) {
    op->emitError("bad path '") << text << "': " << error;
    return failure();
  }
  return *pattern;
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
  FailureOr<schedule::PathPattern> pattern = patternOf(op, text);
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

void readRootModifyPayload(OpOperand &root,
                           SmallVectorImpl<MemoryEffects::EffectInstance> &e) {
  transform::onlyReadsHandle(root, e);
  transform::modifiesPayload(e);
}

} // namespace

DiagnosedSilenceableFailure FreezeOp::apply(transform::TransformRewriter &,
                                            transform::TransformResults &,
                                            transform::TransformState &state) {
  return setTrainable(*this, getRoot(), getPath(), false, state);
}

void FreezeOp::getEffects(
    SmallVectorImpl<MemoryEffects::EffectInstance> &effects) {
  readRootModifyPayload(getRootMutable(), effects);
}

DiagnosedSilenceableFailure
UnfreezeOp::apply(transform::TransformRewriter &, transform::TransformResults &,
                  transform::TransformState &state) {
  return setTrainable(*this, getRoot(), getPath(), true, state);
}

void UnfreezeOp::getEffects(
    SmallVectorImpl<MemoryEffects::EffectInstance> &effects) {
  readRootModifyPayload(getRootMutable(), effects);
}

DiagnosedSilenceableFailure
CheckpointOp::apply(transform::TransformRewriter &,
                    transform::TransformResults &,
                    transform::TransformState &state) {
  FailureOr<schedule::PathPattern> pattern = patternOf(*this, getPath());
  if (failed(pattern))
    return DiagnosedSilenceableFailure::definiteFailure();
  SmallVector<graph::GraphModuleOp> selected;
  forEachModel(state, getRoot(), [&](graph::ModelOp model) {
    model.walk([&](graph::GraphModuleOp module) {
      if (pattern->matches(graph::getPath(module)))
        selected.push_back(module);
    });
  });
  if (selected.empty())
    return mlir::emitDefiniteFailure(*this, "path '")
           << getPath() << "' matches no module of the model";
  for (graph::GraphModuleOp module : selected) {
    // Nested checkpoints would recompute twice: refuse them.
    for (auto outer = module->getParentOfType<graph::GraphModuleOp>(); outer;
         outer = outer->getParentOfType<graph::GraphModuleOp>())
      if (outer->hasAttr("checkpoint"))
        return mlir::emitDefiniteFailure(*this, "module '")
               << graph::getPath(module) << "' is inside '"
               << graph::getPath(outer) << "', which is already checkpointed";
    WalkResult inner = module.getBody().walk([&](graph::GraphModuleOp child) {
      return child->hasAttr("checkpoint") ? WalkResult::interrupt()
                                          : WalkResult::advance();
    });
    if (inner.wasInterrupted())
      return mlir::emitDefiniteFailure(*this, "module '")
             << graph::getPath(module)
             << "' holds a module that is already checkpointed";
    module->setAttr("checkpoint", UnitAttr::get(getContext()));
  }
  return DiagnosedSilenceableFailure::success();
}

void CheckpointOp::getEffects(
    SmallVectorImpl<MemoryEffects::EffectInstance> &effects) {
  readRootModifyPayload(getRootMutable(), effects);
}

void slapo::sched::registerSchedExtension(DialectRegistry &registry) {
  registry.addExtensions<SchedExtension>();
}
