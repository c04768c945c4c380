//===- Bf16Gemm.cpp - bf16 GEMMs through oneDNN's matmul ------------------===//
//
// oneDNN (Debian's libdnnl, OpenMP runtime, so it shares the kernels'
// threads) picks the implementation for the CPU: brgemm on AMX or
// AVX512-BF16. Primitives are created once per
// shape: creating one JIT-compiles code, which costs more than a small GEMM.
//
// Two kinds of GEMM run in float32 instead (widened, OpenBLAS sgemm, rounded
// once: the same arithmetic): those oneDNN cannot build a primitive for (a
// CPU without AVX-512, where Debian's oneDNN 2.6 has no bf16 matmul), and
// those with fewer than 64 rows. The second is a workaround: oneDNN 2.6.3's
// AMX brgemm, on two or more threads, writes wrong columns for
// B-transposed products with at most 32 rows and 49 to 63 columns (found
// by the kernel conformance suite; a standalone oneDNN program shows it,
// ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 hides it). Such GEMMs are small.
//
//===----------------------------------------------------------------------===//

#include "Bf16Gemm.h"

#include <cblas.h>
#include <dnnl.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace slapo::rt::cpu {

bool GemmShape::operator<(const GemmShape &other) const {
  return std::tie(batch, m, n, k, transA, transB, bias) <
         std::tie(other.batch, other.m, other.n, other.k, other.transA,
                  other.transB, other.bias);
}

namespace {

using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;

struct Engine {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

Engine &engine() {
  static Engine instance;
  return instance;
}

struct Gemm {
  dnnl::memory::desc a, b, bias, c;
  dnnl::matmul matmul;
  bool inFloat32 = false; // see the file comment
};

constexpr int64_t kMinOneDnnRows = 64;

/// A [batch, rows, cols] bf16 operand, stored transposed when `trans`.
dnnl::memory::desc operand(int64_t batch, int64_t rows, int64_t cols,
                           bool trans) {
  dims strides =
      trans ? dims{rows * cols, 1, rows} : dims{rows * cols, cols, 1};
  return dnnl::memory::desc({batch, rows, cols}, dt::bf16, strides);
}

Gemm build(const GemmShape &s) {
  Gemm gemm;
  if (s.m < kMinOneDnnRows) {
    gemm.inFloat32 = true;
    return gemm;
  }
  gemm.a = operand(s.batch, s.m, s.k, s.transA);
  gemm.b = operand(s.batch, s.k, s.n, s.transB);
  gemm.c = operand(s.batch, s.m, s.n, false);
  if (s.bias)
    gemm.bias = dnnl::memory::desc({1, 1, s.n}, dt::bf16, dims{s.n, s.n, 1});
  dnnl::matmul::desc desc =
      s.bias ? dnnl::matmul::desc(gemm.a, gemm.b, gemm.bias, gemm.c)
             : dnnl::matmul::desc(gemm.a, gemm.b, gemm.c);
  try {
    gemm.matmul =
        dnnl::matmul(dnnl::matmul::primitive_desc(desc, engine().engine));
  } catch (const dnnl::error &) {
    gemm.inFloat32 = true; // no bf16 matmul for this CPU
  }
  return gemm;
}

std::vector<float> widen(const bf16 *values, int64_t count) {
  std::vector<float> wide(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    wide[i] = values[i];
  return wide;
}

/// The GEMM in float32: widened operands, one rounding of the result.
void gemmInFloat32(const GemmShape &s, const bf16 *a, const bf16 *b,
                   const bf16 *bias, bf16 *c) {
  std::vector<float> wa = widen(a, s.batch * s.m * s.k),
                     wb = widen(b, s.batch * s.k * s.n),
                     wc(size_t(s.batch * s.m * s.n));
  for (int64_t i = 0; i < s.batch; ++i)
    cblas_sgemm(CblasRowMajor, s.transA ? CblasTrans : CblasNoTrans,
                s.transB ? CblasTrans : CblasNoTrans, s.m, s.n, s.k, 1.0f,
                wa.data() + i * s.m * s.k, s.transA ? s.m : s.k,
                wb.data() + i * s.k * s.n, s.transB ? s.k : s.n, 0.0f,
                wc.data() + i * s.m * s.n, s.n);
  for (int64_t i = 0; i < s.batch * s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j)
      c[i * s.n + j] = wc[i * s.n + j] + (bias ? float(bias[j]) : 0.0f);
}

} // namespace

void gemmBf16(const GemmShape &shape, const bf16 *a, const bf16 *b,
              const bf16 *bias, bf16 *c) {
  static std::mutex mutex;
  static std::map<GemmShape, Gemm> cache;
  try {
    Gemm *gemm;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = cache.find(shape);
      if (it == cache.end())
        it = cache.emplace(shape, build(shape)).first;
      gemm = &it->second;
    }
    if (gemm->inFloat32)
      return gemmInFloat32(shape, a, b, shape.bias ? bias : nullptr, c);
    const dnnl::engine &cpu = engine().engine;
    auto memory = [&](const dnnl::memory::desc &desc, const void *data) {
      return dnnl::memory(desc, cpu, const_cast<void *>(data));
    };
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, memory(gemm->a, a)},
        {DNNL_ARG_WEIGHTS, memory(gemm->b, b)},
        {DNNL_ARG_DST, memory(gemm->c, c)}};
    if (shape.bias)
      args.emplace(DNNL_ARG_BIAS, memory(gemm->bias, bias));
    gemm->matmul.execute(engine().stream, args);
    engine().stream.wait();
  } catch (const dnnl::error &error) {
    std::fprintf(stderr,
                 "slapo-run: internal error: oneDNN bf16 matmul [%lld x %lld "
                 "x %lld, batch %lld]: %s\n",
                 (long long)shape.m, (long long)shape.n, (long long)shape.k,
                 (long long)shape.batch, error.what());
    std::abort();
  }
}

} // namespace slapo::rt::cpu
