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

#include "KernelBench.h"

#include "slapo/Runtime/OpenBlasCore.h"

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
using namespace slapo::bench;

namespace {

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

} // namespace

int main(int argc, char **argv) {
  useOpenBlasKernelsForThisCpu(argv);
  CLI::App app{"Block-sparse MLP kernels against the dense ones (JSON out)"};
  CommonOptions common;
  int64_t tokens = 1024, hidden = 2048, ffn = 8192, block = 64, rows = 64;
  positiveOption(app, "--tokens", tokens, "tokens (batch x seq)");
  positiveOption(app, "--hidden", hidden, "hidden size");
  positiveOption(app, "--ffn", ffn, "feed-forward size");
  positiveOption(app, "--block", block, "features per block");
  positiveOption(app, "--rows", rows, "tokens per row tile");
  common.add(app, "fractions of live blocks");
  CLI11_PARSE(app, argc, argv);
  if (ffn % block != 0) {
    std::fprintf(stderr, "error: --block %lld does not divide --ffn %lld\n",
                 (long long)block, (long long)ffn);
    return 1;
  }
  std::unique_ptr<Backend> backend = common.backend();
  const std::string &device = common.device;
  int reps = common.reps;
  const std::vector<double> &fractions = common.fractions;

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
