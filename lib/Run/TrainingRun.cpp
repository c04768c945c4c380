//===- TrainingRun.cpp - one training run, as slapo-run does it -----------===//

#include "slapo/Run/TrainingRun.h"
#include "slapo/Run/DeviceGroups.h"
#include "slapo/Run/MetricsLog.h"
#include "slapo/Run/PredictorReport.h"
#include "slapo/Run/ProcessMemory.h"
#include "slapo/Run/Reports.h"
#include "slapo/Run/RunFingerprint.h"
#include "slapo/Runtime/Adapters.h"
#include "slapo/Runtime/Backend.h"
#include "slapo/Runtime/Checkpoint.h"
#include "slapo/Runtime/Data.h"
#include "slapo/Runtime/LrSchedule.h"
#include "slapo/Runtime/Mpi.h"
#include "slapo/Runtime/NonFinite.h"
#include "slapo/Runtime/Plan.h"
#include "slapo/Runtime/Trainer.h"
#include "slapo/Runtime/TrainingState.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iomanip>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <tuple>
#include <utility>
#include <vector>

namespace slapo::run {

using namespace slapo::rt;

namespace {

/// SIGINT or SIGTERM (Slurm's preemption), once one has come.
volatile std::sig_atomic_t stopSignal = 0;
extern "C" void onStopSignal(int signal) { stopSignal = signal; }

/// "" when `path` is a regular file or absent (its reader then says so);
/// otherwise why it cannot be read as `what`.
std::string notAFile(const std::string &path, const char *what) {
  struct stat info {};
  if (path.empty() || ::stat(path.c_str(), &info) != 0 || S_ISREG(info.st_mode))
    return "";
  return path +
         (S_ISDIR(info.st_mode) ? ": is a directory, not "
                                : ": is not a regular file, not ") +
         what;
}

/// "" when a save `option` can write `path` (absent, or what it writes
/// there: a regular file, or a directory); otherwise why not. Checked
/// before training, so that no run trains to nowhere. `eitherForm`: the
/// option writes a file where the name ends in .safetensors.
std::string badSaveTarget(const std::string &path, bool directory,
                          const std::string &option, bool eitherForm) {
  struct stat info {};
  if (path.empty() || ::stat(path.c_str(), &info) != 0 ||
      (directory ? S_ISDIR(info.st_mode) : S_ISREG(info.st_mode)))
    return "";
  if (directory && S_ISREG(info.st_mode))
    return path + ": exists and is not a directory (" + option +
           " writes a directory there" +
           (eitherForm ? " unless the name ends in .safetensors)" : ")");
  return path + ": exists and is not a regular file" +
         (directory ? " or a directory (" + option + " writes a directory"
                    : " (" + option + " writes a .safetensors file") +
         " there)";
}

bool endsWithSafetensors(const std::string &path) {
  return path.size() >= 12 &&
         path.compare(path.size() - 12, 12, ".safetensors") == 0;
}

} // namespace

int train(Job &job, Options options) {
  bool leader = job.rank() == 0;
  // A rank that stops or hangs ends the job after this (--timeout).
  mpi::setCollectiveTimeout(options.timeout);
  std::string error;
  auto stop = [&](const std::string &message) {
    if (leader)
      std::fprintf(stderr, "slapo-run: error: %s\n", message.c_str());
    return 1;
  };

  // Directories and devices where data is read are refused by name, before
  // any rank reads them (reading one would fail mid-way, or block); the
  // plan loader refuses its own.
  for (const std::string *path : {&options.data, &options.evalData})
    if (error = notAFile(*path, "a data file"); !error.empty())
      return stop(error);
  std::unique_ptr<Plan> plan = loadPlan(options.plan, error);
  if (!job.agree(plan != nullptr, error))
    return stop(error);
  if (options.info) {
    // The memory is per device: name the one this rank would run on.
    std::unique_ptr<Backend> device = createBackend(options.device, error);
    if (!job.agree(device != nullptr, error))
      return stop(error);
    if (leader)
      std::printf("%s\n", infoJson(*plan, device->describe()).c_str());
    return 0;
  }
  bool ok = true;
  if (plan->optimizer == "none") {
    ok = false;
    error = options.plan + ": the plan has no optimizer update to train with";
  } else if (plan->tp > 1 &&
             (options.mergeLora || !options.saveAdapter.empty())) {
    ok = false;
    error = "--save-adapter and --merge-lora take plans compiled for tp 1";
  } else if (!options.savePredictors.empty() &&
             (plan->predictorStats < 0 ||
              !endsWithSafetensors(options.savePredictors))) {
    ok = false;
    error = plan->predictorStats < 0
                ? "--save-predictors: " + options.plan +
                      " trains no sparsity predictor (compile it with "
                      "`sparsify ... predictor=train`)"
                : "--save-predictors writes a .safetensors file, got '" +
                      options.savePredictors + "'";
  }
  // Where the run will write, checked before it trains.
  for (auto [path, option, eitherForm] :
       {std::tuple{&options.save, "--save", true},
        std::tuple{&options.saveBest, "--save-best", true},
        std::tuple{&options.saveState, "--save-state", false},
        std::tuple{&options.saveAdapter, "--save-adapter", false},
        std::tuple{&options.savePredictors, "--save-predictors", true}}) {
    bool directory = !eitherForm || !endsWithSafetensors(*path);
    if (std::string bad = badSaveTarget(*path, directory, option, eitherForm);
        ok && !bad.empty()) {
      ok = false;
      error = bad;
    }
  }
  if (!job.agree(ok, error))
    return stop(error);
  // Only a job of several ranks reads the plan, data and weights again to
  // compare. A rank that cannot read its weights says so first.
  if (job.size() > 1) {
    if (!job.same(runFingerprint(options), "plan, data or options", error))
      return stop(error);
    uint64_t weights = weightsFingerprint(options, error);
    if (!job.agree(options.init.empty() || weights != 0, error) ||
        !job.same(weights, "--init or --init-adapter weights", error))
      return stop(error);
  }
  if (!job.agree(job.formGroups(plan->tp, error), error))
    return stop(error);
  int64_t dp = job.size() / plan->tp;

  std::unique_ptr<Dataset> data =
      options.data.empty()
          ? Dataset::builtin(plan->vocabSize, error)
          : Dataset::open(options.data, plan->vocabSize, error);
  if (data && options.pack && !data->pack(plan->seq, error))
    data.reset();
  if (!job.agree(data != nullptr, error))
    return stop(error);
  std::unique_ptr<Dataset> evalData;
  if (!options.evalData.empty()) {
    evalData = Dataset::open(options.evalData, plan->vocabSize, error);
    if (evalData && evalData->rowCount(plan->seq) == 0) {
      error = options.evalData +
              ": the evaluation data is shorter than one "
              "row of " +
              std::to_string(plan->seq + 1) + " tokens";
      evalData.reset();
    }
    if (!job.agree(evalData != nullptr, error))
      return stop(error);
  }

  startThreadPools();
  uint64_t baseline = residentBytes();
  int64_t seq = plan->seq;
  int64_t batch = options.batch ? options.batch : plan->batch * dp;
  // A step's ids and targets are batch x seq tokens each, on the host.
  constexpr int64_t kMaxStepTokens = int64_t(1) << 31;
  if (batch > kMaxStepTokens / std::max<int64_t>(seq, 1))
    return stop("--batch " + std::to_string(batch) + ": " +
                std::to_string(batch) + " rows of " + std::to_string(seq) +
                " tokens is more than 2^31 tokens a step");
  uint64_t plannedPeak = plan->memory.peak;
  // Steps that accumulate micro-batches or reduce over data-parallel ranks
  // also hold the plan's gradient accumulator.
  if (dp > 1 || batch > plan->batch * dp)
    plannedPeak += plan->memory.accumulator;
  std::unique_ptr<Backend> backend = createBackend(options.device, error);
  // A device backend's collectives take its memory: its tp and dp groups
  // are NCCL communicators bootstrapped over the job's MPI groups.
  // Every rank must have its device before any joins a group: joining is
  // collective.
  if (!job.agree(backend != nullptr, error))
    return stop(error);
  DeviceGroups deviceGroups;
  if (!job.agree(deviceGroups.join(*backend, job.groups(), error), error))
    return stop(error);
  std::unique_ptr<Trainer> trainer =
      Trainer::create(std::move(plan), std::move(backend),
                      deviceGroups.orHost(job.groups()), error);
  ok = trainer && trainer->checkGlobalBatch(batch, error);
  Trainer::LoadReport loaded;
  uint64_t planFingerprint = fileFingerprint(options.plan);
  // The data and the order its rows are read in: a state resumed with
  // other data, or another packing or order, is warned about.
  uint64_t dataFingerprint =
      options.data.empty() ? 0 : fileFingerprint(options.data);
  if (options.pack || options.shuffle)
    for (bool flag : {options.pack, options.shuffle})
      dataFingerprint = fingerprint(&flag, sizeof flag, dataFingerprint);
  TrainingProgress progress;
  if (ok) {
    trainer->initialize(options.seed);
    if (!options.resume.empty())
      ok = loadTrainingState(*trainer, options.resume, planFingerprint,
                             progress, error);
    else
      ok = options.init.empty() ||
           trainer->loadWeights(options.init, error, &loaded);
    // A resumed state's weights skip them as --init does.
    ok = ok && trainer->loadParameterFiles(error);
  }
  if (ok && !options.resume.empty() && progress.data != dataFingerprint &&
      leader)
    std::fprintf(stderr,
                 "slapo-run: warning: %s was trained on other data than "
                 "this run's: it continues, but not as the first run would "
                 "have\n",
                 options.resume.c_str());
  if (ok && !options.initAdapter.empty())
    ok = loadAdapter(*trainer, options.initAdapter, error);
  if (!job.agree(ok, error))
    return stop(error);
  if (leader)
    reportLoad(options, loaded);
  // The order is the run's seed's: a resumed run's is its state's.
  int64_t rows = data->rowCount(seq);
  if ((options.shuffle || options.epochs) && rows == 0)
    return stop(data->description() + ": shorter than one row of " +
                std::to_string(seq + 1) + " tokens, so it has no row to " +
                (options.epochs ? "count epochs in" : "shuffle"));
  if (options.shuffle)
    data->shuffle(trainer->initialSeed());
  if (options.epochs)
    options.steps = (options.epochs * rows + batch - 1) / batch;
  if (options.warmupRatio > 0.0)
    options.warmupSteps =
        int64_t(std::ceil(options.warmupRatio * double(options.steps)));
  if (leader && !options.data.empty() &&
      (options.epochs || data->paddingFraction(seq) > 0)) {
    char padding[32];
    std::snprintf(padding, sizeof padding, "%.1f%%",
                  100.0 * data->paddingFraction(seq));
    std::string line = options.data + ": " + std::to_string(rows) +
                       " rows of " + std::to_string(seq) + " tokens" +
                       (options.pack ? " (examples packed), " : ", ") +
                       padding + " padding";
    if (options.epochs)
      line += "; " + std::to_string(options.epochs) +
              (options.epochs == 1 ? " epoch is " : " epochs are ") +
              std::to_string(options.steps) + " steps";
    std::fprintf(stderr, "slapo-run: %s\n", line.c_str());
  }

  ok = trainer->setMaxGradNorm(options.maxGradNorm, error);
  if (ok && evalData && !trainer->hasEvaluation()) {
    ok = false;
    error = options.plan + ": the plan has no eval_step entry (it was "
                           "compiled by an older slapo-opt): compile it again";
  }
  MetricsLog metrics;
  if (ok && leader)
    ok = metrics.open(options.metrics, !options.resume.empty(), error);
  if (!job.agree(ok, error))
    return stop(error);
  trainer->setBucketBytes(uint64_t(options.bucketMiB * 1048576.0));
  LrSchedule schedule;
  parseLrScheduleKind(options.lrSchedule, schedule.kind);
  schedule.peak = options.lr;
  schedule.warmupSteps = options.warmupSteps;
  schedule.totalSteps = options.steps;
  if (options.profile)
    trainer->enableProfiling();
  ProgressLine progressLine(leader, options.steps);
  double lastLoss = 0.0, trainingSeconds = 0.0;
  double bestEval = progress.hasBestEval
                        ? progress.bestEval
                        : std::numeric_limits<double>::infinity();
  // The state every step leaves: saved every --save-every steps, at the end
  // and when a signal stops the run.
  auto saveState = [&](int64_t done) {
    TrainingProgress now{done,
                         trainer->initialSeed(),
                         bestEval,
                         std::isfinite(bestEval),
                         planFingerprint,
                         dataFingerprint};
    return saveTrainingState(*trainer, options.saveState, now,
                             options.saveTotalLimit, error);
  };
  int64_t savedAt = -1, interrupted = 0, done = progress.step;
  int64_t skippedSteps = 0;
  trainer->setSkipNonFiniteUpdates(true);
  std::vector<int64_t> ids(size_t(batch * seq)), targets(ids.size());
  // A predictor-training plan's statistics: of the last evaluation, or
  // without evaluation data of the last step.
  std::vector<double> predictorSums;
  int64_t predictorBatches = 0;
  std::string predictorData;
  // The evaluation set, whole (or its first --eval-batches batches): the
  // mean loss over every counted target. Keeps the best weights.
  auto evaluate = [&](int64_t afterStep) {
    int64_t rows = evalData->rowCount(seq);
    int64_t batches = (rows + batch - 1) / batch;
    if (options.evalBatches)
      batches = std::min(batches, options.evalBatches);
    Trainer::Evaluation total;
    std::vector<double> stats;
    for (int64_t b = 0; b < batches; ++b) {
      evalData->fill(b, batch, seq, ids.data(), targets.data());
      // The last batch's rows past the end would wrap to the start.
      for (int64_t row = std::max<int64_t>(0, rows - b * batch); row < batch;
           ++row)
        std::fill_n(targets.begin() + row * seq, seq, kIgnoreIndex);
      Trainer::Evaluation part =
          trainer->evaluate(ids.data(), targets.data(), batch);
      total.lossSum += part.lossSum;
      total.targets += part.targets;
      stats.resize(part.predictorStats.size(), 0.0);
      for (size_t i = 0; i < stats.size(); ++i)
        stats[i] += part.predictorStats[i];
      total.microBatches += part.microBatches;
    }
    if (total.targets == 0) {
      error = options.evalData + ": no target of the evaluation data counts";
      return false;
    }
    double loss = total.lossSum / double(total.targets);
    EvalRecord record{afterStep, loss, total.targets};
    if (!stats.empty()) {
      record.predictor = predictorMeans(stats, total.microBatches);
      predictorSums = stats;
      predictorBatches = total.microBatches;
      predictorData = "the evaluation data (" + options.evalData + ")";
    }
    metrics.eval(record);
    if (leader) {
      progressLine.breakLine();
      if (record.predictor)
        std::fprintf(stderr,
                     "eval after step %lld: predictor loss %.4f  recall "
                     "%.4f  density %.4f (oracle %.4f)\n",
                     (long long)afterStep, loss, record.predictor->recall,
                     record.predictor->density,
                     record.predictor->oracleDensity);
      else
        std::fprintf(stderr,
                     "eval after step %lld: loss %.4f  perplexity %.2f\n",
                     (long long)afterStep, loss, std::exp(loss));
    }
    if (!options.saveBest.empty() && loss < bestEval) {
      bestEval = loss;
      return trainer->saveWeights(options.saveBest, error, options.saveOptions);
    }
    return true;
  };
  // --steps 0 evaluates the initial weights only.
  if (evalData && options.steps == 0 && !job.agree(evaluate(0), error))
    return stop(error);
  if (leader && progress.step > 0)
    std::fprintf(stderr, "resuming after step %lld of %lld\n",
                 (long long)progress.step, (long long)options.steps);
  std::signal(SIGINT, onStopSignal);
  std::signal(SIGTERM, onStopSignal);
  for (int64_t s = progress.step; s < options.steps; ++s) {
    data->fill(s, batch, seq, ids.data(), targets.data());
    // A batch without a counted target would still move AdamW's state and
    // decay the weights: never trained silently.
    if (std::all_of(targets.begin(), targets.end(),
                    [](int64_t t) { return t == kIgnoreIndex; }))
      return stop("step " + std::to_string(s + 1) + ": no target of its " +
                  std::to_string(batch) + " rows counts (" +
                  data->description() + ")");
    auto start = std::chrono::steady_clock::now();
    double lr = schedule.at(s);
    float loss = trainer->step(ids.data(), targets.data(), batch, lr);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    trainingSeconds += seconds;
    double tokensPerSecond = double(batch * seq) / seconds;
    lastLoss = loss;
    done = s + 1;
    std::optional<double> gradNorm;
    if (trainer->hasGradientNorm())
      gradNorm = trainer->gradientNorm();
    StepRecord record{s + 1, loss, lr, tokensPerSecond, gradNorm};
    if (std::vector<float> stats = trainer->predictorStats(); !stats.empty()) {
      std::vector<double> sums(stats.begin(), stats.end());
      record.predictor = predictorMeans(sums, 1);
      if (!evalData) {
        predictorSums = std::move(sums);
        predictorBatches = 1;
        predictorData = "the last training batch";
      }
    }
    metrics.step(record);
    // A non-finite loss (or gradient norm) would train every later step
    // to nan: the trainer applied no update for it; the run stops, or
    // with --skip-nonfinite-steps goes on past it. Every rank saw the
    // same reduced loss.
    if (trainer->lastUpdateSkipped()) {
      std::string what =
          (std::isfinite(loss) ? "gradient norm is " + nonFiniteName(*gradNorm)
                               : "loss is " + nonFiniteName(loss)) +
          " at step " + std::to_string(s + 1);
      if (!options.skipNonFiniteSteps) {
        progressLine.breakLine();
        return stop(what + " (its update was not applied; "
                           "--skip-nonfinite-steps skips such steps)");
      }
      ++skippedSteps;
      if (leader) {
        progressLine.breakLine();
        std::fprintf(stderr, "slapo-run: warning: %s: its update is skipped\n",
                     what.c_str());
      }
    }
    bool evaluating =
        evalData && ((options.evalEvery && (s + 1) % options.evalEvery == 0) ||
                     s + 1 == options.steps);
    progressLine.step(s + 1, loss, lr, tokensPerSecond);
    if (evaluating && !job.agree(evaluate(s + 1), error))
      return stop(error);
    if (!options.saveState.empty() && options.saveEvery &&
        (s + 1) % options.saveEvery == 0) {
      if (!job.agree(saveState(s + 1), error))
        return stop(error);
      savedAt = s + 1;
    }
    // Every rank stops after the same step: the signal may reach one.
    interrupted = stopSignal;
    if (job.size() > 1)
      job.world().allReduce(&interrupted, 1, ReduceOp::Max);
    if (interrupted) {
      if (leader)
        std::fprintf(stderr, "\nslapo-run: %s after step %lld: stopping\n",
                     interrupted == SIGINT ? "SIGINT" : "SIGTERM",
                     (long long)(s + 1));
      if (!options.saveState.empty() && savedAt != s + 1) {
        if (!job.agree(saveState(s + 1), error))
          return stop(error);
        savedAt = s + 1;
      }
      break;
    }
  }
  if (!options.saveState.empty() && !interrupted &&
      savedAt != std::max(options.steps, progress.step)) {
    if (!job.agree(saveState(std::max(options.steps, progress.step)), error))
      return stop(error);
  }
  progressLine.breakLine();
  // The job's peak is its largest rank's.
  // On a device backend the peak is the device's (as it counts its memory
  // in use); on the host, the process's resident memory.
  const Backend &device = trainer->backend();
  bool onDevice = device.space() == MemorySpace::Device;
  int64_t measuredPeak = onDevice ? int64_t(device.peakDeviceBytes())
                                  : int64_t(peakResidentBytes() - baseline);
  job.world().allReduce(&measuredPeak, 1, ReduceOp::Max);
  ProcessGroups groups = deviceGroups.orHost(job.groups());
  double communication = groups.tp->seconds() + groups.dp->seconds();
  if (leader) {
    std::printf("trained %lld steps on %s: final loss %.4f, peak memory%s%s "
                "%.1f MiB (planned %.1f MiB)\n",
                (long long)done, data->description().c_str(), lastLoss,
                onDevice ? " on " : "",
                onDevice ? device.describe().c_str() : "",
                measuredPeak / 1048576.0, plannedPeak / 1048576.0);
    if (skippedSteps)
      std::fprintf(stderr,
                   "slapo-run: %lld of the steps applied no update (a "
                   "non-finite loss or gradient norm)\n",
                   (long long)skippedSteps);
    if (job.size() > 1)
      std::printf(
          "%d processes (tp %d x dp %lld), %lld rows a step: "
          "communication %.1f%% of the step time on rank 0\n",
          job.size(), trainer->plan().tp, (long long)dp, (long long)batch,
          trainingSeconds > 0 ? 100.0 * communication / trainingSeconds : 0.0);
  }

  if (options.profile && leader)
    printProfile(trainer->profile(), options.steps);
  if (leader && !predictorSums.empty())
    printPredictorTable(stdout, predictorLayers(trainer->plan()), predictorSums,
                        predictorBatches, predictorData);

  std::ostringstream summary;
  summary << std::setprecision(17) << "\"final_loss\": " << lastLoss
          << ", \"peak_memory_bytes\": " << measuredPeak
          << ", \"planned_peak_bytes\": " << plannedPeak
          << ", \"processes\": " << job.size()
          << ", \"tp\": " << trainer->plan().tp << ", \"dp\": " << dp
          << ", \"batch\": " << batch
          << ", \"training_seconds\": " << trainingSeconds
          << ", \"communication_seconds\": " << communication
          << ", \"steps_done\": " << done;
  if (skippedSteps)
    summary << ", \"skipped_steps\": " << skippedSteps;
  if (interrupted)
    summary << ", \"interrupted_by\": \""
            << (interrupted == SIGINT ? "SIGINT" : "SIGTERM") << "\"";
  // Metrics that cannot be written fail the run, but only after the
  // weights are saved: the training is not lost with them (and every rank
  // takes part in the save, which gathers over the tensor-parallel group).
  std::string metricsError;
  bool metricsOk = !leader || metrics.finish(summary.str(), metricsError);
  // A stopped run saved its state (with --save-state) and its metrics; it
  // writes no final weights, and says it did not finish.
  if (interrupted) {
    if (!job.agree(metricsOk, metricsError))
      return stop(metricsError);
    if (leader && !options.saveState.empty())
      std::fprintf(stderr,
                   "slapo-run: state saved in %s: continue with "
                   "--resume %s\n",
                   options.saveState.c_str(), options.saveState.c_str());
    return 128 + int(interrupted);
  }
  bool directory = !endsWithSafetensors(options.save);
  if (!options.save.empty() && directory && leader &&
      trainer->plan().hfConfig.empty())
    std::fprintf(stderr,
                 "slapo-run: warning: the plan carries no config.json (its "
                 "model was not imported by slapo-import from one): %s gets "
                 "the weights only\n",
                 options.save.c_str());
  ok = true;
  if (!options.save.empty())
    ok = options.mergeLora
             ? !trainer->writesFiles() ||
                   saveMergedWeights(*trainer, options.save, error,
                                     options.saveOptions)
             : trainer->saveWeights(options.save, error, options.saveOptions);
  if (ok && !options.saveAdapter.empty() && trainer->writesFiles())
    ok = saveAdapter(*trainer, options.saveAdapter, error);
  if (ok && !options.savePredictors.empty() && trainer->writesFiles())
    ok = savePredictors(*trainer, options.savePredictors, error);
  if (!job.agree(ok, error))
    return stop(error);
  if (!job.agree(metricsOk, metricsError))
    return stop(metricsError);
  return 0;
}

} // namespace slapo::run
