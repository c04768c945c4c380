//===- slapo-run.cpp - train a compiled .splan on CPU ---------------------===//
//
//   [mpirun -np P] slapo-run model.splan [--data FILE] [--steps N | --epochs N]
//             [--lr X] [--init W.safetensors] [--save W.safetensors] ...
//
// (Options.h; slapo-run --help lists them.) Thin: options, then the runtime
// library. No MLIR or LLVM here. Under an
// MPI launcher the P processes form tp-sized tensor-parallel groups (the
// plan's tp) and P/tp data-parallel ranks; rank 0 prints and writes.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Adapters.h"
#include "slapo/Runtime/Backend.h"
#include "slapo/Runtime/Checkpoint.h"
#include "slapo/Runtime/Data.h"
#include "slapo/Runtime/Job.h"
#include "slapo/Runtime/LrSchedule.h"
#include "slapo/Runtime/OpenBlasCore.h"
#include "slapo/Runtime/Plan.h"
#include "slapo/Runtime/Trainer.h"
#include "slapo/Runtime/TrainingState.h"

#include "MetricsLog.h"
#include "Options.h"

#include <algorithm>
#include <cblas.h>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

using namespace slapo::rt;
using slapo::run::MetricsLog;
using slapo::run::Options;
using slapo::run::ParseOutcome;

namespace {

/// SIGINT or SIGTERM (Slurm's preemption), once one has come.
volatile std::sig_atomic_t stopSignal = 0;
extern "C" void onStopSignal(int signal) { stopSignal = signal; }

int fail(const std::string &message) {
  std::fprintf(stderr, "slapo-run: error: %s\n", message.c_str());
  return 1;
}

/// Bytes of `path`, hashed ("" hashes to the empty fingerprint).
uint64_t fileFingerprint(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  return fingerprint(bytes.data(), bytes.size());
}

/// What decides the trajectory besides the weights: every rank must run the
/// same.
uint64_t runFingerprint(const Options &o) {
  uint64_t hash = fileFingerprint(o.plan);
  hash = fingerprint(&o.steps, sizeof o.steps, hash);
  hash = fingerprint(&o.epochs, sizeof o.epochs, hash);
  for (bool flag : {o.shuffle, o.pack})
    hash = fingerprint(&flag, sizeof flag, hash);
  hash = fingerprint(&o.batch, sizeof o.batch, hash);
  hash = fingerprint(&o.lr, sizeof o.lr, hash);
  hash = fingerprint(o.lrSchedule.data(), o.lrSchedule.size(), hash);
  hash = fingerprint(&o.warmupSteps, sizeof o.warmupSteps, hash);
  hash = fingerprint(&o.warmupRatio, sizeof o.warmupRatio, hash);
  hash = fingerprint(&o.maxGradNorm, sizeof o.maxGradNorm, hash);
  hash = fingerprint(&o.evalEvery, sizeof o.evalEvery, hash);
  hash = fingerprint(&o.evalBatches, sizeof o.evalBatches, hash);
  hash = fingerprint(&o.saveEvery, sizeof o.saveEvery, hash);
  hash = fingerprint(o.resume.data(), o.resume.size(), hash);
  for (bool flag :
       {!o.evalData.empty(), !o.saveBest.empty(), !o.saveState.empty()})
    hash = fingerprint(&flag, sizeof flag, hash);
  hash = fingerprint(&o.seed, sizeof o.seed, hash);
  // Options that change which collectives run, and their counts.
  hash = fingerprint(&o.bucketMiB, sizeof o.bucketMiB, hash);
  for (bool flag : {!o.save.empty(), o.mergeLora, !o.saveAdapter.empty()})
    hash = fingerprint(&flag, sizeof flag, hash);
  hash = fingerprint(o.device.data(), o.device.size(), hash);
  for (const std::string *file : {&o.data, &o.evalData})
    if (!file->empty()) {
      uint64_t bytes = fileFingerprint(*file);
      hash = fingerprint(&bytes, sizeof bytes, hash);
    }
  return hash;
}

/// The weights every rank starts from: every byte of the files the
/// checkpoint and the adapter resolve to (an index's shards, not the
/// directory's other files). 0 with `error` when one cannot be read.
uint64_t weightsFingerprint(const Options &o, std::string &error) {
  uint64_t hash = 0;
  if (!o.init.empty()) {
    std::unique_ptr<Checkpoint> checkpoint = Checkpoint::open(o.init, error);
    if (!checkpoint)
      return 0;
    uint64_t bytes = checkpoint->fingerprint();
    hash = fingerprint(&bytes, sizeof bytes, hash);
  }
  if (!o.initAdapter.empty())
    for (const char *file :
         {"/adapter_config.json", "/adapter_model.safetensors"}) {
      uint64_t bytes = fileFingerprint(o.initAdapter + file);
      hash = fingerprint(&bytes, sizeof bytes, hash);
    }
  return hash;
}

/// Warns about what --init left out: no tensor is ignored silently.
void reportLoad(const Options &options, const Trainer::LoadReport &loaded) {
  auto list = [](const std::vector<std::string> &names) {
    std::string text;
    for (size_t i = 0; i < names.size() && i < 8; ++i)
      text += (i ? ", " : "") + names[i];
    if (names.size() > 8)
      text += " and " + std::to_string(names.size() - 8) + " more";
    return text;
  };
  if (!loaded.unused.empty())
    std::fprintf(stderr,
                 "slapo-run: warning: %s: %zu tensor%s the model does not "
                 "use: %s\n",
                 options.init.c_str(), loaded.unused.size(),
                 loaded.unused.size() == 1 ? "" : "s",
                 list(loaded.unused).c_str());
  if (!loaded.initialised.empty() && options.initAdapter.empty())
    std::fprintf(stderr,
                 "slapo-run: %s has no %zu parameter%s the schedule added: "
                 "initialised as PEFT does (%s)\n",
                 options.init.c_str(), loaded.initialised.size(),
                 loaded.initialised.size() == 1 ? "" : "s",
                 list(loaded.initialised).c_str());
}

std::string infoJson(const Plan &plan) {
  const MemoryTotals &m = plan.memory;
  std::ostringstream out;
  out << "{\"world_size\": " << plan.worldSize << ", \"tp\": " << plan.tp
      << ", \"batch\": " << plan.batch << ", \"seq\": " << plan.seq
      << ", \"parameters\": " << plan.parameterCount()
      << ", \"trainable_parameters\": " << plan.trainableParameterCount()
      << ", \"memory\": {\"params\": " << m.params << ", \"grads\": " << m.grads
      << ", \"optimizer\": " << m.optimizer
      << ", \"activations\": " << m.activations
      << ", \"workspace\": " << m.workspace << ", \"peak\": " << m.peak
      << ", \"accumulator\": " << m.accumulator << "}}";
  return out.str();
}

/// Resident memory now, in bytes (Linux /proc).
uint64_t residentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

uint64_t peakResidentBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return uint64_t(usage.ru_maxrss) * 1024;
}

/// Starts OpenBLAS's and OpenMP's threads and buffers, so the memory
/// baseline taken afterwards leaves them out.
void warmUp() {
  std::vector<float> a(64 * 64, 1.0f), c(64 * 64);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 64, 64, 64, 1.0f,
              a.data(), 64, a.data(), 64, 0.0f, c.data(), 64);
  volatile float sink = 0.0f;
#pragma omp parallel
  sink = sink + 1.0f;
}

int run(Job &job, int argc, char **argv) {
  bool leader = job.rank() == 0;
  auto stop = [&](const std::string &message) {
    if (leader)
      fail(message);
    return 1;
  };
  Options options;
  std::string error;
  ParseOutcome parsed = parseOptions(argc, argv, options, error);
  if (parsed == ParseOutcome::Help) {
    if (leader)
      std::fputs(error.c_str(), stdout);
    return 0;
  }
  if (!job.agree(parsed == ParseOutcome::Run, error))
    return stop(error);

  std::unique_ptr<Plan> plan = loadPlan(options.plan, error);
  if (!job.agree(plan != nullptr, error))
    return stop(error);
  if (options.info) {
    if (leader)
      std::printf("%s\n", infoJson(*plan).c_str());
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

  warmUp();
  uint64_t baseline = residentBytes();
  int64_t seq = plan->seq;
  int64_t batch = options.batch ? options.batch : plan->batch * dp;
  uint64_t plannedPeak = plan->memory.peak;
  // Steps that accumulate micro-batches or reduce over data-parallel ranks
  // also hold the plan's gradient accumulator.
  if (dp > 1 || batch > plan->batch * dp)
    plannedPeak += plan->memory.accumulator;
  std::unique_ptr<Backend> backend = createBackend(options.device, error);
  std::unique_ptr<Trainer> trainer =
      backend ? Trainer::create(std::move(plan), std::move(backend),
                                job.groups(), error)
              : nullptr;
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
  bool terminal = leader && isatty(fileno(stderr));
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
  std::vector<int64_t> ids(size_t(batch * seq)), targets(ids.size());
  // The evaluation set, whole (or its first --eval-batches batches): the
  // mean loss over every counted target. Keeps the best weights.
  auto evaluate = [&](int64_t afterStep) {
    int64_t rows = evalData->rowCount(seq);
    int64_t batches = (rows + batch - 1) / batch;
    if (options.evalBatches)
      batches = std::min(batches, options.evalBatches);
    Trainer::Evaluation total;
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
    }
    if (total.targets == 0) {
      error = options.evalData + ": no target of the evaluation data counts";
      return false;
    }
    double loss = total.lossSum / double(total.targets);
    metrics.eval({afterStep, loss, total.targets});
    if (leader) {
      if (terminal)
        std::fputc('\n', stderr);
      std::fprintf(stderr, "eval after step %lld: loss %.4f  perplexity %.2f\n",
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
    metrics.step({s + 1, loss, lr, tokensPerSecond, gradNorm});
    bool evaluating =
        evalData && ((options.evalEvery && (s + 1) % options.evalEvery == 0) ||
                     s + 1 == options.steps);
    if (leader) {
      if (terminal) {
        int width = 30, done = int(width * (s + 1) / options.steps);
        std::fprintf(stderr,
                     "\r[%.*s%*s] step %lld/%lld  loss %.4f  lr %.3g  %.0f "
                     "tok/s",
                     done, "##############################", width - done, "",
                     (long long)(s + 1), (long long)options.steps, loss, lr,
                     tokensPerSecond);
      } else if ((s + 1) % std::max<int64_t>(1, options.steps / 10) == 0 ||
                 s == 0) {
        std::fprintf(stderr, "step %lld/%lld  loss %.4f  lr %.3g  %.0f tok/s\n",
                     (long long)(s + 1), (long long)options.steps, loss, lr,
                     tokensPerSecond);
      }
    }
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
  if (terminal)
    std::fputc('\n', stderr);
  // The job's peak is its largest rank's.
  int64_t measuredPeak = int64_t(peakResidentBytes() - baseline);
  job.world().allReduce(&measuredPeak, 1, ReduceOp::Max);
  ProcessGroups groups = job.groups();
  double communication = groups.tp->seconds() + groups.dp->seconds();
  if (leader) {
    std::printf("trained %lld steps on %s: final loss %.4f, peak memory %.1f "
                "MiB (planned %.1f MiB)\n",
                (long long)done, data->description().c_str(), lastLoss,
                measuredPeak / 1048576.0, plannedPeak / 1048576.0);
    if (job.size() > 1)
      std::printf(
          "%d processes (tp %d x dp %lld), %lld rows a step: "
          "communication %.1f%% of the step time on rank 0\n",
          job.size(), trainer->plan().tp, (long long)dp, (long long)batch,
          trainingSeconds > 0 ? 100.0 * communication / trainingSeconds : 0.0);
  }

  if (options.profile && leader) {
    double total = 0.0;
    std::vector<std::pair<double, std::string>> rows;
    for (const auto &[name, seconds] : trainer->profile()) {
      rows.push_back({seconds, name});
      total += seconds;
    }
    std::sort(rows.rbegin(), rows.rend());
    std::printf("%-22s %10s %7s\n", "kernel", "ms/step", "share");
    for (const auto &[seconds, name] : rows)
      std::printf("%-22s %10.2f %6.1f%%\n", name.c_str(),
                  1e3 * seconds / double(options.steps),
                  100.0 * seconds / total);
  }

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
  if (interrupted)
    summary << ", \"interrupted_by\": \""
            << (interrupted == SIGINT ? "SIGINT" : "SIGTERM") << "\"";
  ok = !leader || metrics.finish(summary.str(), error);
  // A stopped run saved its state (with --save-state) and its metrics; it
  // writes no final weights, and says it did not finish.
  if (interrupted) {
    if (!job.agree(ok, error))
      return stop(error);
    if (leader && !options.saveState.empty())
      std::fprintf(stderr,
                   "slapo-run: state saved in %s: continue with "
                   "--resume %s\n",
                   options.saveState.c_str(), options.saveState.c_str());
    return 128 + int(interrupted);
  }
  bool directory =
      options.save.size() < 12 ||
      options.save.compare(options.save.size() - 12, 12, ".safetensors") != 0;
  if (!options.save.empty() && directory && leader &&
      trainer->plan().hfConfig.empty())
    std::fprintf(stderr,
                 "slapo-run: warning: the plan carries no config.json (its "
                 "model was not imported by slapo-import from one): %s gets "
                 "the weights only\n",
                 options.save.c_str());
  if (ok && !options.save.empty())
    ok = options.mergeLora
             ? !trainer->writesFiles() ||
                   saveMergedWeights(*trainer, options.save, error,
                                     options.saveOptions)
             : trainer->saveWeights(options.save, error, options.saveOptions);
  if (ok && !options.saveAdapter.empty() && trainer->writesFiles())
    ok = saveAdapter(*trainer, options.saveAdapter, error);
  if (!job.agree(ok, error))
    return stop(error);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  useOpenBlasKernelsForThisCpu(argv);
  std::string error;
  std::unique_ptr<Job> job = Job::start(&argc, &argv, error);
  if (!job)
    return fail(error);
  return run(*job, argc, argv);
}
