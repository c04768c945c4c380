//===- PlanLoader.cpp - read and check a .splan ---------------------------===//
//
// Three gates: the checksum that ends the file (SplanChecksum.h), the
// FlatBuffers verifier (the bytes are a well-formed Plan
// table, nothing points outside the buffer), then meaning (tensor indices,
// sizes and offsets fit the arena, kernels exist, get the number of tensors
// they take and pass their own check of dtypes, shapes, attributes and
// workspace: KernelSpec::check). A file that fails any is refused with
// one line.
//
//===----------------------------------------------------------------------===//

#include "slapo/Plan/SplanChecksum.h"
#include "slapo/Plan/SplanVersion.h"
#include "slapo/Plan/splan_generated.h"
#include "slapo/Runtime/Kernels.h"
#include "slapo/Runtime/Plan.h"

#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

namespace slapo::rt {

namespace fb = slapo::splan;

// The runtime's categories are the .splan's (and so the plan dialect's
// MemoryCategory, which the writer checks), value for value.
#define SLAPO_SAME_CATEGORY(name)                                              \
  static_assert(static_cast<int>(Category::name) ==                            \
                static_cast<int>(fb::Category::name))
SLAPO_SAME_CATEGORY(Input);
SLAPO_SAME_CATEGORY(Param);
SLAPO_SAME_CATEGORY(Grad);
SLAPO_SAME_CATEGORY(OptimizerState);
SLAPO_SAME_CATEGORY(Activation);
SLAPO_SAME_CATEGORY(Workspace);
#undef SLAPO_SAME_CATEGORY

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t KernelCall::intAttr(const std::string &key, int64_t fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.i;
}

double KernelCall::floatAttr(const std::string &key, double fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.f;
}

const EntryFunction *Plan::entry(const std::string &name) const {
  for (const EntryFunction &entry : entries)
    if (entry.name == name)
      return &entry;
  return nullptr;
}

int64_t Plan::parameterCount() const {
  int64_t n = 0;
  for (const ParamInfo &p : params)
    n += tensors[p.tensor].numel();
  return n;
}

int64_t Plan::trainableParameterCount() const {
  int64_t n = 0;
  for (const ParamInfo &p : params)
    if (p.trainable)
      n += tensors[p.tensor].numel();
  return n;
}

namespace {

std::optional<DType> dtypeOf(fb::DType dtype) {
  switch (dtype) {
  case fb::DType::F32:
    return DType::F32;
  case fb::DType::I64:
    return DType::I64;
  case fb::DType::BF16:
    return DType::BF16;
  case fb::DType::F16:
    return DType::F16;
  case fb::DType::I32:
    return DType::I32;
  case fb::DType::I8:
    return DType::I8;
  case fb::DType::U8:
    return DType::U8;
  }
  return std::nullopt;
}

std::string str(const flatbuffers::String *s) { return s ? s->str() : ""; }

/// No arena may be larger (256 TiB): sizes near 2^64 would wrap when the
/// runtime rounds them up to allocate.
constexpr uint64_t kMaxArenaBytes = uint64_t(1) << 48;

/// The elements of `shape`, or 0 when they would not fit any arena.
uint64_t elementCount(const std::vector<int64_t> &shape) {
  uint64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, uint64_t(d), &n) || n > kMaxArenaBytes)
      return 0;
  return n;
}

/// "kernel 12 'transpose' (transformer.h.0.attn/transpose)": the call and
/// its first result's name, which says where in the model it comes from.
std::string describeCall(size_t index, const KernelCall &call,
                         const Plan &plan) {
  return "kernel " + std::to_string(index) + " '" + call.name + "' (" +
         plan.tensors[call.outputs[0]].name + ")";
}

/// Copies a verified [int64] vector into `out`; false when its elements are
/// not 8-byte aligned (an empty vector has none to align). The writer aligns
/// them; the FlatBuffers verifier checks only the 4-byte alignment of a
/// vector's length, and reading misaligned int64s would be undefined behaviour.
bool readInt64s(const flatbuffers::Vector<int64_t> *in,
                std::vector<int64_t> &out) {
  if (!in)
    return true;
  if (in->size() > 0 &&
      reinterpret_cast<uintptr_t>(in->Data()) % alignof(int64_t) != 0)
    return false;
  out.assign(in->begin(), in->end());
  return true;
}

/// Reads the attributes of `k` into `call`, and their kinds into `kinds`;
/// returns "" or what is wrong.
std::string readAttributes(const fb::Kernel &k, KernelCall &call,
                           std::map<std::string, AttrKind> &kinds) {
  if (!k.attrs())
    return "";
  for (const fb::Attr *a : *k.attrs()) {
    std::string key = str(a->key());
    if (a->kind() > fb::AttrKind::String)
      return "attribute '" + key + "' has an unknown kind";
    AttrValue value;
    value.i = a->i();
    value.f = a->f();
    if (!readInt64s(a->ints(), value.ints))
      return "attribute '" + key + "' has misaligned integers";
    value.s = str(a->s());
    call.attrs[key] = std::move(value);
    kinds[key] = static_cast<AttrKind>(a->kind());
  }
  return "";
}

/// Builds the plan from a verified buffer; returns "" or what is wrong.
std::string convert(const fb::Plan &in, Plan &out) {
  if (in.version() != kSplanVersion)
    return "plan format version " + std::to_string(in.version()) +
           " is not the supported version " + std::to_string(kSplanVersion) +
           " (recompile it with this slapo-opt)";
  out.modelType = str(in.model_type());
  out.worldSize = in.world_size();
  out.tp = in.tp();
  out.batch = in.batch();
  out.seq = in.seq();
  out.vocabSize = in.vocab_size();
  out.maxPositions = in.max_positions();
  out.optimizer = str(in.optimizer());
  out.beta1 = in.beta1();
  out.beta2 = in.beta2();
  out.epsilon = in.epsilon();
  out.weightDecay = in.weight_decay();
  out.arenaBytes = in.arena_bytes();
  if (out.batch <= 0 || out.seq <= 0)
    return "batch and seq must be positive";
  if (out.tp < 1 || out.worldSize < 1)
    return "tp and world_size must be positive";
  if (out.optimizer != "sgd" && out.optimizer != "adamw" &&
      out.optimizer != "none")
    return "unknown optimizer '" + out.optimizer + "'";
  if (const fb::Memory *m = in.memory())
    out.memory = {m->params(),    m->grads(), m->optimizer(),  m->activations(),
                  m->workspace(), m->peak(),  m->accumulator()};
  if (out.arenaBytes > kMaxArenaBytes)
    return "the arena of " + std::to_string(out.arenaBytes) +
           " bytes is larger than any machine's memory";
  if (out.memory.workspace > out.arenaBytes)
    return "workspace is larger than the arena";
  if ((out.arenaBytes - out.memory.workspace) % 4 != 0)
    return "the workspace does not start on a 4-byte boundary";

  if (!in.tensors() || in.tensors()->size() == 0)
    return "the plan has no tensors";
  for (const fb::Tensor *t : *in.tensors()) {
    TensorInfo info;
    info.name = str(t->name());
    std::optional<DType> dtype = dtypeOf(t->dtype());
    if (!dtype)
      return "tensor '" + info.name + "' has dtype number " +
             std::to_string(int(t->dtype())) + ", which is no dtype";
    info.dtype = *dtype;
    if (!readInt64s(t->shape(), info.shape))
      return "tensor '" + info.name + "' has a misaligned shape";
    for (int64_t d : info.shape)
      if (d <= 0 || d > (int64_t(1) << 40))
        return "tensor '" + info.name + "' has a bad dimension";
    info.category = static_cast<Category>(t->category());
    if (t->category() > fb::Category::MAX)
      return "tensor '" + info.name + "' has an unknown category";
    // Every tensor lives in the arena, densely, until host-resident and
    // quantized or sparse tensors have executors.
    if (t->space() != fb::MemorySpace::Device)
      return "tensor '" + info.name +
             "' is placed in host memory, which this runtime does not do";
    if (t->encoding() != fb::Encoding::Dense)
      return "tensor '" + info.name + "' has encoding number " +
             std::to_string(int(t->encoding())) +
             ", which this runtime cannot read";
    info.offset = t->offset();
    info.bytes = t->bytes();
    uint64_t elementBytes = uint64_t(dtypeBytes(info.dtype));
    uint64_t elements = elementCount(info.shape);
    if (elements == 0)
      return "tensor '" + info.name + "' has too many elements";
    if (info.bytes != elements * elementBytes)
      return "tensor '" + info.name + "' claims " + std::to_string(info.bytes) +
             " bytes for " + std::to_string(info.numel()) + " elements";
    if (info.offset > out.arenaBytes ||
        info.bytes > out.arenaBytes - info.offset)
      return "tensor '" + info.name + "' lies outside the arena";
    // Kernels read a tensor through pointers of its element type: an int64
    // at an offset of 4 would be a misaligned access. The writer aligns
    // every tensor to 64 bytes.
    if (info.offset % std::max<uint64_t>(4, elementBytes) != 0)
      return "tensor '" + info.name + "' at offset " +
             std::to_string(info.offset) + " is not aligned to its " +
             std::to_string(std::max<uint64_t>(4, elementBytes)) +
             "-byte elements";
    if (info.offset + info.bytes > out.arenaBytes - out.memory.workspace)
      return "tensor '" + info.name +
             "' overlaps the kernels' workspace at the end of the arena";
    out.tensors.push_back(std::move(info));
  }
  auto validTensor = [&](int32_t index) {
    return index >= 0 && size_t(index) < out.tensors.size();
  };

  if (in.params())
    for (const fb::Param *p : *in.params()) {
      ParamInfo param{
          str(p->name()),     p->tensor(),     static_cast<Init>(p->init()),
          p->std(),           p->trainable(),  p->shard_axis(),
          p->shard_parts(),   p->shard_size(), str(p->added_by()),
          str(p->init_file())};
      if (!validTensor(param.tensor) ||
          out.tensors[param.tensor].category != Category::Param)
        return "parameter '" + param.name + "' names no parameter tensor";
      // Master weights are float32: initialisation, checkpoints and the
      // optimizer read and write them as such.
      if (out.tensors[param.tensor].dtype != DType::F32)
        return "parameter '" + param.name + "' is " +
               dtypeName(out.tensors[param.tensor].dtype) + ", not f32";
      if (param.shardAxis >= int32_t(out.tensors[param.tensor].shape.size()) ||
          param.shardAxis < -1 || param.shardParts < 1 ||
          (param.shardAxis >= 0 &&
           out.tensors[param.tensor].shape[param.shardAxis] %
                   param.shardParts !=
               0))
        return "parameter '" + param.name + "' has a bad shard";
      if (param.shardSize != 0) {
        // Padded: more than tp - 1 and fewer than tp whole blocks.
        int64_t block = param.shardAxis >= 0
                            ? out.tensors[param.tensor].shape[param.shardAxis]
                            : 0;
        if (param.shardParts != 1 || param.shardSize <= (out.tp - 1) * block ||
            param.shardSize >= out.tp * block)
          return "parameter '" + param.name + "' has a bad padded shard size";
      }
      bool scaled = param.init == Init::Normal || param.init == Init::Uniform;
      if (p->init() > fb::Init::Uniform || (scaled && !(param.std > 0.0)))
        return "parameter '" + param.name + "' has a bad initializer";
      out.params.push_back(std::move(param));
    }

  if (!in.kernels())
    return "the plan has no kernels";
  for (const fb::Kernel *k : *in.kernels()) {
    size_t kernelIndex = out.kernels.size();
    KernelCall call;
    call.name = str(k->name());
    call.kind = findKernelSpec(call.name);
    if (call.kind < 0)
      return "unknown kernel '" + call.name + "'";
    if (k->inputs())
      call.inputs.assign(k->inputs()->begin(), k->inputs()->end());
    if (k->outputs())
      call.outputs.assign(k->outputs()->begin(), k->outputs()->end());
    const KernelSpec &spec = kernelCatalog()[call.kind];
    int ins = int(call.inputs.size()), outs = int(call.outputs.size());
    if (ins < spec.minInputs || ins > spec.maxInputs ||
        (spec.outputs >= 0 && outs != spec.outputs) || outs < 1)
      return "kernel '" + call.name + "' takes " +
             std::to_string(spec.minInputs) + ".." +
             std::to_string(spec.maxInputs) + " inputs and " +
             std::to_string(spec.outputs) + " outputs, got " +
             std::to_string(ins) + " and " + std::to_string(outs);
    for (int32_t index : call.inputs)
      if (!validTensor(index))
        return "kernel '" + call.name + "' reads tensor " +
               std::to_string(index) + ", which does not exist";
    for (int32_t index : call.outputs)
      if (!validTensor(index))
        return "kernel '" + call.name + "' writes tensor " +
               std::to_string(index) + ", which does not exist";
    KernelCheck check;
    check.call = &call;
    for (int32_t index : call.inputs)
      check.ins.push_back(&out.tensors[index]);
    for (int32_t index : call.outputs)
      check.outs.push_back(&out.tensors[index]);
    call.workspace = k->workspace();
    if (call.workspace > out.memory.workspace)
      return describeCall(kernelIndex, call, out) + ": claims " +
             std::to_string(call.workspace) +
             " bytes of workspace but the plan has " +
             std::to_string(out.memory.workspace);
    check.workspaceBytes = call.workspace;
    check.tp = out.tp;
    std::string problem = readAttributes(*k, call, check.attrKinds);
    if (problem.empty())
      problem = spec.check(check);
    if (!problem.empty())
      return describeCall(kernelIndex, call, out) + ": " + problem;
    out.kernels.push_back(std::move(call));
  }

  // The gradient accumulator holds every update's gradient once.
  uint64_t gradientBytes = 0;
  for (const KernelCall &call : out.kernels)
    if (call.name == "sgd_update" || call.name == "adamw_update")
      gradientBytes += out.tensors[call.inputs[0]].bytes;
  if (out.memory.accumulator != gradientBytes)
    return "the gradient accumulator is " +
           std::to_string(out.memory.accumulator) +
           " bytes, but the updates' gradients take " +
           std::to_string(gradientBytes);

  // Named entry functions: a train_step, and ranges within the kernels.
  if (in.entries())
    for (const fb::Entry *e : *in.entries()) {
      EntryFunction entry{str(e->name()), e->first_kernel(), e->kernel_count()};
      if (entry.first > out.kernels.size() ||
          entry.count > out.kernels.size() - entry.first)
        return "entry function '" + entry.name + "' runs kernels past the " +
               std::to_string(out.kernels.size()) + " the plan has";
      if (out.entry(entry.name))
        return "entry function '" + entry.name + "' is defined twice";
      out.entries.push_back(std::move(entry));
    }
  if (!out.entry("train_step"))
    return "the plan has no 'train_step' entry function";

  if (in.adapters())
    for (const fb::Adapter *a : *in.adapters()) {
      AdapterInfo adapter{str(a->module_()), a->rank(), a->alpha(),
                          a->dropout(), a->fan_in_fan_out()};
      if (adapter.rank <= 0 || !(adapter.alpha > 0.0))
        return "adapter '" + adapter.module + "' has a bad rank or alpha";
      out.adapters.push_back(std::move(adapter));
    }

  out.hfConfig = str(in.hf_config());
  out.inputIds = in.input_ids();
  out.targets = in.targets();
  out.loss = in.loss();
  if (!validTensor(out.inputIds) || !validTensor(out.targets) ||
      !validTensor(out.loss))
    return "input, target or loss tensor index is out of range";
  const TensorInfo &ids = out.tensors[out.inputIds];
  const TensorInfo &targets = out.tensors[out.targets];
  if (ids.dtype != DType::I64 || targets.dtype != DType::I64 ||
      ids.shape != std::vector<int64_t>{out.batch, out.seq} ||
      targets.shape != ids.shape)
    return "token ids and targets must be [batch, seq] integers";
  if (out.tensors[out.loss].numel() != 1 ||
      out.tensors[out.loss].dtype != DType::F32)
    return "the loss must be one float";
  out.predictorStats = in.predictor_stats();
  if (out.predictorStats != -1) {
    if (!validTensor(out.predictorStats))
      return "the predictor statistics tensor index is out of range";
    const TensorInfo &stats = out.tensors[out.predictorStats];
    if (stats.dtype != DType::F32 || stats.shape.size() != 1 ||
        stats.numel() == 0 || stats.numel() % 4 != 0)
      return "the predictor statistics must be 4 f32 numbers a layer";
  }
  return "";
}

/// False, with the error set, unless `data` starts as a .splan does.
bool hasPlanIdentifier(const uint8_t *data, size_t size,
                       const std::string &source, std::string &error) {
  if (size >= 8 && fb::PlanBufferHasIdentifier(data))
    return true;
  error = source + ": not a slapo plan (.splan): missing the SPLN identifier";
  return false;
}

} // namespace

std::unique_ptr<Plan> loadPlanFromFlatBuffer(const uint8_t *data, size_t size,
                                             const std::string &source,
                                             std::string &error) {
  if (!hasPlanIdentifier(data, size, source, error))
    return nullptr;
  // FlatBuffers aligns within the buffer; the buffer must be aligned too.
  if (reinterpret_cast<uintptr_t>(data) % alignof(std::max_align_t) != 0) {
    std::vector<uint8_t> aligned(data, data + size);
    return loadPlanFromFlatBuffer(aligned.data(), size, source, error);
  }
  flatbuffers::Verifier verifier(data, size);
  if (!fb::VerifyPlanBuffer(verifier)) {
    error = source + ": corrupt plan: the FlatBuffers verifier rejected it "
                     "(truncated or damaged file?)";
    return nullptr;
  }
  auto plan = std::make_unique<Plan>();
  std::string problem = convert(*fb::GetPlan(data), *plan);
  if (!problem.empty()) {
    error = source + ": invalid plan: " + problem;
    return nullptr;
  }
  return plan;
}

std::unique_ptr<Plan> loadPlanFromBuffer(const uint8_t *data, size_t size,
                                         const std::string &source,
                                         std::string &error) {
  if (!hasPlanIdentifier(data, size, source, error))
    return nullptr;
  // The checksum first: nothing of a damaged file is read.
  size_t body = size - kSplanChecksumBytes;
  if (size < 8 + kSplanChecksumBytes ||
      storedSplanChecksum(data, size) != splanChecksum(data, body)) {
    error = source + ": corrupt plan: its checksum does not match its bytes "
                     "(a damaged or truncated file, or one written by an "
                     "older slapo-opt: recompile it)";
    return nullptr;
  }
  return loadPlanFromFlatBuffer(data, body, source, error);
}

std::unique_ptr<Plan> loadPlan(const std::string &path, std::string &error) {
  struct stat info;
  if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    error = path +
            (S_ISDIR(info.st_mode) ? ": is a directory"
                                   : ": is not a regular file") +
            ", not a plan (.splan)";
    return nullptr;
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = path + ": cannot open";
    return nullptr;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)),
                             std::istreambuf_iterator<char>());
  if (file.bad()) {
    error = path + ": cannot read";
    return nullptr;
  }
  return loadPlanFromBuffer(bytes.data(), bytes.size(), path, error);
}

} // namespace slapo::rt
