//===- KernelChecksTest.cpp - every kernel checks its operands at load ---===//
//
// The compiler's plans pass the kernels' load-time checks (and run); plans
// edited to break one rule are refused with a message naming the kernel
// and the rule; randomly damaged plans that still load run without
// crashing.
//
//===----------------------------------------------------------------------===//

#include "CompiledModel.h"
#include "slapo/Plan/splan_generated.h"
#include "slapo/Runtime/Kernels.h"
#include "slapo/Runtime/Plan.h"
#include "slapo/Runtime/Trainer.h"

#include "gtest/gtest.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

using namespace slapo;
namespace fb = slapo::splan;

// OpenBLAS (the runtime's GEMMs), whose cblas.h is private to the runtime.
extern "C" int openblas_get_num_threads(void);
extern "C" void openblas_set_num_threads(int threads);

namespace {

/// A file of the source tree (models/, schedules/), found from this one's
/// path.
std::string sourceFile(const std::string &relative) {
  std::string here = __FILE__;
  std::string root = here.substr(0, here.rfind("/unittests/"));
  std::ifstream file(root + "/" + relative);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

/// `config` with every dropout probability of the tiny configs set to 0.1.
std::string withDropout(std::string config) {
  for (const char *key :
       {"\"resid_pdrop\": 0.0", "\"embd_pdrop\": 0.0", "\"attn_pdrop\": 0.0"}) {
    size_t at = config.find(key);
    if (at != std::string::npos)
      config.replace(at + std::strlen(key) - 3, 3, "0.1");
  }
  return config;
}

std::unique_ptr<rt::Plan> load(const std::vector<uint8_t> &bytes,
                               std::string &error) {
  return rt::loadPlanFromFlatBuffer(bytes.data(), bytes.size(), "p", error);
}

/// The .splan bytes of an unpacked (and edited) plan.
std::vector<uint8_t> pack(const fb::PlanT &plan) {
  flatbuffers::FlatBufferBuilder builder;
  fb::FinishPlanBuffer(builder, fb::Plan::Pack(builder, &plan));
  return {builder.GetBufferPointer(),
          builder.GetBufferPointer() + builder.GetSize()};
}

/// Why `plan` is refused ("" if it loads).
std::string refusalOf(const fb::PlanT &plan) {
  std::string error;
  return load(pack(plan), error) ? "" : error;
}

/// Runs one training step of `plan` on ids in [-2, vocab + 2) (some out of
/// range on purpose); returns the loss, or NaN if no trainer was made.
float runOneStep(std::unique_ptr<rt::Plan> plan, std::mt19937 &random) {
  int64_t tokens = plan->batch * plan->seq, vocab = plan->vocabSize;
  std::string error;
  auto trainer = rt::Trainer::create(std::move(plan), error);
  if (!trainer)
    return NAN;
  trainer->initialize(0);
  for (int64_t i = 0; i < tokens; ++i) {
    trainer->inputIds()[i] = int64_t(random() % (vocab + 4)) - 2;
    trainer->targets()[i] = int64_t(random() % (vocab + 4)) - 2;
  }
  return trainer->step(1e-3);
}

//===----------------------------------------------------------------------===//
// (a) What the compiler writes passes
//===----------------------------------------------------------------------===//

struct Compiled {
  const char *config;   // models/...
  const char *schedule; // schedules/... or inline .sched text, or ""
  int64_t tp;
  const char *optimizer;
  bool dropout = false; // set the tiny config's dropout to 0.1
  const char *precision = "fp32";
};

/// The OPT MLPs block-sparse under the oracle mask, with LoRA on attention.
constexpr const char *kSparsify =
    "freeze **\n"
    "lora model.decoder.layers.*.self_attn.{q_proj,v_proj} rank=4 alpha=8\n"
    "sparsify model.decoder.layers.* block=16 rows=4 predictor=oracle\n";

/// The OPT frozen, its MLPs' and attentions' sparsity predictors trained.
constexpr const char *kPredictorTraining =
    "freeze **\n"
    "sparsify model.decoder.layers.* block=16 rows=4 predictor=train\n"
    "sparsify model.decoder.layers.*.self_attn block=4 predictor=train\n";

TEST(KernelChecks, PassEveryPlanTheCompilerWrites) {
  const Compiled builds[] = {
      {"gpt2-tiny", "", 1, "adamw"},
      {"gpt2-tiny", "", 1, "sgd", /*dropout=*/true},
      {"gpt2-tiny", "schedules/gpt2-fused.sched", 1, "adamw", true},
      {"gpt2-tiny", "schedules/gpt2-lora.sched", 1, "adamw"},
      {"gpt2-tiny", "schedules/gpt2-ckpt.sched", 1, "sgd", true},
      {"gpt2-tiny", "replace transformer.h.* attention=decomposed\n", 1,
       "adamw", true},
      {"gpt2-tiny", "schedules/gpt2-tp.sched", 2, "adamw", true},
      {"opt-tiny", "", 1, "adamw"},
      {"opt-tiny", "schedules/opt-fused.sched", 1, "adamw"},
      {"opt-tiny", "schedules/opt-lora.sched", 1, "sgd"},
      {"opt-tiny", "schedules/opt-ckpt.sched", 1, "adamw"},
      {"opt-tiny", "schedules/opt-tp.sched", 2, "adamw"},
      {"opt-tiny", kSparsify, 1, "adamw"},
      {"opt-tiny", kPredictorTraining, 1, "adamw"},
      {"opt-tiny-postln-proj", "", 1, "adamw"},
      {"llama-tiny", "", 1, "adamw"},
      {"llama-tiny", "schedules/llama-fused.sched", 1, "adamw"},
      {"llama-tiny", "schedules/llama-lora.sched", 1, "sgd"},
      {"llama-tiny", "schedules/llama-ckpt.sched", 1, "adamw"},
      {"llama-tiny", "schedules/llama-tp.sched", 2, "adamw"},
      {"llama-tiny-rope-linear", "", 1, "adamw"},
      {"llama-tiny-rope-llama3", "", 1, "adamw"},
      // bf16 mixed precision: every kernel's bf16 form and the casts.
      {"gpt2-tiny", "", 1, "adamw", true, "bf16"},
      {"gpt2-tiny", "schedules/gpt2-fused.sched", 1, "adamw", true, "bf16"},
      {"gpt2-tiny", "replace transformer.h.* attention=decomposed\n", 1, "sgd",
       true, "bf16"},
      {"gpt2-tiny", "schedules/gpt2-tp.sched", 2, "adamw", true, "bf16"},
      {"opt-tiny", "schedules/opt-lora.sched", 1, "adamw", false, "bf16"},
      {"opt-tiny", kSparsify, 1, "adamw", false, "bf16"},
      {"opt-tiny", kPredictorTraining, 1, "sgd", false, "bf16"},
      {"llama-tiny", "schedules/llama-fused.sched", 1, "adamw", false, "bf16"},
      {"llama-tiny", "schedules/llama-ckpt.sched", 1, "sgd", false, "bf16"},
  };
  std::set<std::string> ran;
  std::mt19937 random(1);
  for (const Compiled &build : builds) {
    std::string config =
        sourceFile("models/" + std::string(build.config) + ".json");
    ASSERT_FALSE(config.empty()) << build.config;
    if (build.dropout)
      config = withDropout(config);
    std::string schedule = build.schedule;
    if (schedule.rfind("schedules/", 0) == 0)
      schedule = sourceFile(schedule);
    std::string what = std::string(build.config) + " " + build.schedule +
                       " --tp " + std::to_string(build.tp) + " --precision " +
                       build.precision;
    std::vector<uint8_t> bytes = test::compileToSplan(
        config, 2, 8, build.optimizer, schedule, build.tp, build.precision);
    ASSERT_FALSE(bytes.empty()) << what << " does not compile";
    std::string error;
    std::unique_ptr<rt::Plan> plan = load(bytes, error);
    ASSERT_TRUE(plan) << what << ": " << error;
    if (build.tp != 1)
      continue; // one rank of a group: it runs under mpirun
    for (const rt::KernelCall &call : plan->kernels)
      ran.insert(call.name);
    float loss = runOneStep(std::move(plan), random);
    EXPECT_TRUE(std::isfinite(loss)) << what << " gives loss " << loss;
  }
  // Every kernel ran in some plan, but the collective (it runs in a
  // tensor-parallel group) and zeros (the gradient of a split's piece that
  // has none, which no shipped model makes).
  for (const rt::KernelSpec &spec : rt::kernelCatalog()) {
    std::string name = spec.name;
    if (name == "sync" || name == "zeros")
      continue;
    EXPECT_TRUE(ran.count(name)) << name << " never ran";
  }
}

//===----------------------------------------------------------------------===//
// (b) Plans edited to break one rule are refused
//===----------------------------------------------------------------------===//

constexpr const char *kTinyGPT2 = R"({"model_type": "gpt2", "vocab_size": 32,
  "n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 2,
  "resid_pdrop": 0.1, "embd_pdrop": 0.0, "attn_pdrop": 0.1})";

class KernelCheckEdits : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    bytes = test::compileToSplan(kTinyGPT2, 2, 4, "adamw");
  }

  void SetUp() override {
    ASSERT_FALSE(bytes.empty());
    plan = fb::UnPackPlan(bytes.data());
  }

  /// The index of the first kernel named `name`.
  size_t kernelIndex(const std::string &name) const {
    for (size_t i = 0; i < plan->kernels.size(); ++i)
      if (plan->kernels[i]->name == name)
        return i;
    ADD_FAILURE() << "the plan has no '" << name << "' kernel";
    return 0;
  }
  fb::KernelT &kernel(const std::string &name) const {
    return *plan->kernels[kernelIndex(name)];
  }
  fb::TensorT &tensor(int32_t index) const { return *plan->tensors[index]; }
  /// The attribute `key` of `call`.
  static fb::AttrT &attr(fb::KernelT &call, const std::string &key) {
    for (auto &attr : call.attrs)
      if (attr->key == key)
        return *attr;
    ADD_FAILURE() << call.name << " has no attribute '" << key << "'";
    return *call.attrs.front();
  }
  /// The index of the tensor named `name`.
  int32_t tensorNamed(const std::string &name) const {
    for (size_t i = 0; i < plan->tensors.size(); ++i)
      if (plan->tensors[i]->name == name)
        return int32_t(i);
    ADD_FAILURE() << "no tensor '" << name << "'";
    return 0;
  }
  /// "p: invalid plan: kernel 3 'linear' (...): " for the first `name`.
  std::string prefix(const std::string &name) const {
    size_t index = kernelIndex(name);
    const fb::KernelT &call = *plan->kernels[index];
    return "p: invalid plan: kernel " + std::to_string(index) + " '" + name +
           "' (" + plan->tensors[call.outputs[0]]->name + "): ";
  }
  /// Why the edited plan is refused ("" if it loads).
  std::string refusal() const { return refusalOf(*plan); }

  static std::vector<uint8_t> bytes;
  std::unique_ptr<fb::PlanT> plan;
};
std::vector<uint8_t> KernelCheckEdits::bytes;

TEST_F(KernelCheckEdits, UneditedPlanLoads) { EXPECT_EQ(refusal(), ""); }

// .splan v3: named entry functions, and each tensor's memory space and
// encoding, which this runtime reads only in their first forms.
TEST_F(KernelCheckEdits, EntryFunctionsSpacesAndEncodings) {
  ASSERT_EQ(plan->entries.size(), 2u);
  EXPECT_EQ(plan->entries[0]->name, "train_step");
  EXPECT_EQ(plan->entries[0]->kernel_count, plan->kernels.size());
  // eval_step: the forward prefix, ending with the kernel that writes the
  // loss.
  EXPECT_EQ(plan->entries[1]->name, "eval_step");
  EXPECT_EQ(plan->entries[1]->first_kernel, 0u);
  uint32_t evalCount = plan->entries[1]->kernel_count;
  ASSERT_GT(evalCount, 0u);
  EXPECT_LT(evalCount, plan->kernels.size());
  const fb::KernelT &last = *plan->kernels[evalCount - 1];
  EXPECT_EQ(last.name, "cross_entropy");
  EXPECT_EQ(last.outputs[0], plan->loss);
  plan->entries[0]->kernel_count += 1;
  EXPECT_EQ(refusal(), "p: invalid plan: entry function 'train_step' runs "
                       "kernels past the " +
                           std::to_string(plan->kernels.size()) +
                           " the plan has");
  plan->entries[0]->kernel_count -= 1;
  plan->entries[0]->name = "prefill";
  EXPECT_EQ(refusal(),
            "p: invalid plan: the plan has no 'train_step' entry function");
  plan->entries[0]->name = "train_step";
  plan->tensors[3]->space = fb::MemorySpace::Host;
  EXPECT_EQ(refusal(), "p: invalid plan: tensor '" + plan->tensors[3]->name +
                           "' is placed in host memory, which this runtime "
                           "does not do");
  plan->tensors[3]->space = fb::MemorySpace::Device;
  plan->tensors[3]->encoding = fb::Encoding(1);
  EXPECT_EQ(refusal(), "p: invalid plan: tensor '" + plan->tensors[3]->name +
                           "' has encoding number 1, which this runtime "
                           "cannot read");
}

// Master weights are f32: a parameter of another dtype would be drawn,
// loaded and saved as floats over bytes that are not.
TEST_F(KernelCheckEdits, ParameterThatIsNotFloat32) {
  for (const auto &param : plan->params) {
    fb::TensorT &tensor = *plan->tensors[param->tensor];
    tensor.dtype = fb::DType::I64;
    tensor.bytes *= 2;
    EXPECT_EQ(refusal(), "p: invalid plan: parameter '" + param->name +
                             "' is i64, not f32");
    tensor.dtype = fb::DType::F32;
    tensor.bytes /= 2;
    break;
  }
}

TEST_F(KernelCheckEdits, WorkspaceBelowAttentionsNeed) {
  // B * H * T * S floats: 2 * 2 * 4 * 4 * 4 bytes; the backward pass needs
  // twice that.
  const uint64_t probabilities = 2 * 2 * 4 * 4 * 4;
  ASSERT_GE(plan->memory->workspace, 2 * probabilities);
  plan->memory->workspace = 2 * probabilities;
  EXPECT_EQ(refusal(), "");
  // Each call records its share of the workspace, which must fit the
  // plan's ...
  plan->memory->workspace = 2 * probabilities - 4;
  EXPECT_EQ(refusal(), prefix("attention_grad") +
                           "claims 512 bytes of workspace but the plan has "
                           "508");
  plan->memory->workspace = 2 * probabilities;
  // ... and hold what the kernel needs.
  plan->kernels[kernelIndex("attention_grad")]->workspace =
      2 * probabilities - 4;
  EXPECT_EQ(refusal(), prefix("attention_grad") +
                           "needs 512 bytes of workspace (the probabilities "
                           "and their gradient, 2 * B * H * T * S floats) but "
                           "the call has 508");
  plan->kernels[kernelIndex("attention_grad")]->workspace = 2 * probabilities;
  plan->kernels[kernelIndex("attention")]->workspace = probabilities - 4;
  EXPECT_EQ(refusal(), prefix("attention") +
                           "needs 256 bytes of workspace (B * H * T * S "
                           "floats) but the call has 252");
  plan->kernels[kernelIndex("attention")]->workspace = probabilities;
  // Grown over the tensors before it, the workspace is no longer scratch.
  plan->memory->workspace = plan->arena_bytes / 2;
  std::string error = refusal();
  EXPECT_NE(error.find("' overlaps the kernels' workspace at the end of the "
                       "arena"),
            std::string::npos)
      << error;
}

TEST_F(KernelCheckEdits, TransposeThatIsNoPermutation) {
  fb::AttrT &perm = attr(kernel("transpose"), "permutation");
  ASSERT_EQ(perm.ints.size(), 4u);
  perm.ints = {0, 2, 5, 1};
  EXPECT_EQ(refusal(), prefix("transpose") +
                           "permutation [0, 2, 5, 1] is not a permutation of "
                           "0..3");
  perm.ints = {0, 2, 2, 1};
  EXPECT_EQ(refusal(), prefix("transpose") +
                           "permutation [0, 2, 2, 1] is not a permutation of "
                           "0..3");
  perm.ints = {0, 2, 1};
  EXPECT_EQ(refusal(), prefix("transpose") +
                           "permutation [0, 2, 1] is not a permutation of "
                           "0..3");
}

TEST_F(KernelCheckEdits, LinearWhoseWeightDoesNotFit) {
  // c_attn's [in, out] weight, [16, 48], seen as [8, 96]: the same bytes.
  fb::TensorT &weight = tensor(kernel("linear").inputs[1]);
  ASSERT_EQ(weight.shape, (std::vector<int64_t>{16, 48}));
  weight.shape = {8, 96};
  EXPECT_EQ(refusal(), prefix("linear") +
                           "input [2, 4, 16] and weight [8, 96] disagree on "
                           "the input features (weight [in, out]): 16 vs 8");
  // A bias of the wrong length.
  weight.shape = {16, 48};
  fb::KernelT &linear = kernel("linear");
  linear.inputs[2] = tensorNamed("transformer.ln_f.bias");
  EXPECT_EQ(refusal(), prefix("linear") +
                           "bias [16] must be [48] (one value per output "
                           "feature)");
}

TEST_F(KernelCheckEdits, IdsWhereFloatsAreNeeded) {
  fb::KernelT &norm = kernel("layer_norm");
  int32_t normInput = norm.inputs[0];
  norm.inputs[0] = plan->input_ids;
  EXPECT_EQ(refusal(),
            prefix("layer_norm") +
                "input [2, 4] must hold floats (f32 or bf16), not i64");
  norm.inputs[0] = normInput;
  fb::KernelT &loss = kernel("cross_entropy");
  loss.inputs[1] = tensorNamed("transformer.wpe.weight");
  EXPECT_EQ(refusal(), prefix("cross_entropy") +
                           "targets [16, 16] must hold token ids (i64), not "
                           "f32");
}

// A kernel's floats share one dtype; parameters and their optimizer state
// are f32 whatever the activations are.
// The gradient accumulator holds every update's gradient, no more, no less.
TEST_F(KernelCheckEdits, GradientAccumulatorSize) {
  uint64_t planned = plan->memory->accumulator;
  EXPECT_GT(planned, 0u);
  plan->memory->accumulator = planned - 4;
  EXPECT_EQ(refusal(), "p: invalid plan: the gradient accumulator is " +
                           std::to_string(planned - 4) +
                           " bytes, but the updates' gradients take " +
                           std::to_string(planned));
}

TEST_F(KernelCheckEdits, MixedFloatDTypes) {
  // A bf16 twin of a tensor (same bytes, half of them), read by one kernel.
  auto bf16Twin = [&](int32_t index) {
    auto twin = std::make_unique<fb::TensorT>(tensor(index));
    twin->name += ".bf16";
    twin->dtype = fb::DType::BF16;
    twin->bytes /= 2;
    plan->tensors.push_back(std::move(twin));
    return int32_t(plan->tensors.size() - 1);
  };
  fb::KernelT &norm = kernel("layer_norm");
  int32_t normInput = norm.inputs[0];
  norm.inputs[0] = bf16Twin(normInput);
  EXPECT_EQ(refusal(), prefix("layer_norm") +
                           "gamma [16] holds f32, but input [2, 4, 16] holds "
                           "bf16: the kernel's floats share one dtype");
  norm.inputs[0] = normInput;
  // The first update is the tied embedding's ([vocab 32, hidden 16]).
  fb::KernelT &update = kernel("adamw_update");
  update.inputs[0] = bf16Twin(update.inputs[0]);
  EXPECT_EQ(refusal(), prefix("adamw_update") +
                           "grad [32, 16] must hold floats (f32), not bf16");
}

TEST_F(KernelCheckEdits, MissingOrMistypedAttribute) {
  fb::KernelT &transpose = kernel("transpose");
  attr(transpose, "permutation").key = "perm";
  EXPECT_EQ(refusal(), prefix("transpose") +
                           "needs the attribute 'permutation' (an integer "
                           "list)");
  attr(transpose, "perm").key = "permutation";
  attr(kernel("activation_grad"), "activation").s = "gelu_fast";
  EXPECT_EQ(refusal(), prefix("activation_grad") +
                           "attribute 'activation' must be one of relu, silu, "
                           "gelu, gelu_tanh, got 'gelu_fast'");
  attr(kernel("activation_grad"), "activation").s = "gelu_tanh";
  attr(kernel("layer_norm"), "epsilon").kind = fb::AttrKind::Int;
  EXPECT_EQ(refusal(), prefix("layer_norm") +
                           "attribute 'epsilon' must be a float, got an "
                           "integer");
}

TEST_F(KernelCheckEdits, AttributeOutOfRange) {
  fb::AttrT &p = attr(kernel("dropout"), "probability");
  p.f = 1.0;
  EXPECT_EQ(refusal(), prefix("dropout") +
                           "attribute 'probability' must be in [0, 1), got "
                           "1.000000");
  p.f = 0.1;
  attr(kernel("split"), "axis").i = 3;
  EXPECT_EQ(refusal(), prefix("split") +
                           "attribute 'axis' is 3, not an axis of a rank-3 "
                           "tensor");
}

TEST_F(KernelCheckEdits, UpdateThatDoesNotWriteItsParameter) {
  fb::KernelT &update = kernel("adamw_update");
  std::swap(update.outputs[0], update.outputs[1]);
  std::string shape;
  for (int64_t dim : tensor(update.outputs[0]).shape)
    shape += (shape.empty() ? "" : ", ") + std::to_string(dim);
  EXPECT_EQ(refusal(), prefix("adamw_update") + "parameter [" + shape +
                           "] is optimizer state, not a parameter: an update "
                           "writes its parameter in place");
}

TEST(KernelCheckEditsRope, Llama3ScalingOutOfRange) {
  std::string config = sourceFile("models/llama-tiny-rope-llama3.json");
  ASSERT_FALSE(config.empty());
  std::vector<uint8_t> bytes = test::compileToSplan(config, 1, 4, "adamw");
  ASSERT_FALSE(bytes.empty());
  std::unique_ptr<fb::PlanT> plan = fb::UnPackPlan(bytes.data());
  size_t index = 0;
  while (index < plan->kernels.size() && plan->kernels[index]->name != "rope")
    ++index;
  ASSERT_LT(index, plan->kernels.size());
  fb::KernelT &rope = *plan->kernels[index];
  std::string prefix = "p: invalid plan: kernel " + std::to_string(index) +
                       " 'rope' (" + plan->tensors[rope.outputs[0]]->name +
                       "): ";
  for (auto &attr : rope.attrs)
    if (attr->key == "high_freq_factor")
      attr->f = 0.5;
  EXPECT_EQ(refusalOf(*plan), prefix + "attribute 'low_freq_factor' must be "
                                       "below 'high_freq_factor'");
  for (auto &attr : rope.attrs)
    if (attr->key == "scaling")
      attr->s = "yarn";
  EXPECT_EQ(refusalOf(*plan), prefix + "attribute 'scaling' must be one of "
                                       "linear, llama3, got 'yarn'");
}

//===----------------------------------------------------------------------===//
// (c) Damaged plans that load also run
//===----------------------------------------------------------------------===//

/// Hundreds of tiny steps: OpenMP's thread start-up and spinning would
/// dominate them (and on a loaded machine, stall them), so the fuzz tests
/// run on one thread.
class KernelChecksFuzz : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    std::string llama = sourceFile("models/llama-tiny.json");
    // Dropout on (its numbering and masks run); fused kernels; GQA and
    // RoPE.
    plans = {test::compileToSplan(kTinyGPT2, 2, 4, "adamw"),
             test::compileToSplan(kTinyGPT2, 1, 4, "sgd",
                                  sourceFile("schedules/gpt2-fused.sched")),
             test::compileToSplan(llama, 1, 4, "adamw")};
  }
  void SetUp() override {
    for (const std::vector<uint8_t> &bytes : plans)
      ASSERT_FALSE(bytes.empty());
    threads = omp_get_max_threads();
    blasThreads = openblas_get_num_threads();
    // OpenBLAS's OpenMP build sets OpenMP's thread count with its own.
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
  }
  void TearDown() override {
    openblas_set_num_threads(blasThreads);
    omp_set_num_threads(threads);
  }

  /// Loads `bytes`; runs a step if it loads. Counts both.
  void tryPlan(const uint8_t *data, size_t size) {
    std::string error;
    std::unique_ptr<rt::Plan> plan =
        rt::loadPlanFromFlatBuffer(data, size, "d", error);
    if (!plan) {
      ++refused;
      EXPECT_FALSE(error.empty());
      return;
    }
    // What loads, runs: no crash, whatever the loss. (Arenas the damage
    // made huge are not worth allocating here.)
    if (plan->arenaBytes > (uint64_t(64) << 20))
      return;
    runOneStep(std::move(plan), random);
    ++ran;
  }

  static std::vector<std::vector<uint8_t>> plans;
  std::mt19937 random{11};
  int threads = 1, blasThreads = 1, ran = 0, refused = 0;
};
std::vector<std::vector<uint8_t>> KernelChecksFuzz::plans;

TEST_F(KernelChecksFuzz, RunsEveryDamagedPlanThatLoads) {
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> damaged = plans[trial % plans.size()];
    for (int flips = 1 + trial % 2; flips > 0; --flips)
      damaged[random() % damaged.size()] ^= uint8_t(1 + random() % 255);
    tryPlan(damaged.data(), damaged.size());
  }
  EXPECT_GT(ran, 500);
  EXPECT_GT(refused, 500);
}

/// One random edit of the kind a byte flip seldom makes whole: another
/// tensor for an operand, another kernel of the same arity, another value
/// or kind for an attribute, another shape of the same size for a tensor.
void editAtRandom(fb::PlanT &plan, std::mt19937 &random) {
  auto pick = [&](size_t n) { return size_t(random() % n); };
  fb::KernelT &call = *plan.kernels[pick(plan.kernels.size())];
  switch (pick(4)) {
  case 0: {
    std::vector<int32_t> &operands =
        pick(3) == 0 || call.inputs.empty() ? call.outputs : call.inputs;
    operands[pick(operands.size())] = int32_t(pick(plan.tensors.size()));
    return;
  }
  case 1: {
    std::vector<std::string> same;
    for (const rt::KernelSpec &spec : rt::kernelCatalog())
      if (int(call.inputs.size()) >= spec.minInputs &&
          int(call.inputs.size()) <= spec.maxInputs &&
          (spec.outputs < 0 || int(call.outputs.size()) == spec.outputs))
        same.push_back(spec.name);
    call.name = same[pick(same.size())];
    return;
  }
  case 2: {
    if (call.attrs.empty())
      return;
    fb::AttrT &attr = *call.attrs[pick(call.attrs.size())];
    const double floats[] = {-1.0, 0.0, 0.5, 1.0, 3.0, NAN, INFINITY};
    attr.i = int64_t(pick(9)) - 4;
    attr.f = floats[pick(7)];
    if (!attr.ints.empty())
      attr.ints[pick(attr.ints.size())] = int64_t(pick(6)) - 1;
    if (pick(4) == 0)
      attr.kind = fb::AttrKind(pick(4));
    return;
  }
  default: {
    // Move a prime factor from one axis to another (same bytes).
    std::vector<int64_t> &shape =
        plan.tensors[pick(plan.tensors.size())]->shape;
    if (shape.size() < 2)
      return;
    size_t from = pick(shape.size()), to = pick(shape.size());
    for (int64_t factor : {2, 3, 5, 7})
      if (from != to && shape[from] % factor == 0) {
        shape[from] /= factor;
        shape[to] *= factor;
        return;
      }
  }
  }
}

TEST_F(KernelChecksFuzz, RunsEveryEditedPlanThatLoads) {
  for (int trial = 0; trial < 2000; ++trial) {
    std::unique_ptr<fb::PlanT> plan =
        fb::UnPackPlan(plans[trial % plans.size()].data());
    for (int edits = 1 + trial % 2; edits > 0; --edits)
      editAtRandom(*plan, random);
    std::vector<uint8_t> edited = pack(*plan);
    tryPlan(edited.data(), edited.size());
  }
  EXPECT_GT(ran, 200);
  EXPECT_GT(refused, 500);
}

} // namespace
