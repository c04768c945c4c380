//===- Options.cpp - slapo-run's command line -----------------------------===//

#include "Options.h"

#include "slapo/Runtime/LrSchedule.h"
#include "slapo/Runtime/Safetensors.h"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace slapo::run {

namespace {

std::string inQuotes(const std::string &text) { return "'" + text + "'"; }

/// A whole number >= 0 (no sign, no fraction, no exponent).
const CLI::Validator kCount(
    [](std::string &text) -> std::string {
      if (text.empty() || text.find_first_not_of("0123456789") != text.npos)
        return "expects a non-negative integer, got " + inQuotes(text);
      errno = 0;
      std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE)
        return "expects a non-negative integer, got " + inQuotes(text) +
               " (too large)";
      return "";
    },
    "INT>=0");

/// A number (all of `text`, finite) that `accept` takes, or "expects
/// EXPECTED, got 'text'".
CLI::Validator numberWhere(bool (*accept)(double), const std::string &expected,
                           const std::string &shown) {
  return CLI::Validator(
      [accept, expected](std::string &text) -> std::string {
        char *end = nullptr;
        double value = std::strtod(text.c_str(), &end);
        bool number = !text.empty() && *end == '\0' && std::isfinite(value);
        return number && accept(value)
                   ? ""
                   : "expects " + expected + ", got " + inQuotes(text);
      },
      shown);
}

const CLI::Validator kFiniteNonNegative = numberWhere(
    [](double x) { return x >= 0.0; }, "a finite number >= 0", "X>=0");
const CLI::Validator kPositive = numberWhere([](double x) { return x > 0.0; },
                                             "a finite number above 0", "X>0");
const CLI::Validator kShare =
    numberWhere([](double x) { return x >= 0.0 && x <= 1.0; },
                "a share from 0 to 1", "0-1");

/// A value `parse` accepts, or "expects EXPECTED, got 'text'".
template <class T>
CLI::Validator parsedBy(bool (*parse)(const std::string &, T &),
                        const std::string &expected) {
  return CLI::Validator(
      [parse, expected](std::string &text) -> std::string {
        T value{};
        return parse(text, value)
                   ? ""
                   : "expects " + expected + ", got " + inQuotes(text);
      },
      "");
}

} // namespace

ParseOutcome parseOptions(int argc, char **argv, Options &o,
                          std::string &message) {
  CLI::App app{"Trains a plan compiled by slapo-opt --compile, on this CPU "
               "or, under mpirun, on tp x dp processes (the plan's tp). "
               "See docs/training.md.",
               "slapo-run"};
  app.get_formatter()->column_width(34);
  std::string saveDType, maxShardSize;
  int shuffle = 0; // --shuffle: 1, --no-shuffle: -1
  auto count = [&](const char *name, auto &value, const char *help) {
    return app.add_option(name, value, help)->check(kCount);
  };
  auto group = [&](const char *name) { app.option_defaults()->group(name); };
  app.add_option("plan", o.plan, "the .splan to train")->required();

  group("What to train on, and for how long");
  app.add_option("--data", o.data,
                 ".txt (bytes), .bin (token ids) or .jsonl "
                 "(context/completion ids); default: a built-in text");
  count("--steps", o.steps, "optimizer steps to train (default 10)");
  count("--epochs", o.epochs,
        "passes over the data instead of --steps (shuffled unless "
        "--no-shuffle)");
  app.add_flag("--shuffle,!--no-shuffle", shuffle,
               "take the data's rows in an order drawn from --seed, a new "
               "one each pass (default with --epochs)");
  app.add_flag("--pack", o.pack,
               "pack several .jsonl examples into each row instead of "
               "padding each (docs/training.md)");
  count("--batch", o.batch,
        "rows per step, all ranks together: a multiple of the plan's "
        "batch accumulates micro-batches");
  count("--seed", o.seed, "initial weights, dropout and shuffling (default 0)");
  app.add_option("--device", o.device, "the backend (default cpu)");

  group("Optimization");
  app.add_option("--lr", o.lr, "peak learning rate (default 1e-3)")
      ->check(kFiniteNonNegative);
  app.add_option("--lr-schedule", o.lrSchedule,
                 "constant, linear or cosine decay to 0 over the run, as "
                 "transformers' get_*_schedule_with_warmup")
      ->check(parsedBy(&rt::parseLrScheduleKind, "constant, linear or cosine"));
  count("--warmup-steps", o.warmupSteps,
        "steps of linear warmup from 0 to --lr");
  app.add_option("--warmup-ratio", o.warmupRatio,
                 "warmup for this share of the run's steps (rounded up), "
                 "as HF Trainer's warmup_ratio")
      ->check(kShare);
  app.add_option("--max-grad-norm", o.maxGradNorm,
                 "clip the global gradient norm (every rank's) to this; 0: "
                 "no clipping")
      ->check(kFiniteNonNegative);
  app.add_flag("--skip-nonfinite-steps", o.skipNonFiniteSteps,
               "skip the update of a step whose loss or gradient norm is "
               "nan or inf, with a warning (default: such a step stops the "
               "run, before its update)");
  app.add_option("--bucket-mb", o.bucketMiB,
                 "data-parallel gradient all-reduce bucket in MiB "
                 "(default 25)")
      ->check(kPositive);
  app.add_option("--timeout", o.timeout,
                 "seconds a rank waits for the others in one collective "
                 "before it ends the job, naming it (default 300)")
      ->check(kPositive);

  group("Weights");
  app.add_option("--init", o.init,
                 "start from these weights: .safetensors or a Hugging Face "
                 "model directory");
  app.add_option("--init-adapter", o.initAdapter,
                 "start the LoRA adapters from a PEFT adapter directory");
  app.add_option("--save", o.save,
                 "write the trained weights: .safetensors or a Hugging Face "
                 "model directory");
  app.add_flag("--merge-lora", o.mergeLora,
               "--save the base weights with the LoRA updates merged in");
  app.add_option("--save-adapter", o.saveAdapter,
                 "write the LoRA adapters as a PEFT adapter directory");
  app.add_option("--save-predictors", o.savePredictors,
                 "write the sparsity predictors a `sparsify ... "
                 "predictor=train` plan trained, as the .safetensors file "
                 "`predictor=FILE` reads");
  app.add_option("--save-dtype", saveDType,
                 "fp32, bf16 or fp16 for --save (default fp32)")
      ->check(parsedBy(&rt::parseWeightDType, "fp32, bf16 or fp16"));
  app.add_option("--max-shard-size", maxShardSize,
                 "shard a --save directory into files of at most this "
                 "(2GB, 500MB, bytes)")
      ->check(parsedBy(&rt::parseByteSize,
                       "a size such as 2GB, 500MB or 1000000 (bytes)"));

  group("Evaluation");
  app.add_option("--eval-data", o.evalData,
                 "validation data (as --data): loss and perplexity, "
                 "dropout off");
  count("--eval-every", o.evalEvery,
        "evaluate every N steps (and after the last)");
  count("--eval-batches", o.evalBatches,
        "evaluate the first K batches only; 0: all (default)");
  app.add_option("--save-best", o.saveBest,
                 "write the weights of the lowest evaluation loss here");

  group("Training state");
  app.add_option("--save-state", o.saveState,
                 "keep a resumable state (weights, AdamW moments, step, "
                 "RNG) here, at the end and on SIGINT/SIGTERM");
  count("--save-every", o.saveEvery, "also save the state every N steps");
  count("--save-total-limit", o.saveTotalLimit,
        "keep the last K saved states; 0: all (default)");
  app.add_option("--resume", o.resume,
                 "continue from a --save-state directory, bit for bit");

  group("Reports");
  app.add_option("--metrics", o.metrics,
                 "M.jsonl streams a line per step and evaluation; M.json "
                 "is written at the end");
  app.add_flag("--profile", o.profile, "print the time of each kernel");
  app.add_flag("--info", o.info,
               "print the plan's shapes and memory as JSON, and exit");

  app.allow_extras(); // refused below, with their names in order
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &) {
    message = app.help();
    return ParseOutcome::Help;
  } catch (const CLI::ParseError &e) {
    message = std::string(e.what()) + " (see --help)";
    return ParseOutcome::Error;
  }
  for (const std::string &extra : app.remaining()) {
    message = extra.rfind("-", 0) == 0
                  ? "unknown option " + extra + " (see --help)"
                  : "more than one plan given (" + inQuotes(o.plan) + " and " +
                        inQuotes(extra) + ")";
    return ParseOutcome::Error;
  }
  if (!saveDType.empty())
    rt::parseWeightDType(saveDType, o.saveOptions.dtype);
  if (!maxShardSize.empty())
    rt::parseByteSize(maxShardSize, o.saveOptions.maxShardBytes);

  auto refuse = [&](const std::string &text) {
    message = text;
    return ParseOutcome::Error;
  };
  bool stepsGiven = app.count("--steps") > 0;
  if (app.count("--epochs")) {
    if (stepsGiven)
      return refuse("--epochs and --steps both count the run: give one");
    if (o.epochs == 0)
      return refuse("--epochs: expects at least 1 pass, got '0'");
  }
  if (app.count("--warmup-ratio") && app.count("--warmup-steps"))
    return refuse("--warmup-ratio and --warmup-steps both set the warmup: "
                  "give one");
  o.shuffle = shuffle > 0 || (shuffle == 0 && o.epochs > 0);
  if (o.saveState.empty() && (o.saveEvery || o.saveTotalLimit))
    return refuse(
        std::string(o.saveEvery ? "--save-every" : "--save-total-limit") +
        " needs --save-state");
  if (!o.resume.empty() && (!o.init.empty() || !o.initAdapter.empty()))
    return refuse(
        std::string("--resume continues from its state's weights: drop ") +
        (o.init.empty() ? "--init-adapter" : "--init"));
  if (o.evalData.empty() &&
      (o.evalEvery || o.evalBatches || !o.saveBest.empty()))
    return refuse(std::string(o.evalEvery     ? "--eval-every"
                              : o.evalBatches ? "--eval-batches"
                                              : "--save-best") +
                  " needs --eval-data");
  if (o.mergeLora && o.save.empty())
    return refuse("--merge-lora needs --save");
  return ParseOutcome::Run;
}

} // namespace slapo::run
