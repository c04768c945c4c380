// GEMM throughput on this CPU: OpenBLAS sgemm (fp32) against oneDNN's
// matmul with bf16 operands and fp32 accumulation and result (the bf16
// training recipe's GEMM). Built and run by bench/gemm_peak.py.
#include <cblas.h>
#include <dnnl.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

double seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

} // namespace

int main(int argc, char **argv) {
  int reps = argc > 1 ? std::atoi(argv[1]) : 10;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  std::printf("[");
  const int shapes[][3] = {{2048, 512, 512},
                           {2048, 2048, 512},
                           {2048, 512, 2048},
                           {2048, 8192, 512},
                           {2048, 2048, 2048}};
  bool first = true;
  for (const auto &shape : shapes) {
    int m = shape[0], n = shape[1], k = shape[2];
    dnnl::memory::desc a({m, k}, dt::bf16, tag::ab);
    dnnl::memory::desc b({k, n}, dt::bf16, tag::ab);
    dnnl::memory::desc c({m, n}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine);
    dnnl::matmul matmul(pd);
    dnnl::memory am(a, engine), bm(b, engine), cm(c, engine);
    std::vector<float> fa(size_t(m) * k, 0.5f), fb(size_t(k) * n, 0.25f),
        fc(size_t(m) * n);
    auto run = [&] {
      matmul.execute(
          stream,
          {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    };
    run(); // warm-up: primitive creation, caches
    stream.wait();
    auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r)
      run();
    stream.wait();
    double bf16 = seconds(start);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f,
                fa.data(), k, fb.data(), n, 0.0f, fc.data(), n);
    start = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f,
                  fa.data(), k, fb.data(), n, 0.0f, fc.data(), n);
    double fp32 = seconds(start);
    double flops = 2.0 * m * n * k * reps;
    std::printf("%s{\"m\": %d, \"n\": %d, \"k\": %d, \"onednn_bf16_gflops\": "
                "%.1f, \"openblas_fp32_gflops\": %.1f, \"onednn_impl\": "
                "\"%s\"}",
                first ? "" : ", ", m, n, k, flops / bf16 / 1e9,
                flops / fp32 / 1e9, pd.impl_info_str());
    first = false;
  }
  std::printf("]\n");
  return 0;
}
