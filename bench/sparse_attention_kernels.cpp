//===- sparse_attention_kernels.cpp - block-sparse attention against dense
//-===//
//
// Times causal attention (the `attention` kernel) and its gradient
// (`attention_grad`) under block masks against the same kernels without
// one, through the Backend interface: exactly the kernels slapo-run calls.
// A live fraction is the share of the causal (query tile, key tile) pairs
// computed, the first key tile and the diagonal one (which the kernels
// always compute) included; a fraction below that minimum is measured at
// the minimum, and the JSON records the real share. At 100% live the
// results are compared with dense attention (the "check" field).
//
// Prints one JSON object in bench/block_sparse_kernels.cpp's form;
// `bench/block_sparse.py --attention` runs it and prints the table.
//
//===----------------------------------------------------------------------===//

#include "KernelBench.h"

#include "slapo/Runtime/OpenBlasCore.h"

#include <sstream>

using namespace slapo::rt;
using namespace slapo::bench;

namespace {

KernelCall attentionCall(const char *name, double scale, int64_t block) {
  KernelCall call;
  call.name = name;
  call.attrs["scale"].f = scale;
  call.attrs["causal"].i = 1;
  if (block)
    call.attrs["block"].i = block;
  return call;
}

/// A mask [B, H, tiles, tiles] computing `fraction` of each head's causal
/// tile pairs (at least the first key tile and the diagonal); returns the
/// share it computes.
double causalMask(std::vector<float> &values, int64_t heads, int64_t tiles,
                  double fraction, std::mt19937 &random) {
  values.assign(size_t(heads * tiles * tiles), 0.0f);
  int64_t pairs = tiles * (tiles + 1) / 2;
  int64_t forced = tiles == 1 ? 1 : 2 * tiles - 1;
  int64_t extra = std::clamp<int64_t>(
      int64_t(std::llround(fraction * double(pairs))) - forced, 0,
      pairs - forced);
  std::vector<int64_t> optional;
  for (int64_t i = 0; i < tiles; ++i)
    for (int64_t j = 1; j < i; ++j)
      optional.push_back(i * tiles + j);
  for (int64_t h = 0; h < heads; ++h) {
    float *head = values.data() + h * tiles * tiles;
    for (int64_t i = 0; i < tiles; ++i)
      head[i * tiles] = head[i * tiles + i] = 1.0f;
    std::shuffle(optional.begin(), optional.end(), random);
    for (int64_t n = 0; n < extra; ++n)
      head[optional[n]] = 1.0f;
  }
  return double(forced + extra) / double(pairs);
}

} // namespace

int main(int argc, char **argv) {
  useOpenBlasKernelsForThisCpu(argv);
  CLI::App app{"Block-sparse causal attention against dense (JSON out)"};
  CommonOptions common;
  int64_t batch = 1, heads = 32, seq = 1024, headDim = 64, block = 64;
  positiveOption(app, "--batch", batch, "sequences");
  positiveOption(app, "--heads", heads, "attention heads");
  positiveOption(app, "--seq", seq, "tokens a sequence");
  positiveOption(app, "--head-dim", headDim, "features a head");
  positiveOption(app, "--block", block, "rows and keys a tile");
  common.add(app, "shares of causal tile pairs");
  CLI11_PARSE(app, argc, argv);
  std::unique_ptr<Backend> backend = common.backend();
  const std::string &device = common.device;
  int reps = common.reps;
  const std::vector<double> &fractions = common.fractions;

  Bench bench(*backend);
  bench.setWorkspace(uint64_t(2 * batch * heads * seq * seq) * sizeof(float));
  int64_t tiles = (seq + block - 1) / block;
  std::vector<int64_t> shape = {batch, heads, seq, headDim};
  Operand *q = bench.tensor(shape), *k = bench.tensor(shape),
          *v = bench.tensor(shape), *dout = bench.tensor(shape);
  Operand *out = bench.tensor(shape), *denseOut = bench.tensor(shape);
  Operand *dq = bench.tensor(shape), *dk = bench.tensor(shape),
          *dv = bench.tensor(shape);
  Operand *denseDq = bench.tensor(shape), *denseDk = bench.tensor(shape),
          *denseDv = bench.tensor(shape);
  double scale = 1.0 / std::sqrt(double(headDim));

  struct Kernel {
    const char *label, *name;
    std::vector<Operand *> ins, outs, denseOuts;
  };
  std::vector<Kernel> kernels = {
      {"attention", "attention", {q, k, v}, {out}, {denseOut}},
      {"attention grad",
       "attention_grad",
       {q, k, v, dout},
       {dq, dk, dv},
       {denseDq, denseDk, denseDv}},
  };
  std::ostringstream json;
  json << "{\"device\": \"" << device << "\", \"batch\": " << batch
       << ", \"heads\": " << heads << ", \"seq\": " << seq
       << ", \"head_dim\": " << headDim << ", \"block\": " << block
       << ", \"reps\": " << reps << ", \"kernels\": [";
  for (size_t n = 0; n < kernels.size(); ++n) {
    Kernel &kernel = kernels[n];
    double dense = bench.time(attentionCall(kernel.name, scale, 0), kernel.ins,
                              kernel.denseOuts, reps);
    json << (n ? ", " : "") << "{\"kernel\": \"" << kernel.label
         << "\", \"dense_seconds\": " << dense << ", \"sparse\": [";
    for (size_t f = 0; f < fractions.size(); ++f) {
      std::vector<float> values;
      double live = causalMask(values, batch * heads, tiles, fractions[f],
                               bench.engine());
      std::vector<Operand *> ins = kernel.ins;
      ins.push_back(bench.tensor({batch, heads, tiles, tiles}, &values));
      double seconds = bench.time(attentionCall(kernel.name, scale, block), ins,
                                  kernel.outs, reps);
      json << (f ? ", " : "") << "{\"live\": " << live
           << ", \"seconds\": " << seconds;
      if (live == 1.0) {
        double check = 0.0;
        for (size_t o = 0; o < kernel.outs.size(); ++o)
          check = std::max(
              check, relativeDifference(bench.download(*kernel.outs[o]),
                                        bench.download(*kernel.denseOuts[o])));
        json << ", \"check\": " << check;
      }
      json << "}";
    }
    json << "]}";
  }
  json << "]}";
  std::printf("%s\n", json.str().c_str());
  return 0;
}
