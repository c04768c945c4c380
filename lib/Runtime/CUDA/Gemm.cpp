//===- Gemm.cpp - linear, linear_grad_weight and matmul on cuBLASLt -------===//
//
// cuBLASLt is column-major; a row-major C = op(A) op(B) is the column-major
// C^T = op(B)^T op(A)^T, so each call passes B as cuBLASLt's A and A as its
// B, with the same transposes. The bias epilogue adds a vector along the
// column-major rows, which are the row-major columns: one value per output
// feature, as linear's bias is. Descriptors and the heuristic's algorithm
// are made once per shape and kept: a step issues the same GEMMs every
// time, and during graph capture nothing here may allocate device memory
// (the workspace is the backend's, given once).
//
//===----------------------------------------------------------------------===//

#include "Gemm.h"
#include "CudaKernels.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>

namespace slapo::rt::cuda {

namespace {

#define SLAPO_CUBLAS_CHECK(expr)                                               \
  do {                                                                         \
    cublasStatus_t slapoStatus = (expr);                                       \
    if (slapoStatus != CUBLAS_STATUS_SUCCESS)                                  \
      failBlas(slapoStatus, #expr, __FILE__, __LINE__);                        \
  } while (0)

[[noreturn]] void failBlas(cublasStatus_t status, const char *call,
                           const char *file, int line) {
  std::fprintf(stderr, "slapo-run: cuBLASLt error: %s failed: %s (%s:%d)\n",
               call, cublasLtGetStatusString(status), file, line);
  std::fflush(stderr);
  std::_Exit(1);
}

cublasLtHandle_t theHandle = nullptr;
void *theWorkspace = nullptr;
uint64_t theWorkspaceBytes = 0;

/// One GEMM shape's descriptors and algorithm.
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

/// The shape, the bias, the dtype and the operands' alignments.
using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, bool, bool, bool,
                       int, uint32_t, uint32_t, uint32_t>;

/// The largest power of two up to 256 that divides `pointer`'s address and
/// the byte stride between its batch's matrices: the heuristic otherwise
/// assumes 256-byte aligned operands, and plan offsets and batched slices
/// may be less aligned.
uint32_t alignmentOf(const void *pointer, uint64_t strideBytes) {
  uintptr_t address =
      reinterpret_cast<uintptr_t>(pointer) | uintptr_t(strideBytes) | 256u;
  return uint32_t(address & (~address + 1));
}

cudaDataType_t cudaType(DType dtype) {
  return dtype == DType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/// A column-major rows x cols matrix with leading dimension `ld`, batched.
cublasLtMatrixLayout_t layout(DType dtype, int64_t rows, int64_t cols,
                              int64_t ld, int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t result;
  SLAPO_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(
      &result, cudaType(dtype), uint64_t(rows), uint64_t(cols), ld));
  if (batch > 1) {
    int32_t count = int32_t(batch);
    SLAPO_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        result, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
    SLAPO_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        result, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
        sizeof stride));
  }
  return result;
}

Plan makePlan(const GemmShape &s, bool bias, uint32_t alignA, uint32_t alignB,
              uint32_t alignC) {
  Plan plan;
  // f32: CUBLAS_COMPUTE_32F is IEEE float32 (TF32 off); bf16: float32
  // accumulation.
  SLAPO_CUBLAS_CHECK(
      cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  // cuBLASLt's A is our B: its op is our transB, and so on.
  cublasOperation_t opA = s.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = s.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  SLAPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
      plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof opA));
  SLAPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
      plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof opB));
  if (bias) {
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    SLAPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
        plan.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
    cudaDataType_t biasType = cudaType(s.dtype);
    SLAPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
        plan.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &biasType,
        sizeof biasType));
  }
  // Our row-major B is stored [k, n] (ld n), or [n, k] (ld k) when
  // transposed: column-major that is n x k (ld n), or k x n (ld k).
  plan.a = s.transB ? layout(s.dtype, s.k, s.n, s.k, s.batch, s.k * s.n)
                    : layout(s.dtype, s.n, s.k, s.n, s.batch, s.k * s.n);
  plan.b = s.transA ? layout(s.dtype, s.m, s.k, s.m, s.batch, s.m * s.k)
                    : layout(s.dtype, s.k, s.m, s.k, s.batch, s.m * s.k);
  plan.c = layout(s.dtype, s.n, s.m, s.n, s.batch, s.m * s.n);

  cublasLtMatmulPreference_t preference;
  SLAPO_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  SLAPO_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &theWorkspaceBytes,
      sizeof theWorkspaceBytes));
  // cuBLASLt's A, B, C and D are our B, A, C and C.
  for (auto [attribute, bytes] :
       {std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignB},
        std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignA},
        std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignC},
        std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignC}})
    SLAPO_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        preference, attribute, &bytes, sizeof bytes));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  // No algorithm is CUBLAS_STATUS_NOT_SUPPORTED: said below, by shape.
  cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(theHandle, plan.op, plan.a, plan.b, plan.c,
                                     plan.c, preference, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(preference);
  if (status != CUBLAS_STATUS_NOT_SUPPORTED)
    SLAPO_CUBLAS_CHECK(status);
  if (status == CUBLAS_STATUS_NOT_SUPPORTED || found == 0) {
    std::fprintf(stderr,
                 "slapo-run: cuBLASLt has no algorithm for a %s GEMM of "
                 "%lld x [%lld, %lld] x [%lld, %lld]\n",
                 dtypeName(s.dtype), (long long)s.batch, (long long)s.m,
                 (long long)s.k, (long long)s.k, (long long)s.n);
    std::fflush(stderr);
    std::_Exit(1);
  }
  plan.algo = result.algo;
  return plan;
}

const Plan &planFor(const GemmShape &s, const void *a, const void *b,
                    const void *bias, const void *c) {
  static std::mutex lock;
  static std::map<Key, Plan> plans;
  uint64_t bytes = uint64_t(dtypeBytes(s.dtype)), batched = s.batch > 1;
  uint32_t alignA = alignmentOf(a, batched * uint64_t(s.m * s.k) * bytes),
           alignB = alignmentOf(b, batched * uint64_t(s.k * s.n) * bytes),
           alignC = alignmentOf(c, batched * uint64_t(s.m * s.n) * bytes);
  Key key{s.batch,         s.m,          s.n,    s.k,    s.transA, s.transB,
          bias != nullptr, int(s.dtype), alignA, alignB, alignC};
  std::lock_guard<std::mutex> guard(lock);
  auto it = plans.find(key);
  if (it == plans.end())
    it =
        plans.emplace(key, makePlan(s, bias != nullptr, alignA, alignB, alignC))
            .first;
  return it->second;
}

} // namespace

void initGemm(cublasLtHandle_t handle, void *workspace, uint64_t bytes) {
  theHandle = handle;
  theWorkspace = workspace;
  theWorkspaceBytes = bytes;
}

void gemm(const GemmShape &shape, const void *a, const void *b,
          const void *bias, void *c, cudaStream_t stream) {
  if (shape.m == 0 || shape.n == 0 || shape.batch == 0)
    return;
  if (shape.k == 0) { // an empty sum
    if (bias) {
      std::fprintf(stderr, "slapo-run: internal error: a biased GEMM with "
                           "k = 0\n");
      std::abort();
    }
    SLAPO_CUDA_CHECK(cudaMemsetAsync(
        c, 0,
        uint64_t(shape.batch * shape.m * shape.n * dtypeBytes(shape.dtype)),
        stream));
    return;
  }
  const Plan &plan = planFor(shape, a, b, bias, c);
  if (bias)
    SLAPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
        plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  float alpha = 1.0f, beta = 0.0f;
  SLAPO_CUBLAS_CHECK(cublasLtMatmul(
      theHandle, plan.op, &alpha, b, plan.a, a, plan.b, &beta, c, plan.c, c,
      plan.c, &plan.algo, theWorkspace, theWorkspaceBytes, stream));
}

template <class T> void linear(KernelContext &c) {
  const View &x = c.ins[0], &w = c.ins[1];
  bool inOut = c.call->has("in_out");
  GemmShape shape;
  shape.m = x.rows();
  shape.k = x.dim(-1);
  shape.n = inOut ? w.dim(1) : w.dim(0);
  shape.transB = !inOut; // weight [out, in]: x W^T
  shape.dtype = x.dtype();
  gemm(shape, x.data, w.data, c.ins.size() == 3 ? c.ins[2].data : nullptr,
       c.outs[0].data, streamOf(c));
}

template <class T> void linearGradWeight(KernelContext &c) {
  const View &x = c.ins[0], &dy = c.ins[1];
  int64_t m = x.rows(), k = x.dim(-1), n = dy.dim(-1);
  GemmShape shape;
  shape.k = m; // the sum is over the rows
  shape.transA = true;
  shape.dtype = x.dtype();
  if (c.call->has("in_out")) { // dW[k, n] = x^T dy
    shape.m = k;
    shape.n = n;
    gemm(shape, x.data, dy.data, nullptr, c.outs[0].data, streamOf(c));
  } else { // dW[n, k] = dy^T x
    shape.m = n;
    shape.n = k;
    gemm(shape, dy.data, x.data, nullptr, c.outs[0].data, streamOf(c));
  }
}

template <class T> void matmul(KernelContext &c) {
  const View &a = c.ins[0], &b = c.ins[1];
  GemmShape shape;
  shape.transB = c.call->has("transpose_b");
  shape.m = a.dim(-2);
  shape.k = a.dim(-1);
  shape.n = shape.transB ? b.dim(-2) : b.dim(-1);
  int64_t area = shape.m * shape.k;
  shape.batch = area ? a.numel() / area : 0;
  shape.dtype = a.dtype();
  gemm(shape, a.data, b.data, nullptr, c.outs[0].data, streamOf(c));
}

SLAPO_CUDA_KERNEL_TYPES(linear);
SLAPO_CUDA_KERNEL_TYPES(linearGradWeight);
SLAPO_CUDA_KERNEL_TYPES(matmul);

} // namespace slapo::rt::cuda
