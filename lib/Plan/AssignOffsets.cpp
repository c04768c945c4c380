//===- AssignOffsets.cpp - the static memory plan ------------------------===//
//
// One arena per device, laid out as
//   [ resident: inputs, params, grads, optimizer state | activations |
//   workspace ]
// Activations are placed by liveness over the kernel order: a tensor lives
// from the call that writes it to the last call that reads it (views keep
// their source alive), and tensors whose lifetimes do not overlap may share
// bytes. Placement is greedy, largest first, at the lowest free offset.
//
//===----------------------------------------------------------------------===//

#include "slapo/Plan/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

#include <algorithm>

namespace slapo {
#define GEN_PASS_DEF_PLANASSIGNOFFSETS
#include "slapo/Plan/Passes.h.inc"
} // namespace slapo

using namespace mlir;
using namespace slapo::plan;

namespace {

constexpr int64_t kAlignment = 64;

int64_t alignUp(int64_t bytes) {
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

int64_t byteSize(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  return tensor.getNumElements() * ((tensor.getElementTypeBitWidth() + 7) / 8);
}

/// The tensor a value's storage belongs to (through views).
TensorOp storageOf(Value value) {
  while (auto view = value.getDefiningOp<ViewOp>())
    value = view.getSource();
  return value.getDefiningOp<TensorOp>();
}

/// Scratch a kernel needs: attention keeps one [T, S] probability matrix
/// per (batch, head).
int64_t workspaceOf(CallOp call) {
  StringRef kernel = call.getKernel();
  if (kernel != "attention" && kernel != "attention_grad")
    return 0;
  auto q = cast<RankedTensorType>(call.getIns()[0].getType());
  auto k = cast<RankedTensorType>(call.getIns()[1].getType());
  int64_t probs = q.getDimSize(0) * q.getDimSize(1) * q.getDimSize(2) *
                  k.getDimSize(2) * int64_t(sizeof(float));
  // The backward pass also keeps the gradient of the probabilities.
  return kernel == "attention_grad" ? 2 * probs : probs;
}

struct Interval {
  TensorOp tensor;
  int64_t bytes;
  int64_t first, last;
  int64_t offset = -1;
};

void assignOffsets(ProgramOp program) {
  Block &body = program.getBody().front();
  Builder b(program.getContext());

  // Lifetimes of activations, in kernel-call order.
  llvm::DenseMap<Operation *, unsigned> intervalOf;
  std::vector<Interval> intervals;
  int64_t workspace = 0;
  int64_t index = 0;
  for (Operation &op : body) {
    auto call = dyn_cast<CallOp>(op);
    // The marks of results read after the step: their tensors live to
    // the end.
    if (!call && !isa<LossOp, PredictorStatsOp>(op))
      continue;
    ++index;
    if (call) {
      int64_t need = workspaceOf(call);
      workspace = std::max(workspace, need);
      // The .splan records each call's share of the workspace region.
      if (need > 0)
        call->setAttr("workspace_bytes", b.getI64IntegerAttr(need));
    }
    for (Value value : op.getOperands()) {
      TensorOp tensor = storageOf(value);
      if (!tensor || tensor.getCategory() != MemoryCategory::Activation)
        continue;
      auto [it, inserted] = intervalOf.try_emplace(tensor, intervals.size());
      if (inserted)
        intervals.push_back(
            {tensor, alignUp(byteSize(tensor.getType())), index, index});
      intervals[it->second].last = index;
    }
  }

  // Resident tensors first, in program order.
  int64_t offset = 0;
  // Bytes per category (MemoryCategory's values index it).
  int64_t totals[getMaxEnumValForMemoryCategory() + 1] = {};
  auto total = [&](MemoryCategory category) {
    return totals[static_cast<unsigned>(category)];
  };
  for (TensorOp tensor : body.getOps<TensorOp>()) {
    MemoryCategory category = tensor.getCategory();
    int64_t bytes = alignUp(byteSize(tensor.getType()));
    totals[static_cast<unsigned>(category)] += bytes;
    if (category == MemoryCategory::Activation)
      continue;
    tensor.setOffsetAttr(b.getI64IntegerAttr(offset));
    offset += bytes;
  }
  int64_t resident = offset;

  // Activations: largest first, at the lowest offset free for its lifetime.
  std::vector<Interval *> order;
  for (Interval &interval : intervals)
    order.push_back(&interval);
  std::stable_sort(order.begin(), order.end(), [](Interval *a, Interval *c) {
    return a->bytes > c->bytes;
  });
  std::vector<Interval *> placed;
  int64_t activationBytes = 0;
  for (Interval *interval : order) {
    // Busy address ranges among tensors alive at the same time.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (Interval *other : placed)
      if (other->first <= interval->last && interval->first <= other->last)
        busy.push_back({other->offset, other->offset + other->bytes});
    std::sort(busy.begin(), busy.end());
    int64_t candidate = 0;
    for (auto [begin, end] : busy) {
      if (candidate + interval->bytes <= begin)
        break;
      candidate = std::max(candidate, end);
    }
    interval->offset = candidate;
    placed.push_back(interval);
    activationBytes = std::max(activationBytes, candidate + interval->bytes);
  }
  for (Interval &interval : intervals)
    interval.tensor.setOffsetAttr(
        b.getI64IntegerAttr(resident + interval.offset));
  // Activations nobody reads (never the case after lowering) still need room.
  for (TensorOp tensor : body.getOps<TensorOp>())
    if (tensor.getOffsetAttr().getInt() < 0) {
      tensor.setOffsetAttr(b.getI64IntegerAttr(resident + activationBytes));
      activationBytes += alignUp(byteSize(tensor.getType()));
    }

  workspace = alignUp(workspace);
  int64_t arena = resident + activationBytes + workspace;
  // Every update's gradient once, back to back (Memory.accumulator).
  int64_t accumulator = 0;
  for (CallOp call : body.getOps<CallOp>())
    if (call.getKernel() == "sgd_update" || call.getKernel() == "adamw_update")
      accumulator += byteSize(call.getIns()[0].getType());
  program->setAttr("arena_bytes", b.getI64IntegerAttr(arena));
  program->setAttr(
      "memory",
      b.getDictionaryAttr({
          b.getNamedAttr("params",
                         b.getI64IntegerAttr(total(MemoryCategory::Param))),
          b.getNamedAttr("grads",
                         b.getI64IntegerAttr(total(MemoryCategory::Grad))),
          b.getNamedAttr("optimizer", b.getI64IntegerAttr(total(
                                          MemoryCategory::OptimizerState))),
          // The step's inputs are counted with the activations.
          b.getNamedAttr("activations",
                         b.getI64IntegerAttr(activationBytes +
                                             total(MemoryCategory::Input))),
          b.getNamedAttr("workspace", b.getI64IntegerAttr(workspace)),
          b.getNamedAttr("peak", b.getI64IntegerAttr(arena)),
          b.getNamedAttr("accumulator", b.getI64IntegerAttr(accumulator)),
      }));
}

struct PlanAssignOffsetsPass
    : public slapo::impl::PlanAssignOffsetsBase<PlanAssignOffsetsPass> {
  void runOnOperation() override {
    for (ProgramOp program : getOperation().getOps<ProgramOp>())
      assignOffsets(program);
  }
};

} // namespace
