//===- Reports.cpp - what a training run prints ---------------------------===//

#include "slapo/Run/Reports.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <unistd.h>
#include <utility>
#include <vector>

namespace slapo::run {

using namespace slapo::rt;

std::string infoJson(const Plan &plan, const std::string &device) {
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
      << ", \"accumulator\": " << m.accumulator << "}, \"device\": \"" << device
      << "\"}";
  return out.str();
}

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

ProgressLine::ProgressLine(bool shown, int64_t totalSteps)
    : shown(shown), terminal(shown && isatty(fileno(stderr))),
      total(totalSteps) {}

void ProgressLine::step(int64_t done, double loss, double lr,
                        double tokensPerSecond) {
  if (!shown)
    return;
  if (terminal) {
    int width = 30, filled = int(width * done / std::max<int64_t>(1, total));
    std::fprintf(stderr,
                 "\r[%.*s%*s] step %lld/%lld  loss %.4f  lr %.3g  %.0f tok/s",
                 filled, "##############################", width - filled, "",
                 (long long)done, (long long)total, loss, lr, tokensPerSecond);
  } else if (done % std::max<int64_t>(1, total / 10) == 0 || done == 1) {
    std::fprintf(stderr, "step %lld/%lld  loss %.4f  lr %.3g  %.0f tok/s\n",
                 (long long)done, (long long)total, loss, lr, tokensPerSecond);
  }
}

void ProgressLine::breakLine() {
  if (terminal)
    std::fputc('\n', stderr);
}

void printProfile(const std::map<std::string, double> &seconds, int64_t steps) {
  double total = 0.0;
  std::vector<std::pair<double, std::string>> rows;
  for (const auto &[name, time] : seconds) {
    rows.push_back({time, name});
    total += time;
  }
  std::sort(rows.rbegin(), rows.rend());
  std::printf("%-22s %10s %7s\n", "kernel", "ms/step", "share");
  for (const auto &[time, name] : rows)
    std::printf("%-22s %10.2f %6.1f%%\n", name.c_str(),
                1e3 * time / double(std::max<int64_t>(1, steps)),
                100.0 * time / total);
}

} // namespace slapo::run
