//===- CudaBackend.cpp - the CUDA backend: device memory, a stream, graphs ===//
//
// The arena is one cudaMalloc; copies and fills are ordered on the
// backend's stream, which every kernel launches on. Host reads of device
// memory (copyToHost, sumOfSquares) wait for the stream. A kernel range the
// executor runs again and again (a step) runs as launched the first time,
// is captured into a CUDA graph the second and replayed after; its step
// scalars (learning rate, step,
// seed, micro-batch, training) live in device memory and are updated
// before each replay (setScalars). SLAPO_CUDA_GRAPHS=0 launches every
// kernel each time instead.
//
// Kernels are found by name and operand dtypes, as on the CPU: f32
// activations, or bf16 ones computed in float32; f32 parameters for the
// optimizers.
//
//===----------------------------------------------------------------------===//

#include "CudaBackend.h"
#include "../KernelTable.h"
#include "CudaKernels.h"
#include "Gemm.h"

#include <cublasLt.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace slapo::rt {

namespace cuda {

void fail(cudaError_t error, const char *call, const char *file, int line) {
  std::fprintf(stderr, "slapo-run: CUDA error: %s failed: %s (%s:%d)\n", call,
               cudaGetErrorString(error), file, line);
  std::fflush(stderr);
  // A device error leaves the context unusable: end the process (under
  // mpirun, the launcher then ends every rank).
  std::_Exit(1);
}

} // namespace cuda

namespace {

const std::vector<TableKernel> &cudaKernels() {
  using namespace cuda;
  static const std::vector<TableKernel> kernels = {
#define SLAPO_TYPED_KERNEL(name, fn) {name, fn<float>, fn<bf16>},
#define SLAPO_SHARED_KERNEL(name, fn) {name, fn, fn},
#define SLAPO_F32_KERNEL(name, fn) {name, fn, nullptr},
#include "../KernelTable.def"
  };
  return kernels;
}

/// The process's local rank as its launcher names it, or 0.
int localRank() {
  for (const char *variable : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID",
                               "MPI_LOCALRANKID", "LOCAL_RANK"})
    if (const char *value = std::getenv(variable)) {
      char *end = nullptr;
      long rank = std::strtol(value, &end, 10);
      if (end != value && *end == '\0' && rank >= 0)
        return int(rank);
    }
  return 0;
}

/// cuBLASLt's workspace: what NVIDIA recommends for Hopper.
constexpr uint64_t kGemmWorkspaceBytes = 32ull << 20;

class CudaBackend final : public Backend {
public:
  explicit CudaBackend(int device) : device(device) {
    SLAPO_CUDA_CHECK(cudaSetDevice(device));
    SLAPO_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
    size_t free = 0, total = 0;
    SLAPO_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    baselineUsed = total - free; // the context, before anything of ours
    SLAPO_CUDA_CHECK(
        cudaStreamCreateWithFlags(&theStream, cudaStreamNonBlocking));
    SLAPO_CUDA_CHECK(
        cudaStreamCreateWithFlags(&theSideStream, cudaStreamNonBlocking));
    SLAPO_CUDA_CHECK(
        cudaEventCreateWithFlags(&orderEvent, cudaEventDisableTiming));
    cublasLtHandle_t handle;
    if (cublasLtCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
      std::fprintf(stderr, "slapo-run: cannot start cuBLASLt on device %d\n",
                   device);
      std::_Exit(1);
    }
    gemmHandle = handle;
    SLAPO_CUDA_CHECK(cudaMalloc(&gemmWorkspace, kGemmWorkspaceBytes));
    cuda::initGemm(handle, gemmWorkspace, kGemmWorkspaceBytes);
    SLAPO_CUDA_CHECK(cudaMalloc(&scalars, sizeof(StepScalars)));
    SLAPO_CUDA_CHECK(
        cudaMalloc(&squares, (cuda::kSumPartials + 1) * sizeof(double)));
    const char *graphs = std::getenv("SLAPO_CUDA_GRAPHS");
    useGraphs = !graphs || std::string(graphs) != "0";
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(theStream);
    for (auto &[key, graph] : graphs)
      cudaGraphExecDestroy(graph);
    cudaFree(squares);
    cudaFree(scalars);
    cudaFree(gemmWorkspace);
    cublasLtDestroy(static_cast<cublasLtHandle_t>(gemmHandle));
    cudaStreamSynchronize(theSideStream);
    cudaEventDestroy(orderEvent);
    cudaStreamDestroy(theSideStream);
    cudaStreamDestroy(theStream);
  }

  const char *name() const override { return "cuda"; }
  MemorySpace space() const override { return MemorySpace::Device; }

  void *allocate(uint64_t bytes, std::string &error) override {
    void *memory = nullptr;
    cudaError_t status = cudaMalloc(&memory, bytes ? bytes : 1);
    if (status != cudaSuccess) {
      cudaGetLastError(); // an out-of-memory is not sticky: clear it
      size_t free = 0, total = 0;
      cudaMemGetInfo(&free, &total);
      error = "cannot allocate " + std::to_string(bytes) +
              " bytes on cuda:" + std::to_string(device) + " (" +
              std::to_string(free >> 20) + " MiB of " +
              std::to_string(total >> 20) +
              " MiB free): " + cudaGetErrorString(status);
      return nullptr;
    }
    // cudaMalloc aligns to 256 bytes, more than the 64 the plan assumes.
    return memory;
  }
  void release(void *memory) override {
    synchronize();
    SLAPO_CUDA_CHECK(cudaFree(memory));
  }
  void copyFromHost(void *to, const void *host, uint64_t bytes) override {
    // From pageable memory the copy has read `host` when it returns.
    if (bytes)
      SLAPO_CUDA_CHECK(
          cudaMemcpyAsync(to, host, bytes, cudaMemcpyHostToDevice, theStream));
  }
  void copyToHost(void *host, const void *from, uint64_t bytes) override {
    if (!bytes)
      return;
    SLAPO_CUDA_CHECK(
        cudaMemcpyAsync(host, from, bytes, cudaMemcpyDeviceToHost, theStream));
    synchronize();
  }
  void copy(void *to, const void *from, uint64_t bytes) override {
    if (to != from && bytes)
      SLAPO_CUDA_CHECK(cudaMemcpyAsync(to, from, bytes,
                                       cudaMemcpyDeviceToDevice, theStream));
  }
  void zero(void *memory, uint64_t bytes) override {
    if (bytes)
      SLAPO_CUDA_CHECK(cudaMemsetAsync(memory, 0, bytes, theStream));
  }
  void accumulate(void *y, const void *x, int64_t count, DType dtype,
                  float alpha) override {
    requireF32("cuda", dtype, "accumulates");
    cuda::accumulate(static_cast<float *>(y), static_cast<const float *>(x),
                     count, alpha, theStream);
  }
  void accumulateWeighted(void *y, const void *x, int64_t count,
                          DType dtype) override {
    requireF32("cuda", dtype, "accumulates");
    cuda::accumulateWeighted(static_cast<float *>(y),
                             static_cast<const float *>(x), count, scalars,
                             theStream);
  }
  double sumOfSquares(const void *x, int64_t count, DType dtype) override {
    requireF32("cuda", dtype, "sums squares of");
    cuda::sumOfSquares(static_cast<const float *>(x), count, squares + 1,
                       squares, theStream);
    double sum = 0.0;
    copyToHost(&sum, squares, sizeof sum);
    return sum;
  }
  void scale(void *x, int64_t count, DType dtype, float factor) override {
    requireF32("cuda", dtype, "scales");
    cuda::scale(static_cast<float *>(x), count, factor, theStream);
  }
  void fill(float *to, int64_t count, float value) override {
    cuda::fill(to, count, value, theStream);
  }
  void drawParameter(float *to, int64_t count, uint64_t key, int64_t first,
                     bool uniform, double scale) override {
    cuda::drawParameter(to, count, key, first, uniform, scale, theStream);
  }

  const StepScalars *setScalars(const StepScalars &values) override {
    hostScalars = values;
    // From pageable memory: `hostScalars` is read before this returns, and
    // the copy is ordered before every kernel issued after it.
    SLAPO_CUDA_CHECK(cudaMemcpyAsync(scalars, &hostScalars, sizeof hostScalars,
                                     cudaMemcpyHostToDevice, theStream));
    return scalars;
  }

  void run(uint64_t key, const std::function<void()> &issue) override {
    if (!useGraphs) {
      issue();
      return;
    }
    // The first run of a range is launched as it is: it loads the kernels'
    // modules, sets their attributes and picks the GEMM algorithms, none of
    // which a capture may do. The second is captured; the rest replay.
    if (eagerRuns[key]++ == 0) {
      issue();
      return;
    }
    auto found = graphs.find(key);
    if (found == graphs.end()) {
      cudaGraph_t graph = nullptr;
      SLAPO_CUDA_CHECK(
          cudaStreamBeginCapture(theStream, cudaStreamCaptureModeThreadLocal));
      issue();
      SLAPO_CUDA_CHECK(cudaStreamEndCapture(theStream, &graph));
      cudaGraphExec_t exec = nullptr;
      SLAPO_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
      SLAPO_CUDA_CHECK(cudaGraphDestroy(graph));
      found = graphs.emplace(key, exec).first;
    }
    SLAPO_CUDA_CHECK(cudaGraphLaunch(found->second, theStream));
  }

  Stream stream() override { return theStream; }
  Stream sideStream() override { return theSideStream; }
  void orderAfter(Stream waiter, Stream on) override {
    if (waiter == on)
      return;
    // A wait takes the event as last recorded, so one event serves every
    // fork and join, in eager runs and in captures alike.
    SLAPO_CUDA_CHECK(
        cudaEventRecord(orderEvent, static_cast<cudaStream_t>(on)));
    SLAPO_CUDA_CHECK(
        cudaStreamWaitEvent(static_cast<cudaStream_t>(waiter), orderEvent, 0));
  }
  void synchronize() override {
    SLAPO_CUDA_CHECK(cudaStreamSynchronize(theSideStream));
    SLAPO_CUDA_CHECK(cudaStreamSynchronize(theStream));
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) == cudaSuccess &&
        total - free > baselineUsed)
      peakUsed = std::max<uint64_t>(peakUsed, total - free - baselineUsed);
  }

  std::string describe() const override {
    char memory[32];
    std::snprintf(memory, sizeof memory, "%.1f GiB",
                  double(properties.totalGlobalMem) / double(1ull << 30));
    return "cuda:" + std::to_string(device) + " " + properties.name + " (sm_" +
           std::to_string(properties.major) + std::to_string(properties.minor) +
           ", " + memory + ")";
  }
  uint64_t peakDeviceBytes() const override { return peakUsed; }
  int deviceIndex() const override { return device; }

  KernelFn findKernel(const std::string &kernel,
                      const std::vector<DType> &operands) const override {
    return findTableKernel(cudaKernels(), kernel, operands);
  }

private:
  int device;
  cudaDeviceProp properties{};
  cudaStream_t theStream = nullptr;
  /// The data-parallel all-reduce's, forked from and joined to theStream.
  cudaStream_t theSideStream = nullptr;
  cudaEvent_t orderEvent = nullptr;
  void *gemmHandle = nullptr;
  void *gemmWorkspace = nullptr;
  StepScalars *scalars = nullptr;
  StepScalars hostScalars;
  double *squares = nullptr; // the sum, then cuda::kSumPartials partials
  bool useGraphs = true;
  std::map<uint64_t, cudaGraphExec_t> graphs;
  std::map<uint64_t, int> eagerRuns;
  uint64_t baselineUsed = 0, peakUsed = 0;
};

} // namespace

std::unique_ptr<Backend> createCudaBackend(std::string &error) {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    error = "--device cuda: no CUDA device";
    error += status != cudaSuccess
                 ? std::string(" (") + cudaGetErrorString(status) + ")"
                 : std::string(" (the driver sees none)");
    cudaGetLastError();
    return nullptr;
  }
  return std::make_unique<CudaBackend>(localRank() % count);
}

} // namespace slapo::rt
