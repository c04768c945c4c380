//===- KernelBench.h - timing slapo's kernels through a Backend -*- C++ -*-===//
//
// What the kernel benchmarks share (block_sparse_kernels.cpp,
// sparse_attention_kernels.cpp): f32 tensors in a backend's memory, a
// call checked by the kernel catalogue's load-time check as slapo-run's
// loader does, and its median time over repeated runs.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_BENCH_KERNELBENCH_H
#define SLAPO_BENCH_KERNELBENCH_H

#include "slapo/Runtime/Backend.h"
#include "slapo/Runtime/Kernels.h"
#include "slapo/Runtime/Plan.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace slapo::bench {

using namespace slapo::rt;

/// A tensor in the backend's memory, f32.
struct Operand {
  TensorInfo info;
  void *data = nullptr;
};

class Bench {
public:
  explicit Bench(Backend &backend) : backend(backend), random(1) {}
  ~Bench() {
    for (auto &operand : operands)
      backend.release(operand->data);
    if (workspace)
      backend.release(workspace);
  }

  /// Gives every later call `bytes` of workspace (attention's
  /// probabilities).
  void setWorkspace(uint64_t bytes) {
    std::string error;
    workspace = backend.allocate(bytes, error);
    if (!workspace) {
      std::fprintf(stderr, "error: the workspace: %s\n", error.c_str());
      std::exit(1);
    }
    workspaceBytes = bytes;
  }

  std::mt19937 &engine() { return random; }

  /// A tensor of `shape` filled with `values`, or uniform in [-1, 1).
  Operand *tensor(std::vector<int64_t> shape,
                  const std::vector<float> *values = nullptr) {
    auto operand = std::make_unique<Operand>();
    operand->info.name = "t" + std::to_string(operands.size());
    operand->info.shape = std::move(shape);
    operand->info.bytes = uint64_t(operand->info.numel()) * sizeof(float);
    std::string error;
    operand->data = backend.allocate(operand->info.bytes, error);
    if (!operand->data) {
      std::fprintf(stderr, "error: %s\n", error.c_str());
      std::exit(1);
    }
    std::vector<float> host;
    if (!values) {
      std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
      host.resize(size_t(operand->info.numel()));
      for (float &v : host)
        v = uniform(random);
      values = &host;
    }
    backend.copyFromHost(operand->data, values->data(), operand->info.bytes);
    operands.push_back(std::move(operand));
    return operands.back().get();
  }

  /// A mask [tiles, blocks] with `live` blocks of every tile set to 1.
  Operand *mask(int64_t tiles, int64_t blocks, int64_t live) {
    std::vector<float> values(size_t(tiles * blocks), 0.0f);
    std::vector<int64_t> order(static_cast<size_t>(blocks));
    for (int64_t i = 0; i < tiles; ++i) {
      for (int64_t j = 0; j < blocks; ++j)
        order[j] = j;
      std::shuffle(order.begin(), order.end(), random);
      for (int64_t j = 0; j < live; ++j)
        values[size_t(i * blocks + order[j])] = 1.0f;
    }
    return tensor({tiles, blocks}, &values);
  }

  std::vector<float> download(const Operand &operand) {
    std::vector<float> host(size_t(operand.info.numel()));
    backend.copyToHost(host.data(), operand.data, operand.info.bytes);
    return host;
  }

  /// The median seconds of `reps` runs of `call` (after a warm-up), once
  /// its load-time check accepts it.
  double time(KernelCall call, const std::vector<Operand *> &ins,
              const std::vector<Operand *> &outs, int reps) {
    KernelContext context = prepare(call, ins, outs);
    KernelFn fn = find(call, ins, outs);
    std::vector<double> seconds;
    for (int r = 0; r <= reps; ++r) {
      auto start = std::chrono::steady_clock::now();
      fn(context);
      backend.synchronize();
      std::chrono::duration<double> took =
          std::chrono::steady_clock::now() - start;
      if (r > 0)
        seconds.push_back(took.count());
    }
    std::sort(seconds.begin(), seconds.end());
    return seconds[seconds.size() / 2];
  }

private:
  KernelContext prepare(KernelCall &call, const std::vector<Operand *> &ins,
                        const std::vector<Operand *> &outs) {
    call.kind = findKernelSpec(call.name);
    KernelCheck check;
    check.call = &call;
    for (size_t i = 0; i < ins.size() + outs.size(); ++i) {
      const Operand *operand = i < ins.size() ? ins[i] : outs[i - ins.size()];
      (i < ins.size() ? call.inputs : call.outputs).push_back(int32_t(i));
      (i < ins.size() ? check.ins : check.outs).push_back(&operand->info);
    }
    for (const auto &[key, value] : call.attrs)
      check.attrKinds[key] = !value.s.empty() ? AttrKind::String
                             : value.f != 0.0 ? AttrKind::Float
                                              : AttrKind::Int;
    check.workspaceBytes = workspaceBytes;
    std::string problem = kernelCatalog()[call.kind].check(check);
    if (!problem.empty()) {
      std::fprintf(stderr, "error: %s refuses the call: %s\n",
                   call.name.c_str(), problem.c_str());
      std::exit(1);
    }
    calls.push_back(std::make_unique<KernelCall>(call));
    KernelContext context;
    context.call = calls.back().get();
    context.stream = backend.stream();
    context.deviceScalars = backend.setScalars(StepScalars{});
    context.workspace = static_cast<float *>(workspace);
    context.workspaceBytes = workspaceBytes;
    for (Operand *operand : ins)
      context.ins.push_back(
          View{operand->data, &operand->info, backend.space()});
    for (Operand *operand : outs)
      context.outs.push_back(
          View{operand->data, &operand->info, backend.space()});
    return context;
  }

  KernelFn find(const KernelCall &call, const std::vector<Operand *> &ins,
                const std::vector<Operand *> &outs) {
    std::vector<DType> dtypes(ins.size() + outs.size(), DType::F32);
    KernelFn fn = backend.findKernel(call.name, dtypes);
    if (!fn) {
      std::fprintf(stderr, "error: %s has no f32 '%s'\n", backend.name(),
                   call.name.c_str());
      std::exit(1);
    }
    return fn;
  }

  Backend &backend;
  std::mt19937 random;
  std::vector<std::unique_ptr<Operand>> operands;
  std::vector<std::unique_ptr<KernelCall>> calls;
  void *workspace = nullptr;
  uint64_t workspaceBytes = 0;
};

/// The largest |a - b| relative to the largest |b|.
inline double relativeDifference(const std::vector<float> &a,
                                 const std::vector<float> &b) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    scale = std::max(scale, double(std::fabs(b[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

/// `--name`, a positive integer with its default shown.
template <class T>
void positiveOption(CLI::App &app, const char *name, T &value,
                    const char *help) {
  app.add_option(name, value, help)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

/// The options every kernel benchmark takes: the backend, the timed runs
/// and the live fractions.
struct CommonOptions {
  std::string device = "cpu";
  int reps = 3;
  std::vector<double> fractions = {0.1, 0.3, 0.5, 1.0};

  void add(CLI::App &app, const char *liveHelp) {
    app.add_option("--device", device, "backend")->capture_default_str();
    positiveOption(app, "--reps", reps, "timed runs per kernel (median)");
    app.add_option("--live", fractions, liveHelp)
        ->check(CLI::Range(0.0, 1.0))
        ->delimiter(',');
  }

  /// The backend, or exits with its error.
  std::unique_ptr<Backend> backend() const {
    std::string error;
    std::unique_ptr<Backend> made = createBackend(device, error);
    if (!made) {
      std::fprintf(stderr, "error: %s\n", error.c_str());
      std::exit(1);
    }
    return made;
  }
};

} // namespace slapo::bench

#endif // SLAPO_BENCH_KERNELBENCH_H
