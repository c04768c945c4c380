//===- block_sparse_kernels.cpp - block-sparse MLP kernels against dense --===//
//
// Times the kernels of a sparsified ReLU MLP (fc1 = block_sparse_linear
// sparse="out", fc2 = sparse="in", and their input gradients,
// block_sparse_linear_grad) against the dense kernels of the same products
// (linear; its input gradient is linear with in_out), at given fractions of
// live blocks, through the Backend interface on any backend the build has:
// exactly the kernels slapo-run calls. Each mask has, in every row tile,
// the same number of live blocks, chosen at random, so the work is the
// fraction asked for. At 100% live every sparse result is compared with
// the dense one (the "check" field), so a kernel that skips work it should
// do shows.
//
// Prints one JSON object: the shapes, and per kernel and live fraction the
// median seconds over --reps runs (after one warm-up). bench/block_sparse.py
// runs it and prints the table.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Backend.h"
#include "slapo/Runtime/Kernels.h"
#include "slapo/Runtime/OpenBlasCore.h"
#include "slapo/Runtime/Plan.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace slapo::rt;

namespace {

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
  }

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
      check.attrKinds[key] = value.s.empty() ? AttrKind::Int : AttrKind::String;
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
};

KernelCall linearCall(bool inOut) {
  KernelCall call;
  call.name = "linear";
  if (inOut)
    call.attrs["in_out"].i = 1;
  return call;
}

KernelCall sparseCall(const char *name, const char *sparse, int64_t rows,
                      int64_t block) {
  KernelCall call;
  call.name = name;
  call.attrs["rows"].i = rows;
  call.attrs["block"].i = block;
  call.attrs["sparse"].s = sparse;
  return call;
}

/// The largest |a - b| relative to the largest |b|.
double relativeDifference(const std::vector<float> &a,
                          const std::vector<float> &b) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    scale = std::max(scale, double(std::fabs(b[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

} // namespace

int main(int argc, char **argv) {
  useOpenBlasKernelsForThisCpu(argv);
  CLI::App app{"Block-sparse MLP kernels against the dense ones (JSON out)"};
  std::string device = "cpu";
  int64_t tokens = 1024, hidden = 2048, ffn = 8192, block = 64, rows = 64;
  int reps = 3;
  std::vector<double> fractions = {0.1, 0.3, 0.5, 1.0};
  app.add_option("--device", device, "backend")->capture_default_str();
  app.add_option("--tokens", tokens, "tokens (batch x seq)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--hidden", hidden, "hidden size")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--ffn", ffn, "feed-forward size")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--block", block, "features per block")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--rows", rows, "tokens per row tile")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--reps", reps, "timed runs per kernel (median)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--live", fractions, "fractions of live blocks")
      ->check(CLI::Range(0.0, 1.0))
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  if (ffn % block != 0) {
    std::fprintf(stderr, "error: --block %lld does not divide --ffn %lld\n",
                 (long long)block, (long long)ffn);
    return 1;
  }
  std::string error;
  std::unique_ptr<Backend> backend = createBackend(device, error);
  if (!backend) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 1;
  }

  Bench bench(*backend);
  int64_t tiles = (tokens + rows - 1) / rows, blocks = ffn / block;
  Operand *x = bench.tensor({tokens, hidden});
  Operand *w1 = bench.tensor({ffn, hidden}), *b1 = bench.tensor({ffn});
  Operand *w2 = bench.tensor({hidden, ffn}), *b2 = bench.tensor({hidden});
  Operand *h = bench.tensor({tokens, ffn}); // fc2's input
  Operand *dy = bench.tensor({tokens, hidden}),
          *dh = bench.tensor({tokens, ffn});
  Operand *outH = bench.tensor({tokens, ffn}),
          *outX = bench.tensor({tokens, hidden});
  Operand *denseH = bench.tensor({tokens, ffn}),
          *denseX = bench.tensor({tokens, hidden});

  struct Kernel {
    const char *name, *sparseName, *sparse;
    std::vector<Operand *> denseIns, sparseIns;
    bool inOut;
    Operand *out, *dense;
  };
  // The mask is filled in per fraction (the sparse inputs' last operand).
  std::vector<Kernel> kernels = {
      {"fc1",
       "block_sparse_linear",
       "out",
       {x, w1, b1},
       {x, w1, b1},
       false,
       outH,
       denseH},
      {"fc2",
       "block_sparse_linear",
       "in",
       {h, w2, b2},
       {h, w2, b2},
       false,
       outX,
       denseX},
      {"fc2 input grad",
       "block_sparse_linear_grad",
       "in",
       {dy, w2},
       {dy, w2},
       true,
       outH,
       denseH},
      {"fc1 input grad",
       "block_sparse_linear_grad",
       "out",
       {dh, w1},
       {dh, w1},
       true,
       outX,
       denseX},
  };

  std::ostringstream json;
  json << "{\"device\": \"" << device << "\", \"tokens\": " << tokens
       << ", \"hidden\": " << hidden << ", \"ffn\": " << ffn
       << ", \"block\": " << block << ", \"rows\": " << rows
       << ", \"reps\": " << reps << ", \"kernels\": [";
  for (size_t k = 0; k < kernels.size(); ++k) {
    Kernel &kernel = kernels[k];
    double dense = bench.time(linearCall(kernel.inOut), kernel.denseIns,
                              {kernel.dense}, reps);
    json << (k ? ", " : "") << "{\"kernel\": \"" << kernel.name
         << "\", \"dense_seconds\": " << dense << ", \"sparse\": [";
    for (size_t f = 0; f < fractions.size(); ++f) {
      int64_t live = std::max<int64_t>(
          1, int64_t(std::llround(fractions[f] * double(blocks))));
      std::vector<Operand *> ins = kernel.sparseIns;
      ins.push_back(bench.mask(tiles, blocks, live));
      double seconds =
          bench.time(sparseCall(kernel.sparseName, kernel.sparse, rows, block),
                     ins, {kernel.out}, reps);
      json << (f ? ", " : "") << "{\"live\": " << double(live) / double(blocks)
           << ", \"seconds\": " << seconds;
      if (live == blocks)
        json << ", \"check\": "
             << relativeDifference(bench.download(*kernel.out),
                                   bench.download(*kernel.dense));
      json << "}";
    }
    json << "]}";
  }
  json << "]}";
  std::printf("%s\n", json.str().c_str());
  return 0;
}
