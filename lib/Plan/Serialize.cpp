//===- Serialize.cpp - plan.program to a .splan FlatBuffer ----------------===//

#include "graph/GraphDialect.h"
#include "plan/PlanDialect.h"
#include "slapo/Plan/Compile.h"
#include "slapo/Plan/SplanChecksum.h"
#include "slapo/Plan/SplanVersion.h"
#include "slapo/Plan/splan_generated.h"

#include "llvm/ADT/DenseMap.h"

#include <optional>

using namespace mlir;
namespace fb = slapo::splan;

namespace slapo {

namespace {

/// The scratch bytes plan-assign-offsets reserved for a call.
constexpr llvm::StringLiteral kWorkspaceAttr = "workspace_bytes";

/// The .splan dtype of a tensor type, if the runtime executes it: f32, bf16
/// and i64 today (the format also names f16, i32, i8 and u8, for the
/// kernels to come; a plan the runtime would refuse is never written).
std::optional<fb::DType> dtypeOf(Type type) {
  Type element = cast<RankedTensorType>(type).getElementType();
  if (element.isF32())
    return fb::DType::F32;
  if (element.isBF16())
    return fb::DType::BF16;
  if (element.isInteger(64))
    return fb::DType::I64;
  return std::nullopt;
}

// The .splan's categories are the plan dialect's, value for value.
#define SLAPO_SAME_CATEGORY(name)                                              \
  static_assert(static_cast<int>(plan::MemoryCategory::name) ==                \
                static_cast<int>(fb::Category::name))
SLAPO_SAME_CATEGORY(Input);
SLAPO_SAME_CATEGORY(Param);
SLAPO_SAME_CATEGORY(Grad);
SLAPO_SAME_CATEGORY(OptimizerState);
SLAPO_SAME_CATEGORY(Activation);
SLAPO_SAME_CATEGORY(Workspace);
#undef SLAPO_SAME_CATEGORY
static_assert(plan::getMaxEnumValForMemoryCategory() ==
              static_cast<int>(fb::Category::MAX));

fb::Category categoryOf(plan::MemoryCategory category) {
  return static_cast<fb::Category>(category);
}

int64_t intAttr(Operation *op, StringRef key) {
  auto attr = op->getAttrOfType<IntegerAttr>(key);
  return attr ? attr.getInt() : 0;
}

double floatAttr(Operation *op, StringRef key) {
  auto attr = op->getAttrOfType<FloatAttr>(key);
  return attr ? attr.getValueAsDouble() : 0.0;
}

class Writer {
public:
  LogicalResult write(plan::ProgramOp program, raw_ostream &os) {
    Block &body = program.getBody().front();
    std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
    std::vector<flatbuffers::Offset<fb::Param>> params;
    std::vector<flatbuffers::Offset<fb::Kernel>> kernels;
    int32_t loss = -1, predictorStats = -1;

    for (Operation &op : body) {
      if (auto tensor = dyn_cast<plan::TensorOp>(op)) {
        if (tensor.getOffsetAttr().getInt() < 0)
          return tensor.emitOpError("has no offset: run plan-assign-offsets");
        FailureOr<int32_t> index =
            addTensor(tensors, tensor, tensor.getResult(), tensor.getName());
        if (failed(index))
          return failure();
        if (tensor.getCategory() == plan::MemoryCategory::Param)
          params.push_back(paramEntry(tensor, *index));
      } else if (auto view = dyn_cast<plan::ViewOp>(op)) {
        // A view is another tensor entry over the same bytes: those of the
        // tensor at the root of a chain of views.
        auto found = tensors_.find(view.getSource());
        if (found == tensors_.end())
          return view.emitOpError("views a value that is no plan tensor");
        plan::TensorOp storage = found->second.storage;
        std::string name = (storage.getName() + "/view").str();
        unsigned count = ++viewCounts[storage];
        if (count > 1)
          name += std::to_string(count);
        if (failed(addTensor(tensors, storage, view.getResult(), name)))
          return failure();
      } else if (auto call = dyn_cast<plan::CallOp>(op)) {
        FailureOr<flatbuffers::Offset<fb::Kernel>> kernel = kernelEntry(call);
        if (failed(kernel))
          return failure();
        kernels.push_back(*kernel);
        std::vector<int32_t> &outs = kernelOutputs.emplace_back();
        for (Value out : call.getOuts())
          outs.push_back(tensors_.find(out)->second.index);
      } else if (auto lossOp = dyn_cast<plan::LossOp>(op)) {
        auto found = tensors_.find(lossOp.getValue());
        if (found == tensors_.end())
          return lossOp.emitOpError("marks a value that is no plan tensor");
        loss = found->second.index;
      } else if (auto stats = dyn_cast<plan::PredictorStatsOp>(op)) {
        auto found = tensors_.find(stats.getValue());
        if (found == tensors_.end())
          return stats.emitOpError("marks a value that is no plan tensor");
        predictorStats = found->second.index;
      }
    }
    if (loss < 0)
      return program.emitOpError("has no plan.loss");

    auto memoryAttr = program->getAttrOfType<DictionaryAttr>("memory");
    auto memoryValue = [&](StringRef key) -> uint64_t {
      auto value = memoryAttr ? memoryAttr.getAs<IntegerAttr>(key) : nullptr;
      return value ? value.getInt() : 0;
    };
    auto memory =
        fb::CreateMemory(builder, memoryValue("params"), memoryValue("grads"),
                         memoryValue("optimizer"), memoryValue("activations"),
                         memoryValue("workspace"), memoryValue("peak"),
                         memoryValue("accumulator"));
    auto stringAttr = [&](StringRef key) {
      auto attr = program->getAttrOfType<StringAttr>(key);
      return builder.CreateString(attr ? attr.getValue().str() : "");
    };
    auto modelType = stringAttr("model_type");
    auto hfConfig = stringAttr("hf_config");
    auto optimizer = stringAttr("optimizer");
    std::vector<flatbuffers::Offset<fb::Adapter>> adapters;
    if (auto list = program->getAttrOfType<ArrayAttr>("lora_adapters"))
      for (auto adapter : list.getAsRange<DictionaryAttr>())
        adapters.push_back(fb::CreateAdapter(
            builder,
            builder.CreateString(
                adapter.getAs<StringAttr>("path").getValue().str()),
            adapter.getAs<IntegerAttr>("rank").getInt(),
            adapter.getAs<FloatAttr>("alpha").getValueAsDouble(),
            adapter.getAs<FloatAttr>("dropout").getValueAsDouble(),
            adapter.getAs<BoolAttr>("fan_in_fan_out").getValue()));
    auto adapterVector = builder.CreateVector(adapters);
    // The whole training step, and its forward prefix up to the last
    // kernel that writes the loss: the evaluation step (run with dropout
    // off). The kernels before that one compute what the loss needs, in
    // the step's own order and memory, so the prefix is a program too.
    uint32_t evalCount = 0;
    for (size_t k = 0; k < kernelOutputs.size(); ++k)
      if (llvm::is_contained(kernelOutputs[k], loss))
        evalCount = uint32_t(k + 1);
    if (evalCount == 0)
      return program.emitOpError("has no kernel that computes its plan.loss");
    auto entries = builder.CreateVector(
        std::vector{fb::CreateEntry(builder, builder.CreateString("train_step"),
                                    0, uint32_t(kernels.size())),
                    fb::CreateEntry(builder, builder.CreateString("eval_step"),
                                    0, evalCount)});
    auto tensorVector = builder.CreateVector(tensors);
    auto paramVector = builder.CreateVector(params);
    auto kernelVector = builder.CreateVector(kernels);
    Operation *p = program;
    fb::PlanBuilder plan(builder);
    plan.add_version(kSplanVersion);
    plan.add_model_type(modelType);
    plan.add_world_size(1);
    plan.add_tp(p->hasAttr("tp") ? int32_t(intAttr(p, "tp")) : 1);
    plan.add_batch(intAttr(p, "batch"));
    plan.add_seq(intAttr(p, "seq"));
    plan.add_vocab_size(intAttr(p, "vocab_size"));
    plan.add_max_positions(intAttr(p, "max_positions"));
    plan.add_optimizer(optimizer);
    plan.add_beta1(floatAttr(p, "beta1"));
    plan.add_beta2(floatAttr(p, "beta2"));
    plan.add_epsilon(floatAttr(p, "epsilon"));
    plan.add_weight_decay(floatAttr(p, "weight_decay"));
    plan.add_tensors(tensorVector);
    plan.add_params(paramVector);
    plan.add_kernels(kernelVector);
    plan.add_input_ids(0);
    plan.add_targets(1);
    plan.add_loss(loss);
    plan.add_predictor_stats(predictorStats);
    plan.add_arena_bytes(intAttr(p, "arena_bytes"));
    plan.add_memory(memory);
    plan.add_adapters(adapterVector);
    plan.add_hf_config(hfConfig);
    plan.add_entries(entries);
    fb::FinishPlanBuffer(builder, plan.Finish());
    const uint8_t *bytes = builder.GetBufferPointer();
    os.write(reinterpret_cast<const char *>(bytes), builder.GetSize());
    auto trailer = splanChecksumTrailer(bytes, builder.GetSize());
    os.write(reinterpret_cast<const char *>(trailer.data()), trailer.size());
    return success();
  }

private:
  struct Entry {
    plan::TensorOp storage; // the tensor whose bytes these are
    int32_t index;
  };

  /// Adds the tensor entry of `value`, whose bytes are `storage`'s.
  FailureOr<int32_t>
  addTensor(std::vector<flatbuffers::Offset<fb::Tensor>> &tensors,
            plan::TensorOp storage, Value value, StringRef name) {
    auto type = cast<RankedTensorType>(value.getType());
    std::optional<fb::DType> dtype = dtypeOf(type);
    if (!dtype)
      return storage.emitOpError("has element type ")
             << type.getElementType()
             << ", which slapo-run cannot execute yet (f32, bf16 and i64 "
                "tensors only): compile with --precision bf16 or fp32";
    plan::MemoryCategory category = storage.getCategory();
    if (*dtype == fb::DType::BF16 &&
        (category == plan::MemoryCategory::Param ||
         category == plan::MemoryCategory::Grad ||
         category == plan::MemoryCategory::OptimizerState))
      return storage.emitOpError("'")
             << storage.getName() << "' ("
             << plan::stringifyMemoryCategory(category)
             << ") is bf16, but parameters, their gradients and optimizer "
                "state are f32 master copies: keep the model f32 and "
                "compile with --precision bf16";
    int64_t bytes =
        type.getNumElements() * ((type.getElementTypeBitWidth() + 7) / 8);
    auto nameOffset = builder.CreateString(name.str());
    auto shape = builder.CreateVector(type.getShape().vec());
    int32_t index = tensors.size();
    tensors.push_back(fb::CreateTensor(
        builder, nameOffset, *dtype, shape, categoryOf(storage.getCategory()),
        storage.getOffsetAttr().getInt(), bytes));
    tensors_[value] = {storage, index};
    return index;
  }

  flatbuffers::Offset<fb::Param> paramEntry(plan::TensorOp tensor,
                                            int32_t index) {
    auto init = cast<graph::InitAttr>(tensor.getInitAttr());
    fb::Init kind = fb::Init::Normal;
    switch (init.getKind()) {
    case graph::InitKind::zeros:
      kind = fb::Init::Zeros;
      break;
    case graph::InitKind::ones:
      kind = fb::Init::Ones;
      break;
    case graph::InitKind::normal:
      kind = fb::Init::Normal;
      break;
    case graph::InitKind::uniform:
      kind = fb::Init::Uniform;
      break;
    }
    int32_t shardAxis = -1, shardParts = 1;
    int64_t shardSize = 0;
    if (auto shard = tensor->getAttrOfType<DictionaryAttr>("shard")) {
      shardAxis = int32_t(shard.getAs<IntegerAttr>("axis").getInt());
      shardParts = int32_t(shard.getAs<IntegerAttr>("parts").getInt());
      if (auto size = shard.getAs<IntegerAttr>("size"))
        shardSize = size.getInt();
    }
    auto text = [&](StringRef key) {
      auto attr = tensor->getAttrOfType<StringAttr>(key);
      return builder.CreateString(attr ? attr.getValue().str() : "");
    };
    auto addedBy = text("added_by"), initFile = text("init_file");
    return fb::CreateParam(
        builder, builder.CreateString(tensor.getName().str()), index, kind,
        init.getStd().convertToDouble(), tensor.getTrainableAttr().getValue(),
        shardAxis, shardParts, shardSize, addedBy, initFile);
  }

  FailureOr<flatbuffers::Offset<fb::Kernel>> kernelEntry(plan::CallOp call) {
    std::vector<int32_t> ins, outs;
    for (auto [values, indices] :
         {std::pair{call.getIns(), &ins}, std::pair{call.getOuts(), &outs}})
      for (Value value : values) {
        auto found = tensors_.find(value);
        if (found == tensors_.end())
          return call.emitOpError("uses a value that is no plan tensor");
        indices->push_back(found->second.index);
      }
    std::vector<flatbuffers::Offset<fb::Attr>> attrs;
    for (NamedAttribute named : call->getAttrs()) {
      StringRef key = named.getName().getValue();
      if (key == "kernel" || key == "operandSegmentSizes" ||
          key == kWorkspaceAttr)
        continue;
      auto keyOffset = builder.CreateString(key.str());
      Attribute value = named.getValue();
      // Kernels read flags by presence: a false flag is left out, a true
      // one is 1 (a BoolAttr is also an IntegerAttr of i1, whose true is
      // -1 sign-extended, so it is matched first).
      if (auto b = dyn_cast<BoolAttr>(value)) {
        if (b.getValue())
          attrs.push_back(
              fb::CreateAttr(builder, keyOffset, fb::AttrKind::Int, 1));
      } else if (auto i = dyn_cast<IntegerAttr>(value))
        attrs.push_back(fb::CreateAttr(builder, keyOffset, fb::AttrKind::Int,
                                       i.getValue().getSExtValue()));
      else if (isa<UnitAttr>(value))
        attrs.push_back(
            fb::CreateAttr(builder, keyOffset, fb::AttrKind::Int, 1));
      else if (auto f = dyn_cast<FloatAttr>(value))
        attrs.push_back(fb::CreateAttr(builder, keyOffset, fb::AttrKind::Float,
                                       0, f.getValueAsDouble()));
      else if (auto ints = dyn_cast<DenseI64ArrayAttr>(value))
        attrs.push_back(
            fb::CreateAttr(builder, keyOffset, fb::AttrKind::Ints, 0, 0.0,
                           builder.CreateVector(ints.asArrayRef().vec())));
      else if (auto s = dyn_cast<StringAttr>(value))
        attrs.push_back(
            fb::CreateAttr(builder, keyOffset, fb::AttrKind::String, 0, 0.0, 0,
                           builder.CreateString(s.getValue().str())));
      else if (auto type = dyn_cast<TypeAttr>(value)) {
        // An element type (a cast's `to`), by its MLIR name: "bf16".
        std::string text;
        llvm::raw_string_ostream os(text);
        type.getValue().print(os);
        attrs.push_back(fb::CreateAttr(builder, keyOffset, fb::AttrKind::String,
                                       0, 0.0, 0,
                                       builder.CreateString(os.str())));
      } else
        // Dropping it would change what the kernel computes.
        return call.emitOpError("attribute '")
               << key << "' (" << value
               << ") has a kind the .splan cannot hold (integer, float, "
                  "bool, unit, i64 array, string or type)";
    }
    auto workspace = call->getAttrOfType<IntegerAttr>(kWorkspaceAttr);
    return fb::CreateKernel(
        builder, builder.CreateString(call.getKernel().str()),
        builder.CreateVector(ins), builder.CreateVector(outs),
        builder.CreateVector(attrs), workspace ? workspace.getInt() : 0);
  }

  flatbuffers::FlatBufferBuilder builder{1 << 20};
  llvm::DenseMap<Value, Entry> tensors_;
  std::vector<std::vector<int32_t>> kernelOutputs; // each kernel's outs
  llvm::DenseMap<Operation *, unsigned> viewCounts;
};

} // namespace

LogicalResult writePlan(ModuleOp module, raw_ostream &os) {
  auto programs = module.getOps<plan::ProgramOp>();
  if (programs.empty())
    return module.emitError("no plan.program to write");
  return Writer().write(*programs.begin(), os);
}

} // namespace slapo
