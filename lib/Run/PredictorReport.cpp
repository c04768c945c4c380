//===- PredictorReport.cpp - a predictor-training run's results ----------===//

#include "slapo/Run/PredictorReport.h"

#include "slapo/Runtime/Safetensors.h"

namespace slapo::run {

namespace {

constexpr const char *kPredictorModule = ".sparsity_predictor.";

bool isTrainedPredictor(const rt::ParamInfo &param) {
  return param.addedBy == "sparsify" && param.trainable;
}

} // namespace

// A predictor's owner is the module sparsify named: a layer for its MLP, a
// self_attn for an attention.
std::vector<std::string> predictorLayers(const rt::Plan &plan) {
  std::vector<std::string> layers;
  for (const rt::ParamInfo &param : plan.params) {
    size_t at = param.name.rfind(kPredictorModule);
    if (!isTrainedPredictor(param) || at == std::string::npos || at == 0)
      continue;
    std::string owner = param.name.substr(0, at);
    if (layers.empty() || layers.back() != owner)
      layers.push_back(owner);
  }
  return layers;
}

PredictorMeans predictorMeans(const std::vector<double> &sums,
                              int64_t batches) {
  PredictorMeans means{0, 0, 0, 0};
  size_t layers = sums.size() / 4;
  if (layers == 0 || batches <= 0)
    return means;
  double covered = 0, live = 0, predicted = 0, oracle = 0;
  for (size_t l = 0; l < layers; ++l) {
    covered += sums[4 * l];
    live += sums[4 * l + 1];
    predicted += sums[4 * l + 2];
    oracle += sums[4 * l + 3];
  }
  double n = double(layers) * double(batches);
  means.recall = live > 0 ? covered / live : 1.0;
  means.live = live / n;
  means.density = predicted / n;
  means.oracleDensity = oracle / n;
  return means;
}

void printPredictorTable(std::FILE *out, const std::vector<std::string> &layers,
                         const std::vector<double> &sums, int64_t batches,
                         const std::string &where) {
  std::fprintf(out,
               "sparsity predictors on %s (fractions of blocks; recall: live "
               "(token, block) pairs whose tile is predicted live):\n",
               where.c_str());
  std::fprintf(out, "  %-32s %8s %8s %8s %8s\n", "layer", "live", "recall",
               "density", "oracle");
  auto row = [&](const std::string &name, const PredictorMeans &m) {
    std::fprintf(out, "  %-32s %8.4f %8.4f %8.4f %8.4f\n", name.c_str(), m.live,
                 m.recall, m.density, m.oracleDensity);
  };
  for (size_t l = 0; l < sums.size() / 4; ++l) {
    std::vector<double> one(sums.begin() + 4 * l, sums.begin() + 4 * l + 4);
    row(l < layers.size() ? layers[l] : "layer " + std::to_string(l),
        predictorMeans(one, batches));
  }
  row("mean", predictorMeans(sums, batches));
}

bool savePredictors(const rt::Trainer &trainer, const std::string &path,
                    std::string &error) {
  std::vector<rt::NamedTensor> tensors;
  for (const rt::ParamInfo &param : trainer.plan().params)
    if (isTrainedPredictor(param)) {
      rt::NamedTensor tensor{
          param.name, trainer.plan().tensors[param.tensor].shape, nullptr, {}};
      tensor.read = [&trainer, &param] { return trainer.fullParameter(param); };
      tensors.push_back(std::move(tensor));
    }
  if (tensors.empty()) {
    error = "--save-predictors: the plan trains no sparsity predictor "
            "(compile it with `sparsify ... predictor=train`)";
    return false;
  }
  return rt::writeSafetensors(
      path, tensors,
      {{"format", "pt"}, {"written_by", "slapo-run --save-predictors"}}, error);
}

} // namespace slapo::run
