//===- MetricsLog.h - what a training run reports as it goes ---*- C++ -*-===//
//
// --metrics M.jsonl streams one JSON object a line as training goes: a
// line per step, a line per evaluation, then a summary line; each line is
// flushed as it is written, so a run killed at step 19 keeps 19 step
// lines. --metrics M.json writes one object at the end, with the steps
// and evaluations as arrays.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUN_METRICSLOG_H
#define SLAPO_RUN_METRICSLOG_H

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace slapo::run {

/// A predictor-training step's or evaluation's means over the sparsified
/// layers (PredictorReport.h): the recall of the predicted tile masks, the
/// fraction of blocks live per token, predicted per tile and live per tile
/// (the oracle's density).
struct PredictorMeans {
  double recall, live, density, oracleDensity;
};

struct StepRecord {
  int64_t step;
  double loss, lr, tokensPerSecond;
  std::optional<double> gradNorm;
  std::optional<PredictorMeans> predictor = std::nullopt;
};

struct EvalRecord {
  int64_t step;
  double loss;
  int64_t targets; // counted targets evaluated
  std::optional<PredictorMeans> predictor = std::nullopt;
};

class MetricsLog {
public:
  /// Nothing is written without a path. A path that cannot be opened is
  /// refused here, before training starts.
  /// `append` continues a .jsonl stream (a resumed run).
  bool open(const std::string &path, bool append, std::string &error);
  ~MetricsLog();

  void step(const StepRecord &record);
  void eval(const EvalRecord &record);
  /// The run's totals (a JSON object's members, without braces); the
  /// .json form is written here. False, with `error`, if writing failed.
  bool finish(const std::string &summaryMembers, std::string &error);

private:
  void line(const std::string &object);

  std::string path;
  bool streaming = false;
  std::FILE *file = nullptr;
  std::vector<std::string> steps, evals;
  bool failed = false;
};

/// The JSON objects of the records (shortest round-trip numbers).
std::string toJson(const StepRecord &record);
std::string toJson(const EvalRecord &record);

} // namespace slapo::run

#endif // SLAPO_RUN_METRICSLOG_H
