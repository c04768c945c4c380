//===- MetricsLog.cpp - what a training run reports as it goes ------------===//

#include "slapo/Run/MetricsLog.h"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace slapo::run {

namespace {

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// A JSON number: 17 significant digits, null where JSON has none.
std::string number(double value) {
  if (!std::isfinite(value))
    return "null";
  std::ostringstream out;
  out << std::setprecision(17) << value;
  return out.str();
}

std::string joined(const std::vector<std::string> &objects) {
  std::string text;
  for (size_t i = 0; i < objects.size(); ++i)
    text += (i ? ", " : "") + objects[i];
  return text;
}

/// The predictor members of a record, with `prefix` ("" or "eval_").
std::string predictorMembers(const std::optional<PredictorMeans> &m,
                             const std::string &prefix) {
  if (!m)
    return "";
  return ", \"" + prefix + "predictor_recall\": " + number(m->recall) + ", \"" +
         prefix + "predictor_density\": " + number(m->density) + ", \"" +
         prefix + "oracle_density\": " + number(m->oracleDensity) + ", \"" +
         prefix + "live_fraction\": " + number(m->live);
}

} // namespace

std::string toJson(const StepRecord &r) {
  std::string text = "{\"step\": " + std::to_string(r.step) +
                     ", \"loss\": " + number(r.loss) +
                     ", \"lr\": " + number(r.lr);
  if (r.gradNorm)
    text += ", \"grad_norm\": " + number(*r.gradNorm);
  return text + predictorMembers(r.predictor, "") +
         ", \"tokens_per_s\": " + number(r.tokensPerSecond) + "}";
}

std::string toJson(const EvalRecord &r) {
  // A predictor's loss is no language model's: it has no perplexity.
  return "{\"step\": " + std::to_string(r.step) +
         ", \"eval_loss\": " + number(r.loss) +
         (r.predictor ? std::string()
                      : ", \"eval_perplexity\": " + number(std::exp(r.loss))) +
         ", \"eval_targets\": " + std::to_string(r.targets) +
         predictorMembers(r.predictor, "eval_") + "}";
}

bool MetricsLog::open(const std::string &where, bool append,
                      std::string &error) {
  path = where;
  if (path.empty())
    return true;
  streaming = endsWith(path, ".jsonl");
  // The .json form is written at the end, but its file is made now, so a
  // path that cannot be written fails before training.
  file = std::fopen(path.c_str(), streaming && append ? "a" : "w");
  if (!file) {
    error = path + ": cannot write the metrics";
    return false;
  }
  return true;
}

MetricsLog::~MetricsLog() {
  if (file)
    std::fclose(file);
}

void MetricsLog::line(const std::string &object) {
  if (std::fputs((object + "\n").c_str(), file) < 0 || std::fflush(file) != 0)
    failed = true;
}

void MetricsLog::step(const StepRecord &record) {
  if (!file)
    return;
  if (streaming)
    line(toJson(record));
  else
    steps.push_back(toJson(record));
}

void MetricsLog::eval(const EvalRecord &record) {
  if (!file)
    return;
  if (streaming)
    line(toJson(record));
  else
    evals.push_back(toJson(record));
}

bool MetricsLog::finish(const std::string &summaryMembers, std::string &error) {
  if (!file)
    return true;
  if (streaming)
    line("{\"summary\": {" + summaryMembers + "}}");
  else
    line("{\"steps\": [" + joined(steps) + "], \"evals\": [" + joined(evals) +
         "], " + summaryMembers + "}");
  failed = std::fclose(file) != 0 || failed;
  file = nullptr;
  if (failed)
    error = path + ": cannot write the metrics";
  return !failed;
}

} // namespace slapo::run
