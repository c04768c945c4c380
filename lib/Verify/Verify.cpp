//===- Verify.cpp - check that a schedule preserves the model ------------===//

#include "slapo/Verify/Verify.h"

#include "graph/GraphDialect.h"
#include "slapo/Plan/Compile.h"
#include "slapo/Runtime/Adapters.h"
#include "slapo/Runtime/Plan.h"
#include "slapo/Runtime/Trainer.h"

#include "llvm/Support/Format.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

namespace slapo {

namespace {

constexpr int64_t kBatch = 2;
constexpr double kLearningRate = 1000.0; // gradient = (w0 - w1) / lr

/// Compiles a copy of `module` for one SGD step and loads it.
std::unique_ptr<rt::Trainer> compileAndLoad(mlir::ModuleOp module, int64_t seq,
                                            std::string &error) {
  mlir::OwningOpRef<mlir::ModuleOp> copy = module.clone();
  CompileOptions options;
  options.batch = kBatch;
  options.seq = seq;
  options.optimizer = "sgd";
  if (mlir::failed(compileTrainingStep(*copy, options))) {
    error = "the model does not compile";
    return nullptr;
  }
  std::string bytes;
  llvm::raw_string_ostream os(bytes);
  if (mlir::failed(writePlan(*copy, os))) {
    error = "the plan cannot be written";
    return nullptr;
  }
  os.flush();
  auto plan =
      rt::loadPlanFromBuffer(reinterpret_cast<const uint8_t *>(bytes.data()),
                             bytes.size(), "verify", error);
  return plan ? rt::Trainer::create(std::move(plan), error) : nullptr;
}

/// Parameter values by name (copies).
using Weights = std::map<std::string, std::vector<float>>;

Weights snapshot(const rt::Trainer &trainer) {
  Weights weights;
  for (const rt::ParamInfo &p : trainer.plan().params) {
    const float *data = trainer.data(p.tensor);
    weights[p.name].assign(data,
                           data + trainer.plan().tensors[p.tensor].numel());
  }
  return weights;
}

void load(rt::Trainer &trainer, const Weights &weights) {
  for (const rt::ParamInfo &p : trainer.plan().params)
    std::copy(weights.at(p.name).begin(), weights.at(p.name).end(),
              trainer.data(p.tensor));
}

/// One SGD step: the loss, and (w0 - w1) / lr for every parameter.
float gradients(rt::Trainer &trainer, const Weights &start,
                const std::vector<int64_t> &ids,
                const std::vector<int64_t> &targets, Weights &grads) {
  load(trainer, start);
  std::copy(ids.begin(), ids.end(), trainer.inputIds());
  std::copy(targets.begin(), targets.end(), trainer.targets());
  trainer.setCompletedSteps(0);
  float loss = trainer.step(kLearningRate);
  Weights after = snapshot(trainer);
  for (auto &[name, values] : after) {
    std::vector<float> &g = grads[name];
    g.resize(values.size());
    for (size_t i = 0; i < values.size(); ++i)
      g[i] = float((double(start.at(name)[i]) - values[i]) / kLearningRate);
  }
  load(trainer, start);
  return loss;
}

double norm(const std::vector<float> &a) {
  double sum = 0.0;
  for (float x : a)
    sum += double(x) * x;
  return std::sqrt(sum);
}

double relativeError(const std::vector<float> &a, const std::vector<float> &b) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += double(b[i]) * b[i];
  }
  return norm == 0.0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

} // namespace

mlir::LogicalResult verifySchedule(mlir::ModuleOp original,
                                   mlir::ModuleOp scheduled,
                                   llvm::raw_ostream &os, double tolerance) {
  auto models = original.getOps<graph::ModelOp>();
  if (models.empty())
    return original.emitError("--verify: no graph.model");
  int64_t seq = 16, vocab = 0;
  if (auto config = (*models.begin()).getConfigAttr()) {
    if (auto positions = config.getAs<mlir::IntegerAttr>("max_positions"))
      seq = std::min<int64_t>(seq, positions.getInt());
    if (auto size = config.getAs<mlir::IntegerAttr>("vocab_size"))
      vocab = size.getInt();
  }
  // A predictor-training step's loss is its predictors', not the model's.
  bool trainsPredictors = false;
  scheduled.walk([&](graph::GraphModuleOp module) {
    if (auto sparsified =
            module->getAttrOfType<mlir::DictionaryAttr>("sparsified"))
      if (auto predictor = sparsified.getAs<mlir::StringAttr>("predictor"))
        trainsPredictors |= predictor.getValue() == "train";
  });
  if (trainsPredictors)
    return scheduled.emitError(
        "--verify compares the scheduled model's loss and gradients with "
        "the model's, but sparsify predictor=train makes the loss the "
        "predictors': verify the schedule with predictor=oracle");
  std::string error;
  auto reference = compileAndLoad(original, seq, error);
  if (!reference)
    return original.emitError("--verify: the unscheduled model: ") << error;
  auto candidate = compileAndLoad(scheduled, seq, error);
  if (!candidate)
    return scheduled.emitError("--verify: the scheduled model: ") << error;
  // Dropout draws differ between the two graphs (an adapter has its own):
  // compare the deterministic models.
  reference->setTraining(false);
  candidate->setTraining(false);

  // Random weights; adapters get a non-zero B so that they matter.
  std::mt19937_64 random(2024);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  candidate->initialize(7);
  Weights start = snapshot(*candidate);
  // Every value random: zero biases and unit norms would hide mistakes.
  for (auto &[name, values] : start)
    for (float &v : values)
      v += normal(random);
  const rt::Plan &plan = candidate->plan();
  for (const rt::AdapterInfo &adapter : plan.adapters)
    for (float &b : start[adapter.module + ".lora_B.weight"])
      b = normal(random);

  // The unscheduled model sees the merged weights.
  reference->initialize(7);
  Weights merged = snapshot(*reference);
  for (auto &[name, values] : merged)
    if (start.count(name))
      values = start[name];
  for (const rt::AdapterInfo &adapter : plan.adapters) {
    const auto &a = start[adapter.module + ".lora_A.weight"];
    const auto &b = start[adapter.module + ".lora_B.weight"];
    rt::mergeAdapter(adapter, a.data(), b.data(),
                     int64_t(a.size()) / adapter.rank,
                     int64_t(b.size()) / adapter.rank,
                     merged[adapter.module + ".weight"].data());
  }

  std::uniform_int_distribution<int64_t> token(0,
                                               std::max<int64_t>(vocab, 1) - 1);
  std::vector<int64_t> ids(kBatch * seq), targets(kBatch * seq);
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i] = token(random);
    targets[i] = token(random);
  }
  Weights referenceGrads, candidateGrads;
  float referenceLoss =
      gradients(*reference, merged, ids, targets, referenceGrads);
  float candidateLoss =
      gradients(*candidate, start, ids, targets, candidateGrads);

  // Adapter gradients through the merged weight: with G = dL/dW ([out, in]),
  // dL/dB = s G A^T and dL/dA = s B^T G.
  Weights expected;
  for (const rt::AdapterInfo &adapter : plan.adapters) {
    const auto &a = start[adapter.module + ".lora_A.weight"];
    const auto &b = start[adapter.module + ".lora_B.weight"];
    const auto &g = referenceGrads[adapter.module + ".weight"];
    int64_t rank = adapter.rank, in = int64_t(a.size()) / rank,
            out = int64_t(b.size()) / rank;
    double scale = adapter.alpha / double(rank);
    auto gradAt = [&](int64_t o, int64_t i) {
      return double(g[adapter.fanInFanOut ? i * out + o : o * in + i]);
    };
    auto &gb = expected[adapter.module + ".lora_B.weight"];
    auto &ga = expected[adapter.module + ".lora_A.weight"];
    gb.assign(out * rank, 0.0f);
    ga.assign(rank * in, 0.0f);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t r = 0; r < rank; ++r) {
        double sum = 0.0;
        for (int64_t i = 0; i < in; ++i)
          sum += gradAt(o, i) * a[r * in + i];
        gb[o * rank + r] = float(scale * sum);
      }
    for (int64_t r = 0; r < rank; ++r)
      for (int64_t i = 0; i < in; ++i) {
        double sum = 0.0;
        for (int64_t o = 0; o < out; ++o)
          sum += double(b[o * rank + r]) * gradAt(o, i);
        ga[r * in + i] = float(scale * sum);
      }
  }
  for (auto &[name, values] : referenceGrads)
    if (!expected.count(name))
      expected[name] = values;

  double lossError = std::abs(candidateLoss - referenceLoss) /
                     std::max(std::abs(referenceLoss), 1e-30f);
  os << "verify: batch " << kBatch << ", seq " << seq
     << ", random weights and tokens, dropout off\n";
  os << llvm::format("loss: scheduled %.7f, unscheduled %.7f, relative error "
                     "%.2e\n",
                     candidateLoss, referenceLoss, lossError);
  bool ok = lossError <= tolerance;
  int compared = 0, frozen = 0;
  double worst = 0.0;
  // Gradients that vanish next to the largest (nearly uniform attention,
  // a key bias) are rounding noise on both sides: a relative error means
  // nothing there, so they must be negligible in the scheduled model too.
  double largest = 0.0;
  for (const auto &[name, values] : referenceGrads)
    largest = std::max(largest, norm(values));
  double negligible = 1e-6 * largest;
  for (const rt::ParamInfo &p : plan.params) {
    if (!p.trainable) {
      ++frozen;
      continue;
    }
    ++compared;
    if (norm(expected[p.name]) <= negligible) {
      bool bad = norm(candidateGrads[p.name]) > negligible;
      ok &= !bad;
      os << llvm::format("  %-50s zero gradient%s\n", p.name.c_str(),
                         bad ? "  MISMATCH (scheduled one is not)" : "");
      continue;
    }
    double error = relativeError(candidateGrads[p.name], expected[p.name]);
    worst = std::max(worst, error);
    bool bad = error > tolerance;
    ok &= !bad;
    os << llvm::format("  %-50s %.2e%s\n", p.name.c_str(), error,
                       bad ? "  MISMATCH" : "");
  }
  os << "compared " << compared << " gradients (" << frozen
     << " parameters frozen by the schedule); worst relative error "
     << llvm::format("%.2e", worst) << "\n";
  os << (ok ? "verify: OK" : "verify: FAILED") << "\n";
  return mlir::success(ok);
}

} // namespace slapo
