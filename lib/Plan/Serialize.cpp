//===- Serialize.cpp - plan.program to a .splan FlatBuffer ----------------===//

#include "graph/GraphDialect.h"
#include "plan/PlanDialect.h"
#include "slapo/Plan/Compile.h"
#include "slapo/Plan/SplanVersion.h"
#include "slapo/Plan/splan_generated.h"

#include "llvm/ADT/DenseMap.h"

using namespace mlir;
namespace fb = slapo::splan;

namespace slapo {

namespace {

fb::DType dtypeOf(Type type) {
  return cast<RankedTensorType>(type).getElementType().isInteger()
             ? fb::DType::I64
             : fb::DType::F32;
}

fb::Category categoryOf(StringRef category) {
  return llvm::StringSwitch<fb::Category>(category)
      .Case("input", fb::Category::Input)
      .Case("param", fb::Category::Param)
      .Case("grad", fb::Category::Grad)
      .Case("optimizer_state", fb::Category::OptimizerState)
      .Default(fb::Category::Activation);
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
    int32_t loss = -1;

    for (Operation &op : body) {
      if (auto tensor = dyn_cast<plan::TensorOp>(op)) {
        if (tensor.getOffsetAttr().getInt() < 0)
          return tensor.emitOpError("has no offset: run plan-assign-offsets");
        int32_t index =
            addTensor(tensors, tensor.getResult(), tensor.getName(),
                      tensor.getCategory(), tensor.getOffsetAttr().getInt());
        if (tensor.getCategory() == "param")
          params.push_back(paramEntry(tensor, index));
      } else if (auto view = dyn_cast<plan::ViewOp>(op)) {
        // A view is another tensor entry over the same bytes.
        auto source = cast<plan::TensorOp>(tensors_[view.getSource()].op);
        addTensor(tensors, view.getResult(), (source.getName() + "/view").str(),
                  source.getCategory(), source.getOffsetAttr().getInt());
      } else if (auto call = dyn_cast<plan::CallOp>(op)) {
        kernels.push_back(kernelEntry(call));
      } else if (auto lossOp = dyn_cast<plan::LossOp>(op)) {
        loss = tensors_[lossOp.getValue()].index;
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
                         memoryValue("workspace"), memoryValue("peak"));
    auto stringAttr = [&](StringRef key) {
      auto attr = program->getAttrOfType<StringAttr>(key);
      return builder.CreateString(attr ? attr.getValue().str() : "");
    };
    auto modelType = stringAttr("model_type");
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
    plan.add_arena_bytes(intAttr(p, "arena_bytes"));
    plan.add_memory(memory);
    plan.add_adapters(adapterVector);
    fb::FinishPlanBuffer(builder, plan.Finish());
    os.write(reinterpret_cast<const char *>(builder.GetBufferPointer()),
             builder.GetSize());
    return success();
  }

private:
  struct Entry {
    Operation *op;
    int32_t index;
  };

  int32_t addTensor(std::vector<flatbuffers::Offset<fb::Tensor>> &tensors,
                    Value value, StringRef name, StringRef category,
                    int64_t offset) {
    auto type = cast<RankedTensorType>(value.getType());
    int64_t bytes =
        type.getNumElements() * ((type.getElementTypeBitWidth() + 7) / 8);
    auto nameOffset = builder.CreateString(name.str());
    auto shape = builder.CreateVector(type.getShape().vec());
    int32_t index = tensors.size();
    tensors.push_back(fb::CreateTensor(builder, nameOffset, dtypeOf(type),
                                       shape, categoryOf(category), offset,
                                       bytes));
    tensors_[value] = {value.getDefiningOp(), index};
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
    return fb::CreateParam(
        builder, builder.CreateString(tensor.getName().str()), index, kind,
        init.getStd().convertToDouble(), tensor.getTrainableAttr().getValue(),
        shardAxis, shardParts, shardSize);
  }

  flatbuffers::Offset<fb::Kernel> kernelEntry(plan::CallOp call) {
    std::vector<int32_t> ins, outs;
    for (Value value : call.getIns())
      ins.push_back(tensors_[value].index);
    for (Value value : call.getOuts())
      outs.push_back(tensors_[value].index);
    std::vector<flatbuffers::Offset<fb::Attr>> attrs;
    for (NamedAttribute named : call->getAttrs()) {
      StringRef key = named.getName().getValue();
      if (key == "kernel" || key == "operandSegmentSizes")
        continue;
      auto keyOffset = builder.CreateString(key.str());
      Attribute value = named.getValue();
      if (auto i = dyn_cast<IntegerAttr>(value))
        attrs.push_back(fb::CreateAttr(builder, keyOffset, fb::AttrKind::Int,
                                       i.getValue().getSExtValue()));
      else if (auto b = dyn_cast<BoolAttr>(value))
        attrs.push_back(fb::CreateAttr(builder, keyOffset, fb::AttrKind::Int,
                                       b.getValue()));
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
    }
    return fb::CreateKernel(
        builder, builder.CreateString(call.getKernel().str()),
        builder.CreateVector(ins), builder.CreateVector(outs),
        builder.CreateVector(attrs));
  }

  flatbuffers::FlatBufferBuilder builder{1 << 20};
  llvm::DenseMap<Value, Entry> tensors_;
};

} // namespace

LogicalResult writePlan(ModuleOp module, raw_ostream &os) {
  auto programs = module.getOps<plan::ProgramOp>();
  if (programs.empty())
    return module.emitError("no plan.program to write");
  return Writer().write(*programs.begin(), os);
}

} // namespace slapo
