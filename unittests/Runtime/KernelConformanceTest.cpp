//===- KernelConformanceTest.cpp - every kernel against a float64 reference
//===//
//
// The kernel conformance suite (llm.c's dev/cuda habit): every kernel of the
// catalog but `sync` (which needs a tensor-parallel group; mpirun covers it
// in unittests/Parallel) runs on random inputs and is compared with a
// float64 reference written here, independently of lib/Runtime, from the
// PyTorch / Hugging Face semantics the kernels follow. The only runtime code
// a reference calls is the dropout mask of lib/Runtime/Random.h: the mask is
// a definition, not a computation.
//
// The suite talks to a kernel only through the Backend interface (allocate,
// copyFromHost / copyToHost, findKernel, stream, synchronize), so it runs
// unchanged on every backend createBackend builds; each call is first passed
// through the kernel's load-time check (KernelChecks.cpp), so every call made
// here is one a plan could hold. It is parameterised over (backend, kernel,
// dtype), dtype f32 and bf16: a bf16 case draws its inputs in bf16 and
// allocates its results in bf16 (but cross_entropy's loss, f32 always), and
// the float64 reference sees exactly those bf16 inputs. Kernels with no bf16
// form (position_ids: no floats; sgd_update, adamw_update: f32 master
// weights) run as f32 only; the catalog tests below check that the cpu
// backend has a bf16 variant of every other kernel, that the updates' checks
// refuse bf16 and that the backend has no bf16 update.
//
// Shapes are small but make reductions long enough to matter (hidden 96,
// rows 24, vocab 50, seq 12, 4 heads over 2 key/value heads) and put odd
// sizes (37) on the last axis to catch tail bugs in vectorised loops.
//
// Tolerances: see `tolerance` below. A result reduced over K terms of
// magnitude `scale` may be off by c * eps(f32) * sqrt(K) * scale, with the
// scale stated per case from its inputs. References are never all zero.
// bf16 kernels load and store bf16 but compute in float32 and round each
// result once, so a bf16 result must be the round-to-nearest bf16 of some
// value within that same float32 tolerance of the reference: its error may
// exceed the f32 tolerance by at most half the gap to its bf16 neighbour on
// the reference's side (2^-8 of its magnitude, half an ulp), and no more.
// Where a kernel's semantics round an intermediate that is itself a bf16
// tensor (the stored sum the fused norms then normalise), the reference
// does the same rounding rather than the tolerance growing.
//
// Inputs are drawn from a generator seeded by the kernel's name, so a
// failure reproduces; SLAPO_TEST_SEED=<n> draws other inputs.
//
//===----------------------------------------------------------------------===//

#include "../../lib/Runtime/Random.h"
#include "slapo/Runtime/Backend.h"
#include "slapo/Runtime/HalfFloat.h"
#include "slapo/Runtime/Kernels.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <ostream>
#include <random>
#include <sstream>
#include <tuple>

using namespace slapo::rt;

namespace {

constexpr int64_t kBatch = 2, kSeq = 12, kRows = kBatch * kSeq;
constexpr int64_t kHidden = 96, kVocab = 50, kOdd = 37;
constexpr int64_t kHeads = 4, kKvHeads = 2, kHeadDim = 16;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

//===----------------------------------------------------------------------===//
// Tolerances
//===----------------------------------------------------------------------===//

/// Machine epsilon of a float dtype's storage.
double epsilon(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return std::ldexp(1.0, -23);
  case DType::BF16:
    return std::ldexp(1.0, -7);
  case DType::F16:
    return std::ldexp(1.0, -10);
  default:
    return 0.0;
  }
}

/// The dtype a kernel over `dtype` computes in: bf16 kernels convert what
/// they load to float32 and accumulate there (Element.h).
DType computeDType(DType dtype) {
  return dtype == DType::BF16 ? DType::F32 : dtype;
}

/// The largest error a result of `dtype` may carry when it is a reduction
/// over `reduction` terms whose magnitude is at most `scale`:
///
///   |error| <= c * eps(compute dtype) * sqrt(K) * scale,
///
/// before the result is stored: for bf16 it is the error of the float32
/// computation, and expectClose adds the one rounding to bf16 (at most half
/// the gap to the neighbouring bf16 value).
///
/// Rounding errors of a K-term sum are independent, so they grow like a
/// random walk (sqrt(K)), not the worst case (K); the kernels' blocked and
/// vectorised sums keep partial sums small. c = 8 covers the few roundings
/// each term goes through (a product, the addition, the final rounding, a
/// 2-ulp exp) and the gap between the largest term (`scale`) and their
/// typical size. Elementwise results have K = 1; where an error in one
/// quantity is amplified by another (an angle by its position, a score by
/// exp), the case folds that into `scale`.
double tolerance(DType dtype, int64_t reduction, double scale) {
  constexpr double kSlack = 8.0;
  return kSlack * epsilon(computeDType(dtype)) *
         std::sqrt(double(std::max<int64_t>(reduction, 1))) * scale;
}

//===----------------------------------------------------------------------===//
// Host tensors and random inputs
//===----------------------------------------------------------------------===//

int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// A tensor on the host: float tensors hold doubles (exactly the values of
/// their dtype), id tensors int64.
struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<double> values;
  std::vector<int64_t> ids;
  Category category = Category::Activation;

  int64_t numel() const { return product(shape); }
  int64_t dim(int64_t i) const {
    return shape[i < 0 ? i + int64_t(shape.size()) : i];
  }
  int64_t rows() const { return numel() / dim(-1); }
  double operator[](int64_t i) const { return values[i]; }
};

/// A result tensor, filled with NaN (or, for ids, a sentinel) so that an
/// element a kernel forgets to write fails.
Tensor output(std::vector<int64_t> shape, DType dtype,
              Category category = Category::Activation) {
  Tensor t{dtype, std::move(shape), {}, {}, category};
  if (dtype == DType::I64)
    t.ids.assign(t.numel(), std::numeric_limits<int64_t>::min());
  else
    t.values.assign(t.numel(), kNaN);
  return t;
}

double roundTo(DType dtype, double x) {
  switch (dtype) {
  case DType::F32:
    return double(float(x));
  case DType::BF16:
    return double(bf16ToFloat(floatToBf16(float(x))));
  default:
    return x;
  }
}

double maxAbs(const std::vector<double> &values) {
  double max = 0.0;
  for (double v : values)
    if (std::isfinite(v))
      max = std::max(max, std::fabs(v));
  return max;
}

/// mt19937_64's output is fixed by the standard (its distributions are not),
/// so the numbers below are the same with every standard library.
class Random {
public:
  explicit Random(uint64_t seed) : engine(seed) {}

  double unit() { return double(engine() >> 11) * 0x1.0p-53; }

  /// Uniform in [low, high), rounded to `dtype`: the reference sees exactly
  /// the values the kernel does.
  Tensor uniform(std::vector<int64_t> shape, DType dtype, double low = -1.0,
                 double high = 1.0) {
    Tensor t = output(std::move(shape), dtype);
    for (double &v : t.values)
      v = roundTo(dtype, low + (high - low) * unit());
    return t;
  }

  /// Ids in [0, vocab).
  Tensor ids(std::vector<int64_t> shape, int64_t vocab) {
    Tensor t = output(std::move(shape), DType::I64);
    for (int64_t &id : t.ids)
      id = int64_t(engine() % uint64_t(vocab));
    return t;
  }

private:
  std::mt19937_64 engine;
};

//===----------------------------------------------------------------------===//
// One kernel call through the Backend interface
//===----------------------------------------------------------------------===//

std::vector<uint8_t> encode(const Tensor &t) {
  std::vector<uint8_t> bytes(size_t(t.numel() * dtypeBytes(t.dtype)));
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint8_t *at = bytes.data() + i * dtypeBytes(t.dtype);
    if (t.dtype == DType::I64) {
      std::memcpy(at, &t.ids[i], 8);
    } else if (t.dtype == DType::F32) {
      float f = float(t.values[i]);
      std::memcpy(at, &f, 4);
    } else if (t.dtype == DType::BF16) {
      uint16_t h = floatToBf16(float(t.values[i]));
      std::memcpy(at, &h, 2);
    } else {
      ADD_FAILURE() << "the suite cannot encode " << dtypeName(t.dtype);
    }
  }
  return bytes;
}

void decode(const std::vector<uint8_t> &bytes, Tensor &t) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    const uint8_t *at = bytes.data() + i * dtypeBytes(t.dtype);
    if (t.dtype == DType::I64) {
      std::memcpy(&t.ids[i], at, 8);
    } else if (t.dtype == DType::F32) {
      float f;
      std::memcpy(&f, at, 4);
      t.values[i] = f;
    } else if (t.dtype == DType::BF16) {
      uint16_t h;
      std::memcpy(&h, at, 2);
      t.values[i] = bf16ToFloat(h);
    }
  }
}

/// Backend memory released when it goes out of scope.
class DeviceMemory {
public:
  explicit DeviceMemory(Backend &backend) : backend(backend) {}
  ~DeviceMemory() {
    for (void *block : blocks)
      backend.release(block);
  }
  void *upload(const std::vector<uint8_t> &bytes) {
    std::string error;
    void *block = backend.allocate(bytes.size(), error);
    if (!block) {
      ADD_FAILURE() << error;
      return nullptr;
    }
    blocks.push_back(block);
    backend.copyFromHost(block, bytes.data(), bytes.size());
    return block;
  }

private:
  Backend &backend;
  std::vector<void *> blocks;
};

/// One kernel call: its attributes and step scalars, run on host tensors
/// copied to the backend and back.
class KernelRun {
public:
  KernelRun(Backend &backend, std::string kernel) : backend(backend) {
    call.name = std::move(kernel);
  }

  KernelRun &integer(const std::string &key, int64_t value) {
    call.attrs[key].i = value;
    kinds[key] = AttrKind::Int;
    return *this;
  }
  KernelRun &real(const std::string &key, double value) {
    call.attrs[key].f = value;
    kinds[key] = AttrKind::Float;
    return *this;
  }
  KernelRun &text(const std::string &key, std::string value) {
    call.attrs[key].s = std::move(value);
    kinds[key] = AttrKind::String;
    return *this;
  }
  KernelRun &ints(const std::string &key, std::vector<int64_t> value) {
    call.attrs[key].ints = std::move(value);
    kinds[key] = AttrKind::Ints;
    return *this;
  }
  /// A unit attribute (`causal`, `in_out`): only its presence counts.
  KernelRun &flag(const std::string &key) { return integer(key, 1); }

  /// The step's scalars the kernel may read (learning rate, step, seed,
  /// training, micro-batch).
  KernelContext scalars;
  uint64_t workspaceFloats = 0;

  /// Checks the call as the plan loader would, runs it, and copies the
  /// results back into `outs` (whose contents are uploaded first: in-place
  /// updates read them). False, with a failure recorded, when it cannot.
  [[nodiscard]] bool run(const std::vector<const Tensor *> &ins,
                         const std::vector<Tensor *> &outs) {
    std::vector<const Tensor *> all(ins.begin(), ins.end());
    all.insert(all.end(), outs.begin(), outs.end());
    if (std::string problem = verdict(all, ins.size()); !problem.empty()) {
      ADD_FAILURE() << call.name << " rejects the call: " << problem;
      return false;
    }

    std::vector<DType> dtypes;
    for (const Tensor *t : all)
      dtypes.push_back(t->dtype);
    KernelFn fn = backend.findKernel(call.name, dtypes);
    if (!fn) {
      ADD_FAILURE() << backend.name() << " has no '" << call.name
                    << "' for these dtypes";
      return false;
    }

    DeviceMemory memory(backend);
    KernelContext context = scalars;
    context.call = &call;
    context.stream = backend.stream();
    // A device backend's kernels read the step scalars in its memory.
    StepScalars device;
    device.learningRate = scalars.learningRate;
    device.step = scalars.step;
    device.seed = scalars.seed;
    device.microBatch = scalars.microBatch;
    device.training = scalars.training ? 1 : 0;
    context.deviceScalars = backend.setScalars(device);
    context.tp = nullptr;
    for (size_t i = 0; i < all.size(); ++i) {
      void *data = memory.upload(encode(*all[i]));
      if (!data)
        return false;
      (i < ins.size() ? context.ins : context.outs)
          .push_back(View{data, &infos[i], backend.space()});
    }
    if (workspaceFloats) {
      // NaN, so that reading workspace the kernel did not write shows.
      std::vector<float> nan(workspaceFloats, float(kNaN));
      std::vector<uint8_t> bytes(workspaceFloats * sizeof(float));
      std::memcpy(bytes.data(), nan.data(), bytes.size());
      context.workspace = static_cast<float *>(memory.upload(bytes));
      context.workspaceBytes = bytes.size();
      if (!context.workspace)
        return false;
    }
    fn(context);
    backend.synchronize();
    for (size_t i = 0; i < outs.size(); ++i) {
      std::vector<uint8_t> bytes(infos[ins.size() + i].bytes);
      backend.copyToHost(bytes.data(), context.outs[i].data, bytes.size());
      decode(bytes, *outs[i]);
    }
    return true;
  }

  /// What the load-time check says of the call ("" when it accepts it),
  /// without running it.
  std::string problem(const std::vector<const Tensor *> &ins,
                      const std::vector<const Tensor *> &outs) {
    std::vector<const Tensor *> all(ins.begin(), ins.end());
    all.insert(all.end(), outs.begin(), outs.end());
    return verdict(all, ins.size());
  }

private:
  /// Describes the call (`all`: its inputs, then its outputs) as a plan
  /// would and passes it through the kernel's load-time check.
  std::string verdict(const std::vector<const Tensor *> &all, size_t numIns) {
    call.kind = findKernelSpec(call.name);
    if (call.kind < 0)
      return "no kernel '" + call.name + "' in the catalog";
    const KernelSpec &spec = kernelCatalog()[call.kind];
    int numOuts = int(all.size() - numIns);
    if (int(numIns) < spec.minInputs || int(numIns) > spec.maxInputs ||
        (spec.outputs >= 0 && numOuts != spec.outputs))
      return "wrong arity";
    infos.assign(all.size(), TensorInfo());
    call.inputs.clear();
    call.outputs.clear();
    for (size_t i = 0; i < all.size(); ++i) {
      infos[i].name = (i < numIns ? "in" : "out") + std::to_string(i);
      infos[i].dtype = all[i]->dtype;
      infos[i].shape = all[i]->shape;
      infos[i].category = all[i]->category;
      infos[i].bytes = uint64_t(all[i]->numel() * dtypeBytes(all[i]->dtype));
      (i < numIns ? call.inputs : call.outputs).push_back(int32_t(i));
    }
    KernelCheck check;
    check.call = &call;
    for (size_t i = 0; i < all.size(); ++i)
      (i < numIns ? check.ins : check.outs).push_back(&infos[i]);
    check.attrKinds = kinds;
    check.workspaceBytes = workspaceFloats * sizeof(float);
    return spec.check(check);
  }

  Backend &backend;
  KernelCall call;
  std::map<std::string, AttrKind> kinds;
  std::vector<TensorInfo> infos; // the operands `call` describes
};

//===----------------------------------------------------------------------===//
// Comparisons
//===----------------------------------------------------------------------===//

/// The bf16 value next to bf16 value `g`, above it (`up`) or below.
double bf16Neighbour(double g, bool up) {
  if (g < 0.0)
    return -bf16Neighbour(-g, !up);
  uint16_t magnitude = floatToBf16(float(g)) & 0x7fffu; // -0 as +0
  if (!up && magnitude == 0)
    return -double(bf16ToFloat(1));
  return bf16ToFloat(uint16_t(up ? magnitude + 1 : magnitude - 1));
}

/// How far a stored element `got` may lie from the reference `want` when
/// the computation before the store may be off by `tol`: `tol` itself for
/// f32; for bf16, which rounds once to nearest on store, `tol` plus half
/// the gap from `got` to its bf16 neighbour on `want`'s side, i.e. exactly
/// the values to which some real within `tol` of `want` rounds. With `tol`
/// 0 and `want` a bf16 value, that is `want` alone.
double allowedError(const Tensor &got, int64_t i, double want, double tol) {
  if (got.dtype != DType::BF16 || !std::isfinite(got[i]))
    return tol;
  return tol + 0.5 * std::fabs(bf16Neighbour(got[i], want > got[i]) - got[i]);
}

/// Every element of `got` within `tol` of `want` (infinities must match
/// exactly), bf16 elements after their rounding (allowedError); `want`
/// must not be all zero, or the comparison proves nothing.
void expectClose(const Tensor &got, const std::vector<double> &want, double tol,
                 const std::string &what) {
  ASSERT_EQ(int64_t(want.size()), got.numel()) << what;
  EXPECT_GT(maxAbs(want), 0.0) << what << ": the reference is all zero";
  int64_t bad = 0, worst = -1;
  double worstError = 0.0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double error = std::isinf(want[i]) ? (got[i] == want[i] ? 0.0 : kInf)
                                       : std::fabs(got[i] - want[i]);
    if (!(error <= allowedError(got, i, want[i], tol))) {
      ++bad;
      if (worst < 0 || !(error <= worstError)) {
        worst = i;
        worstError = error;
      }
    }
  }
  bool bf16 = got.dtype == DType::BF16;
  std::ostringstream allowed;
  if (bf16 && worst >= 0)
    allowed << " (allowed error " << allowedError(got, worst, want[worst], tol)
            << ")";
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.numel()
                    << " elements differ by more than " << tol
                    << (bf16 ? " plus their rounding to bf16" : "")
                    << "; the worst, element " << worst << ", is "
                    << (worst >= 0 ? got[worst] : 0.0) << " instead of "
                    << (worst >= 0 ? want[worst] : 0.0) << allowed.str();
}

void expectIds(const Tensor &got, const std::vector<int64_t> &want,
               const std::string &what) {
  ASSERT_EQ(int64_t(want.size()), got.numel()) << what;
  for (int64_t i = 0; i < got.numel(); ++i)
    ASSERT_EQ(got.ids[i], want[i]) << what << " element " << i;
}

//===----------------------------------------------------------------------===//
// Float64 references, one per operation
//===----------------------------------------------------------------------===//

namespace ref {

/// The coordinates of element `i` of `shape` (row-major).
std::vector<int64_t> coordsOf(int64_t i, const std::vector<int64_t> &shape) {
  std::vector<int64_t> coords(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    coords[d] = i % shape[d];
    i /= shape[d];
  }
  return coords;
}

int64_t indexOf(const std::vector<int64_t> &coords,
                const std::vector<int64_t> &shape) {
  int64_t index = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    index = index * shape[d] + coords[d];
  return index;
}

/// The element of `shape` that coordinates of a broadcast result read
/// (NumPy rules: trailing axes aligned, size-1 axes repeated).
int64_t broadcastIndex(const std::vector<int64_t> &coords,
                       const std::vector<int64_t> &shape) {
  size_t lead = coords.size() - shape.size();
  std::vector<int64_t> own(shape.size());
  for (size_t d = 0; d < shape.size(); ++d)
    own[d] = shape[d] == 1 ? 0 : coords[lead + d];
  return indexOf(own, shape);
}

std::vector<int64_t> broadcastShape(const std::vector<int64_t> &a,
                                    const std::vector<int64_t> &b) {
  size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    shape[i] = da == 1 ? db : da;
  }
  return shape;
}

std::vector<double> broadcast(const Tensor &a, const Tensor &b,
                              const std::function<double(double, double)> &f) {
  std::vector<int64_t> shape = broadcastShape(a.shape, b.shape);
  std::vector<double> out(product(shape));
  for (int64_t i = 0; i < int64_t(out.size()); ++i) {
    std::vector<int64_t> coords = coordsOf(i, shape);
    out[i] = f(a[broadcastIndex(coords, a.shape)],
               b[broadcastIndex(coords, b.shape)]);
  }
  return out;
}

/// x summed down to `shape`, which broadcasts back to x.
std::vector<double> sumTo(const Tensor &x, const std::vector<int64_t> &shape) {
  std::vector<double> out(product(shape), 0.0);
  for (int64_t i = 0; i < x.numel(); ++i)
    out[broadcastIndex(coordsOf(i, x.shape), shape)] += x[i];
  return out;
}

std::vector<double> transpose(const Tensor &x,
                              const std::vector<int64_t> &perm) {
  std::vector<int64_t> shape;
  for (int64_t axis : perm)
    shape.push_back(x.dim(axis));
  std::vector<double> out(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) {
    std::vector<int64_t> coords = coordsOf(i, shape), from(shape.size());
    for (size_t d = 0; d < perm.size(); ++d)
      from[perm[d]] = coords[d];
    out[i] = x[indexOf(from, x.shape)];
  }
  return out;
}

/// Elements [start, start + size) of x along `axis`.
std::vector<double> slice(const Tensor &x, int64_t axis, int64_t start,
                          int64_t size) {
  std::vector<int64_t> shape = x.shape;
  shape[axis] = size;
  std::vector<double> out(product(shape));
  for (int64_t i = 0; i < int64_t(out.size()); ++i) {
    std::vector<int64_t> coords = coordsOf(i, shape);
    coords[axis] += start;
    out[i] = x[indexOf(coords, x.shape)];
  }
  return out;
}

std::vector<double> concat(const std::vector<const Tensor *> &pieces,
                           int64_t axis) {
  std::vector<int64_t> shape = pieces[0]->shape;
  shape[axis] = 0;
  for (const Tensor *piece : pieces)
    shape[axis] += piece->dim(axis);
  std::vector<double> out(product(shape));
  for (int64_t i = 0; i < int64_t(out.size()); ++i) {
    std::vector<int64_t> coords = coordsOf(i, shape);
    size_t p = 0;
    while (coords[axis] >= pieces[p]->dim(axis))
      coords[axis] -= pieces[p++]->dim(axis);
    out[i] = (*pieces[p])[indexOf(coords, pieces[p]->shape)];
  }
  return out;
}

std::vector<double> embedding(const Tensor &ids, const Tensor &table) {
  int64_t d = table.dim(1);
  std::vector<double> out;
  for (int64_t id : ids.ids)
    for (int64_t j = 0; j < d; ++j)
      out.push_back(table[id * d + j]);
  return out;
}

std::vector<double> embeddingGrad(const Tensor &ids, const Tensor &grad,
                                  int64_t rows) {
  int64_t d = grad.dim(-1);
  std::vector<double> out(rows * d, 0.0);
  for (int64_t i = 0; i < ids.numel(); ++i)
    for (int64_t j = 0; j < d; ++j)
      out[ids.ids[i] * d + j] += grad[i * d + j];
  return out;
}

/// torch.nn.Linear (weight [out, in]) or, `inOut`, GPT-2's Conv1D (weight
/// [in, out]); `bias` may be null.
std::vector<double> linear(const Tensor &x, const Tensor &w, const Tensor *bias,
                           bool inOut) {
  int64_t k = x.dim(-1), n = inOut ? w.dim(1) : w.dim(0);
  std::vector<double> out(x.rows() * n);
  for (int64_t i = 0; i < x.rows(); ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = bias ? (*bias)[j] : 0.0;
      for (int64_t l = 0; l < k; ++l)
        sum += x[i * k + l] * w[inOut ? l * n + j : j * k + l];
      out[i * n + j] = sum;
    }
  return out;
}

/// The weight gradient of `linear` for output gradient dy.
std::vector<double> linearGradWeight(const Tensor &x, const Tensor &dy,
                                     bool inOut) {
  int64_t k = x.dim(-1), n = dy.dim(-1);
  std::vector<double> out(k * n, 0.0);
  for (int64_t r = 0; r < x.rows(); ++r)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < n; ++j)
        out[inOut ? i * n + j : j * k + i] += x[r * k + i] * dy[r * n + j];
  return out;
}

/// graph.block_mask: element (i, j) of [ceil(N / rows), F / cols] is 1 when
/// some score of row tile i (rows [i * rows, (i + 1) * rows) of the N) and
/// column block j is above `threshold` (equal is not above), else 0.
std::vector<double> blockMask(const Tensor &scores, int64_t rows, int64_t cols,
                              double threshold) {
  int64_t n = scores.rows(), f = scores.dim(-1), blocks = f / cols;
  std::vector<double> out((n + rows - 1) / rows * blocks, 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < f; ++c)
      if (scores[r * f + c] > threshold)
        out[r / rows * blocks + c / cols] = 1.0;
  return out;
}

/// Whether feature `feature` of row `row` lies in a live tile of `mask`
/// [row tiles, blocks] (rows `rows` at a time, features `block` at a
/// time): a nonzero element.
bool liveTile(const Tensor &mask, int64_t row, int64_t rows, int64_t feature,
              int64_t block) {
  return mask[row / rows * mask.dim(1) + feature / block] != 0.0;
}

/// graph.block_sparse_linear of x [..., in], w [out, in], bias [out] (may
/// be null): `sparseOut`, the live tiles of x W^T + b and zeros; else
/// b + x W^T over the live input blocks of each row's tile only.
std::vector<double> blockSparseLinear(const Tensor &x, const Tensor &w,
                                      const Tensor *bias, const Tensor &mask,
                                      int64_t rows, int64_t block,
                                      bool sparseOut) {
  int64_t in = w.dim(1), out = w.dim(0);
  std::vector<double> y(x.rows() * out, 0.0);
  for (int64_t r = 0; r < x.rows(); ++r)
    for (int64_t o = 0; o < out; ++o) {
      if (sparseOut && !liveTile(mask, r, rows, o, block))
        continue;
      double sum = bias ? (*bias)[o] : 0.0;
      for (int64_t c = 0; c < in; ++c)
        if (sparseOut || liveTile(mask, r, rows, c, block))
          sum += x[r * in + c] * w[o * in + c];
      y[r * out + o] = sum;
    }
  return y;
}

/// graph.block_sparse_linear_grad of dy [..., out] and w [out, in]:
/// `sparseOut`, dy W over the live output blocks of each row's tile only;
/// else the live tiles of dy W and zeros.
std::vector<double> blockSparseLinearGrad(const Tensor &dy, const Tensor &w,
                                          const Tensor &mask, int64_t rows,
                                          int64_t block, bool sparseOut) {
  int64_t in = w.dim(1), out = w.dim(0);
  std::vector<double> dx(dy.rows() * in, 0.0);
  for (int64_t r = 0; r < dy.rows(); ++r)
    for (int64_t c = 0; c < in; ++c) {
      if (!sparseOut && !liveTile(mask, r, rows, c, block))
        continue;
      double sum = 0.0;
      for (int64_t o = 0; o < out; ++o)
        if (!sparseOut || liveTile(mask, r, rows, o, block))
          sum += dy[r * out + o] * w[o * in + c];
      dx[r * in + c] = sum;
    }
  return dx;
}

/// graph.sigmoid_bce: scale times the mean of
/// -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), from torch's
/// binary_cross_entropy_with_logits formula.
double sigmoidBce(const Tensor &x, const Tensor &y, double scale) {
  double sum = 0.0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    double sigmoid = 1.0 / (1.0 + std::exp(-x[i]));
    sum -= y[i] * std::log(sigmoid) + (1.0 - y[i]) * std::log1p(-sigmoid);
  }
  return scale * sum / double(x.numel());
}

std::vector<double> sigmoidBceGrad(const Tensor &x, const Tensor &y,
                                   double scale) {
  std::vector<double> g(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i)
    g[i] = scale * (1.0 / (1.0 + std::exp(-x[i])) - y[i]) / double(x.numel());
  return g;
}

/// graph.mask_agreement: the fractions of (row, block) pairs live and
/// covered by their tile's prediction, of pairs live, of tiles predicted
/// and of tiles some row of which is live, each times `scale`.
std::vector<double> maskAgreement(const Tensor &predicted, const Tensor &live,
                                  int64_t rows, double scale) {
  int64_t n = live.dim(0), blocks = live.dim(1), tiles = predicted.dim(0);
  double covered = 0, alive = 0, predictedTiles = 0, shadowed = 0;
  std::vector<bool> anyLive(tiles * blocks, false);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < blocks; ++j)
      if (live[r * blocks + j] != 0.0) {
        alive += 1;
        covered += predicted[r / rows * blocks + j] != 0.0;
        anyLive[r / rows * blocks + j] = true;
      }
  for (int64_t e = 0; e < tiles * blocks; ++e) {
    predictedTiles += predicted[e] != 0.0;
    shadowed += anyLive[e];
  }
  double pairs = double(n * blocks), tileBlocks = double(tiles * blocks);
  return {scale * covered / pairs, scale * alive / pairs,
          scale * predictedTiles / tileBlocks, scale * shadowed / tileBlocks};
}

/// torch.matmul over matching batch axes; `transposeB` reads b as [.., N, K].
std::vector<double> matmul(const Tensor &a, const Tensor &b, bool transposeB) {
  int64_t m = a.dim(-2), k = a.dim(-1), n = transposeB ? b.dim(-2) : b.dim(-1);
  int64_t batch = a.numel() / (m * k);
  std::vector<double> out(batch * m * n, 0.0);
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0.0;
        for (int64_t l = 0; l < k; ++l)
          sum += a[(z * m + i) * k + l] *
                 b[z * k * n + (transposeB ? j * k + l : l * n + j)];
        out[(z * m + i) * n + j] = sum;
      }
  return out;
}

/// Each row's mean and 1 / sqrt(biased variance + eps) (torch.layer_norm).
struct Moments {
  std::vector<double> mean, rstd;
};

Moments moments(const std::vector<double> &x, int64_t d, double eps) {
  Moments m;
  for (size_t r = 0; r * d < x.size(); ++r) {
    double mean = 0.0, var = 0.0;
    for (int64_t j = 0; j < d; ++j)
      mean += x[r * d + j] / d;
    for (int64_t j = 0; j < d; ++j)
      var += (x[r * d + j] - mean) * (x[r * d + j] - mean) / d;
    m.mean.push_back(mean);
    m.rstd.push_back(1.0 / std::sqrt(var + eps));
  }
  return m;
}

/// torch.nn.functional.layer_norm over the last axis; gamma and beta may be
/// null (no affine).
std::vector<double> layerNorm(const std::vector<double> &x, int64_t d,
                              const Tensor *gamma, const Tensor *beta,
                              double eps) {
  Moments m = moments(x, d, eps);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double h = (x[i] - m.mean[i / d]) * m.rstd[i / d];
    out[i] = gamma ? h * (*gamma)[i % d] + (*beta)[i % d] : h;
  }
  return out;
}

struct LayerNormGrads {
  std::vector<double> dx, dgamma, dbeta;
};

/// The gradients of layerNorm(x) * gamma + beta for output gradient dy.
LayerNormGrads layerNormGrad(const Tensor &x, const Tensor &dy,
                             const Tensor *gamma, double eps) {
  int64_t d = x.dim(-1);
  Moments m = moments(x.values, d, eps);
  LayerNormGrads g{std::vector<double>(x.numel()), std::vector<double>(d, 0.0),
                   std::vector<double>(d, 0.0)};
  for (int64_t r = 0; r < x.rows(); ++r) {
    std::vector<double> h(d), gy(d);
    double meanG = 0.0, meanGH = 0.0;
    for (int64_t j = 0; j < d; ++j) {
      h[j] = (x[r * d + j] - m.mean[r]) * m.rstd[r];
      gy[j] = dy[r * d + j] * (gamma ? (*gamma)[j] : 1.0);
      meanG += gy[j] / d;
      meanGH += gy[j] * h[j] / d;
      g.dgamma[j] += dy[r * d + j] * h[j];
      g.dbeta[j] += dy[r * d + j];
    }
    for (int64_t j = 0; j < d; ++j)
      g.dx[r * d + j] = m.rstd[r] * (gy[j] - meanG - h[j] * meanGH);
  }
  return g;
}

/// 1 / sqrt(mean(x^2) + eps) of each row.
std::vector<double> rmsInverse(const std::vector<double> &x, int64_t d,
                               double eps) {
  std::vector<double> r;
  for (size_t row = 0; row * d < x.size(); ++row) {
    double sq = 0.0;
    for (int64_t j = 0; j < d; ++j)
      sq += x[row * d + j] * x[row * d + j];
    r.push_back(1.0 / std::sqrt(sq / d + eps));
  }
  return r;
}

/// Hugging Face's LlamaRMSNorm: weight * x / sqrt(mean(x^2) + eps).
std::vector<double> rmsNorm(const std::vector<double> &x, const Tensor &w,
                            double eps) {
  int64_t d = w.numel();
  std::vector<double> r = rmsInverse(x, d, eps), out(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    out[i] = w[i % d] * x[i] * r[i / d];
  return out;
}

struct RmsNormGrads {
  std::vector<double> dx, dw;
};

RmsNormGrads rmsNormGrad(const Tensor &x, const Tensor &dy, const Tensor &w,
                         double eps) {
  int64_t d = x.dim(-1);
  std::vector<double> r = rmsInverse(x.values, d, eps);
  RmsNormGrads g{std::vector<double>(x.numel()), std::vector<double>(d, 0.0)};
  for (int64_t row = 0; row < x.rows(); ++row) {
    // y = w * x * r(x), dr/dx_j = -r^3 x_j / d.
    double dot = 0.0;
    for (int64_t j = 0; j < d; ++j)
      dot += dy[row * d + j] * w[j] * x[row * d + j];
    double rr = r[row];
    for (int64_t j = 0; j < d; ++j) {
      int64_t i = row * d + j;
      g.dx[i] = dy[i] * w[j] * rr - x[i] * rr * rr * rr * dot / d;
      g.dw[j] += dy[i] * x[i] * rr;
    }
  }
  return g;
}

/// Query i of T sees keys j < i + (S - T) + 1 (the last query sees every
/// key, as with a key/value cache).
bool visible(int64_t i, int64_t j, int64_t t, int64_t s) {
  return j < i + (s - t) + 1;
}

std::vector<double> causalMask(const Tensor &x, bool zeroFill) {
  int64_t t = x.dim(-2), s = x.dim(-1);
  std::vector<double> out(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i)
    out[i] = visible(i / s % t, i % s, t, s) ? x[i] : (zeroFill ? 0.0 : -kInf);
  return out;
}

/// Softmax along the last axis of rows of d (masked entries -inf).
std::vector<double> softmax(const std::vector<double> &x, int64_t d) {
  std::vector<double> out(x.size());
  for (size_t r = 0; r * d < x.size(); ++r) {
    double max = -kInf, sum = 0.0;
    for (int64_t j = 0; j < d; ++j)
      max = std::max(max, x[r * d + j]);
    for (int64_t j = 0; j < d; ++j)
      sum += (out[r * d + j] = std::exp(x[r * d + j] - max));
    for (int64_t j = 0; j < d; ++j)
      out[r * d + j] /= sum;
  }
  return out;
}

std::vector<double> softmaxGrad(const Tensor &y, const Tensor &dy) {
  int64_t d = y.dim(-1);
  std::vector<double> out(y.numel());
  for (int64_t r = 0; r < y.rows(); ++r) {
    double dot = 0.0;
    for (int64_t j = 0; j < d; ++j)
      dot += y[r * d + j] * dy[r * d + j];
    for (int64_t j = 0; j < d; ++j)
      out[r * d + j] = y[r * d + j] * (dy[r * d + j] - dot);
  }
  return out;
}

/// Where a dropout mask comes from: element `first + i` of stream `stream`.
struct DropoutSpec {
  double probability = 0.0;
  uint64_t seed = 0;
  int64_t step = 1, stream = 0;
};

/// The multipliers (0 or 1 / (1 - p)) of `count` elements from `first`.
std::vector<double> dropoutMask(const DropoutSpec &spec, uint64_t first,
                                int64_t count) {
  std::vector<double> mask(count, 1.0);
  if (spec.probability > 0.0)
    for (int64_t i = 0; i < count; ++i)
      mask[i] = double(dropoutScale(spec.seed, uint64_t(spec.step),
                                    uint64_t(spec.stream), first + uint64_t(i),
                                    float(spec.probability)));
  return mask;
}

struct AttentionSpec {
  double scale = 1.0;
  bool causal = false;
  DropoutSpec dropout;
  int64_t microBatch = 0;
  /// Block-sparse attention: [B, H, T / block, S / block], a (query tile,
  /// key tile) pair computed where it is nonzero, the first key tile and
  /// the diagonal one always; null for dense attention.
  const Tensor *tileMask = nullptr;
  int64_t block = 0;
};

/// Attention of q [B, H, T, D] over k [B, Hkv, S, D], v [B, Hkv, S, Dv],
/// query head h reading key/value head h / (H / Hkv) (GQA), dropout on the
/// probabilities [B, H, T, S] (Hugging Face's eager attention).
class Attention {
public:
  Attention(const Tensor &q, const Tensor &k, const Tensor &v,
            const AttentionSpec &spec)
      : q(q), k(k), v(v), spec(spec), b(q.dim(0)), h(q.dim(1)), hkv(k.dim(1)),
        t(q.dim(2)), s(k.dim(2)), d(q.dim(3)), dv(v.dim(3)) {}

  std::vector<double> forward() const {
    std::vector<double> out(b * h * t * dv, 0.0);
    for (int64_t bh = 0; bh < b * h; ++bh) {
      std::vector<double> p = probabilities(bh), mask = maskOf(bh);
      for (int64_t i = 0; i < t; ++i)
        for (int64_t j = 0; j < s; ++j)
          for (int64_t e = 0; e < dv; ++e)
            out[(bh * t + i) * dv + e] +=
                p[i * s + j] * mask[i * s + j] * v[(kvOf(bh) * s + j) * dv + e];
    }
    return out;
  }

  struct Grads {
    std::vector<double> dq, dk, dv;
  };
  Grads backward(const Tensor &dout) const {
    Grads g{std::vector<double>(q.numel(), 0.0),
            std::vector<double>(k.numel(), 0.0),
            std::vector<double>(v.numel(), 0.0)};
    for (int64_t bh = 0; bh < b * h; ++bh) {
      int64_t kv = kvOf(bh);
      std::vector<double> p = probabilities(bh), mask = maskOf(bh);
      for (int64_t i = 0; i < t; ++i) {
        // dP = (dO V^T) * mask; dS = P * (dP - sum_j P dP).
        std::vector<double> dp(s, 0.0);
        double dot = 0.0;
        for (int64_t j = 0; j < s; ++j) {
          for (int64_t e = 0; e < dv; ++e) {
            double grad = dout[(bh * t + i) * dv + e];
            dp[j] += grad * v[(kv * s + j) * dv + e];
            g.dv[(kv * s + j) * dv + e] +=
                p[i * s + j] * mask[i * s + j] * grad;
          }
          dp[j] *= mask[i * s + j];
          dot += dp[j] * p[i * s + j];
        }
        for (int64_t j = 0; j < s; ++j) {
          double ds = p[i * s + j] * (dp[j] - dot) * spec.scale;
          for (int64_t e = 0; e < d; ++e) {
            g.dq[(bh * t + i) * d + e] += ds * k[(kv * s + j) * d + e];
            g.dk[(kv * s + j) * d + e] += ds * q[(bh * t + i) * d + e];
          }
        }
      }
    }
    return g;
  }

private:
  int64_t kvOf(int64_t bh) const { return bh / h * hkv + bh % h / (h / hkv); }
  /// softmax(scale * q k^T) of one (batch, head), masked when causal.
  std::vector<double> probabilities(int64_t bh) const {
    std::vector<double> scores(t * s);
    for (int64_t i = 0; i < t; ++i)
      for (int64_t j = 0; j < s; ++j) {
        double dot = 0.0;
        for (int64_t e = 0; e < d; ++e)
          dot += q[(bh * t + i) * d + e] * k[(kvOf(bh) * s + j) * d + e];
        bool masked =
            (spec.causal && !visible(i, j, t, s)) || !liveTile(bh, i, j);
        scores[i * s + j] = masked ? -kInf : spec.scale * dot;
      }
    return softmax(scores, s);
  }
  bool liveTile(int64_t bh, int64_t i, int64_t j) const {
    if (!spec.tileMask)
      return true;
    int64_t it = i / spec.block, jt = j / spec.block;
    const Tensor &m = *spec.tileMask;
    return jt == 0 || jt == it ||
           m[(bh * m.dim(2) + it) * m.dim(3) + jt] != 0.0;
  }
  std::vector<double> maskOf(int64_t bh) const {
    uint64_t first = uint64_t(spec.microBatch * b * h * t * s + bh * t * s);
    return dropoutMask(spec.dropout, first, t * s);
  }

  const Tensor &q, &k, &v;
  AttentionSpec spec;
  int64_t b, h, hkv, t, s, d, dv;
};

struct RopeSpec {
  double theta = 10000.0;
  std::string scaling; // "", "linear" or "llama3"
  double factor = 1.0, lowFreqFactor = 1.0, highFreqFactor = 4.0;
  int64_t originalMaxPositions = 8192;
  bool inverse = false;
};

/// Hugging Face's modeling_rope_utils: 1 / theta^(2i/D), then the rule of
/// `scaling` (_compute_linear_scaling_rope_parameters,
/// _compute_llama3_parameters).
std::vector<double> ropeFrequencies(const RopeSpec &spec, int64_t d) {
  std::vector<double> inv(d / 2);
  for (int64_t i = 0; i < d / 2; ++i)
    inv[i] = 1.0 / std::pow(spec.theta, double(2 * i) / double(d));
  if (spec.scaling == "linear")
    for (double &f : inv)
      f /= spec.factor;
  if (spec.scaling == "llama3") {
    double old = double(spec.originalMaxPositions);
    double lowWavelen = old / spec.lowFreqFactor;
    double highWavelen = old / spec.highFreqFactor;
    for (double &f : inv) {
      double wavelen = 2.0 * M_PI / f;
      if (wavelen > lowWavelen) {
        f /= spec.factor;
      } else if (!(wavelen < highWavelen)) {
        double smooth = (old / wavelen - spec.lowFreqFactor) /
                        (spec.highFreqFactor - spec.lowFreqFactor);
        f = (1.0 - smooth) * f / spec.factor + smooth * f;
      }
    }
  }
  return inv;
}

/// x * cos + rotate_half(x) * sin on x [B, H, T, D] at positions 0..T-1
/// (apply_rotary_pos_emb); `inverse` rotates back (sin negated).
std::vector<double> rope(const Tensor &x, const RopeSpec &spec) {
  int64_t t = x.dim(2), d = x.dim(3), half = d / 2;
  std::vector<double> inv = ropeFrequencies(spec, d), out(x.numel());
  for (int64_t row = 0; row < x.rows(); ++row)
    for (int64_t i = 0; i < half; ++i) {
      double angle = double(row % t) * inv[i];
      double cs = std::cos(angle),
             sn = std::sin(angle) * (spec.inverse ? -1 : 1);
      double a = x[row * d + i], b = x[row * d + i + half];
      out[row * d + i] = a * cs - b * sn;
      out[row * d + i + half] = b * cs + a * sn;
    }
  return out;
}

/// relu, silu, gelu (erf) and gelu_tanh (Hugging Face's gelu_new).
double activation(const std::string &kind, double x) {
  if (kind == "relu")
    return x > 0.0 ? x : 0.0;
  if (kind == "silu")
    return x / (1.0 + std::exp(-x));
  if (kind == "gelu_tanh")
    return 0.5 * x *
           (1.0 +
            std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

double activationDerivative(const std::string &kind, double x) {
  if (kind == "relu")
    return x > 0.0 ? 1.0 : 0.0;
  if (kind == "silu") {
    double s = 1.0 / (1.0 + std::exp(-x));
    return s + x * s * (1.0 - s);
  }
  if (kind == "gelu_tanh") {
    double c = std::sqrt(2.0 / M_PI);
    double th = std::tanh(c * (x + 0.044715 * x * x * x));
    return 0.5 * (1.0 + th) +
           0.5 * x * (1.0 - th * th) * c * (1.0 + 3.0 * 0.044715 * x * x);
  }
  return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))) +
         x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
}

/// log(sum(exp(row))) of every row.
std::vector<double> logSumExp(const Tensor &logits) {
  int64_t v = logits.dim(-1);
  std::vector<double> out;
  for (int64_t r = 0; r < logits.rows(); ++r) {
    double max = -kInf, sum = 0.0;
    for (int64_t j = 0; j < v; ++j)
      max = std::max(max, logits[r * v + j]);
    for (int64_t j = 0; j < v; ++j)
      sum += std::exp(logits[r * v + j] - max);
    out.push_back(max + std::log(sum));
  }
  return out;
}

int64_t countTargets(const Tensor &targets, int64_t ignore) {
  return std::count_if(targets.ids.begin(), targets.ids.end(),
                       [&](int64_t id) { return id != ignore; });
}

/// torch.nn.functional.cross_entropy, reduction "mean" over the targets
/// that are not `ignore`.
double crossEntropy(const Tensor &logits, const Tensor &targets,
                    int64_t ignore) {
  std::vector<double> lse = logSumExp(logits);
  double total = 0.0;
  for (int64_t r = 0; r < logits.rows(); ++r)
    if (targets.ids[r] != ignore)
      total += lse[r] - logits[r * logits.dim(-1) + targets.ids[r]];
  return total / double(countTargets(targets, ignore));
}

std::vector<double> crossEntropyGrad(const Tensor &logits,
                                     const Tensor &targets, int64_t ignore) {
  int64_t v = logits.dim(-1);
  double inv = 1.0 / double(countTargets(targets, ignore));
  std::vector<double> lse = logSumExp(logits), out(logits.numel(), 0.0);
  for (int64_t r = 0; r < logits.rows(); ++r) {
    if (targets.ids[r] == ignore)
      continue;
    for (int64_t j = 0; j < v; ++j)
      out[r * v + j] = std::exp(logits[r * v + j] - lse[r]) * inv;
    out[r * v + targets.ids[r]] -= inv;
  }
  return out;
}

struct AdamW {
  double lr, beta1, beta2, epsilon, weightDecay;
  int64_t step;
};

/// One step of torch.optim.AdamW on p, m, v (in place).
void adamw(const AdamW &o, const Tensor &g, std::vector<double> &p,
           std::vector<double> &m, std::vector<double> &v) {
  double c1 = 1.0 - std::pow(o.beta1, double(o.step));
  double c2 = 1.0 - std::pow(o.beta2, double(o.step));
  for (int64_t i = 0; i < g.numel(); ++i) {
    p[i] *= 1.0 - o.lr * o.weightDecay;
    m[i] = o.beta1 * m[i] + (1.0 - o.beta1) * g[i];
    v[i] = o.beta2 * v[i] + (1.0 - o.beta2) * g[i] * g[i];
    p[i] -= o.lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + o.epsilon);
  }
}

} // namespace ref

//===----------------------------------------------------------------------===//
// The cases: one function per kernel, running its variants
//===----------------------------------------------------------------------===//

using Shape = std::vector<int64_t>;

void caseEmbedding(Backend &backend, DType dtype, Random &random) {
  Tensor table = random.uniform({kVocab, kOdd}, dtype);
  Tensor ids = random.ids({kBatch, kSeq}, kVocab);
  Tensor out = output({kBatch, kSeq, kOdd}, dtype);
  ASSERT_TRUE(KernelRun(backend, "embedding").run({&ids, &table}, {&out}));
  expectClose(out, ref::embedding(ids, table),
              tolerance(dtype, 1, maxAbs(table.values)), "rows");
}

void caseEmbeddingGrad(Backend &backend, DType dtype, Random &random) {
  Tensor ids = random.ids({kBatch, kSeq}, kVocab);
  ids.ids[5] = ids.ids[kRows - 1] = ids.ids[0]; // repeated rows add up
  Tensor grad = random.uniform({kBatch, kSeq, kOdd}, dtype);
  Tensor out = output({kVocab, kOdd}, dtype);
  ASSERT_TRUE(KernelRun(backend, "embedding_grad").run({&ids, &grad}, {&out}));
  expectClose(out, ref::embeddingGrad(ids, grad, kVocab),
              tolerance(dtype, kRows, maxAbs(grad.values)), "table grad");
}

void casePositionIds(Backend &backend, DType, Random &random) {
  for (int64_t offset : {0, 5}) {
    SCOPED_TRACE("offset " + std::to_string(offset));
    Tensor ids = random.ids({3, kSeq}, kVocab);
    Tensor out = output({3, kSeq}, DType::I64);
    KernelRun run(backend, "position_ids");
    if (offset)
      run.integer("offset", offset);
    ASSERT_TRUE(run.run({&ids}, {&out}));
    std::vector<int64_t> want;
    for (int64_t i = 0; i < 3 * kSeq; ++i)
      want.push_back(offset + i % kSeq);
    expectIds(out, want, "positions");
  }
}

void caseLinear(Backend &backend, DType dtype, Random &random) {
  struct Variant {
    int64_t in, out;
    bool bias, inOut;
    int64_t batch = kBatch; // 8 x kSeq = 96 rows: oneDNN's bf16 path (a
                            // bf16 GEMM of fewer than 64 rows runs in f32)
  };
  for (Variant c :
       {Variant{kHidden, kVocab, false, false},
        Variant{kHidden, kVocab, true, false},
        Variant{kOdd, kVocab, true, true}, Variant{kOdd, 13, false, true},
        Variant{kHidden, kVocab, true, false, 8},
        Variant{kOdd, 100, false, true, 8}}) {
    SCOPED_TRACE(std::to_string(c.batch * kSeq) + " rows, " +
                 std::to_string(c.in) + " -> " + std::to_string(c.out) +
                 (c.bias ? ", bias" : "") + (c.inOut ? ", in_out" : ""));
    Tensor x = random.uniform({c.batch, kSeq, c.in}, dtype);
    Tensor w = random.uniform(c.inOut ? Shape{c.in, c.out} : Shape{c.out, c.in},
                              dtype);
    Tensor b = random.uniform({c.out}, dtype);
    Tensor y = output({c.batch, kSeq, c.out}, dtype);
    KernelRun run(backend, "linear");
    if (c.inOut)
      run.flag("in_out");
    std::vector<const Tensor *> ins = {&x, &w};
    if (c.bias)
      ins.push_back(&b);
    ASSERT_TRUE(run.run(ins, {&y}));
    double scale =
        maxAbs(x.values) * maxAbs(w.values) + (c.bias ? maxAbs(b.values) : 0.0);
    expectClose(y, ref::linear(x, w, c.bias ? &b : nullptr, c.inOut),
                tolerance(dtype, c.in, scale), "result");
  }
}

void caseLinearGradWeight(Backend &backend, DType dtype, Random &random) {
  // dW has `out` (or, in_out, `in`) rows: 100 and 96 take oneDNN's bf16
  // path, 50 the f32 one.
  for (auto [in, out, inOut] :
       {std::tuple{kOdd, kVocab, false}, std::tuple{kHidden, int64_t(13), true},
        std::tuple{kOdd, int64_t(100), false}}) {
    SCOPED_TRACE(inOut ? "in_out" : "out_in");
    Tensor x = random.uniform({kBatch, kSeq, in}, dtype);
    Tensor dy = random.uniform({kBatch, kSeq, out}, dtype);
    Tensor dw = output(inOut ? Shape{in, out} : Shape{out, in}, dtype);
    KernelRun run(backend, "linear_grad_weight");
    if (inOut)
      run.flag("in_out");
    ASSERT_TRUE(run.run({&x, &dy}, {&dw}));
    expectClose(dw, ref::linearGradWeight(x, dy, inOut),
                tolerance(dtype, kRows, maxAbs(x.values) * maxAbs(dy.values)),
                "weight grad");
  }
}

/// A mask [tiles, blocks] of 0 and 1 with about half the blocks live, the
/// first live and (where there are two) the second dead.
Tensor randomMask(Random &random, int64_t tiles, int64_t blocks, DType dtype) {
  Tensor mask = output({tiles, blocks}, dtype);
  for (double &v : mask.values)
    v = random.unit() < 0.5 ? 1.0 : 0.0;
  mask.values[0] = 1.0;
  if (mask.numel() > 1)
    mask.values[1] = 0.0;
  return mask;
}

void caseBlockMask(Backend &backend, DType dtype, Random &random) {
  for (auto [rows, cols, threshold] :
       {std::tuple{int64_t(1), int64_t(8), 0.875},
        std::tuple{int64_t(5), int64_t(12), 0.9375},
        std::tuple{int64_t(24), int64_t(32), 0.5}}) {
    SCOPED_TRACE("rows " + std::to_string(rows) + ", cols " +
                 std::to_string(cols));
    Tensor scores = random.uniform({kBatch, kSeq, kHidden}, dtype);
    // A block whose best score equals the threshold (each exact in bf16)
    // is dead: equal is not above.
    for (int64_t c = 0; c < cols; ++c)
      scores.values[c] = roundTo(dtype, c == 0 ? threshold : -1.0);
    if (rows == 1) {
      ASSERT_EQ(scores.values[0], threshold);
    }
    int64_t tiles = (kRows + rows - 1) / rows;
    Tensor mask = output({tiles, kHidden / cols}, dtype);
    KernelRun run(backend, "block_mask");
    run.integer("rows", rows)
        .integer("cols", cols)
        .real("threshold", threshold);
    ASSERT_TRUE(run.run({&scores}, {&mask}));
    std::vector<double> want = ref::blockMask(scores, rows, cols, threshold);
    if (rows == 1) {
      ASSERT_EQ(want[0], 0.0);
    }
    expectClose(mask, want, 0.0, "mask");
  }
}

/// The sizes of a block-sparse linear case: `rowsMult` x kSeq rows of `in`
/// features to `out`, the mask on the output (`sparseOut`) or input
/// features, `block` features and `tile` rows at a time.
struct BlockSparseVariant {
  int64_t in, out, block, tile;
  bool sparseOut, bias;
  int64_t batch = kBatch;
  std::string str() const {
    return std::to_string(batch * kSeq) + " rows, " + std::to_string(in) +
           " -> " + std::to_string(out) + ", sparse " +
           (sparseOut ? "out" : "in") + ", block " + std::to_string(block) +
           ", rows " + std::to_string(tile) + (bias ? ", bias" : "");
  }
  int64_t tiles() const { return (batch * kSeq + tile - 1) / tile; }
  int64_t blocks() const { return (sparseOut ? out : in) / block; }
};

/// Small tiles with tails, and (the last two) 32-row tiles of 32-feature
/// blocks, so a device's 32 x 32 tiles are wholly dead or live.
const std::vector<BlockSparseVariant> &blockSparseVariants() {
  static const std::vector<BlockSparseVariant> variants = {
      {kOdd, kHidden, 8, 1, true, true},   {kOdd, kHidden, 12, 5, true, false},
      {kHidden, kOdd, 12, 4, false, true}, {kHidden, kOdd, 8, 1, false, false},
      {kOdd, 128, 32, 32, true, true, 8},  {128, kOdd, 32, 32, false, true, 8},
  };
  return variants;
}

void caseBlockSparseLinear(Backend &backend, DType dtype, Random &random) {
  for (const BlockSparseVariant &c : blockSparseVariants()) {
    SCOPED_TRACE(c.str());
    Tensor x = random.uniform({c.batch, kSeq, c.in}, dtype);
    Tensor w = random.uniform({c.out, c.in}, dtype);
    Tensor b = random.uniform({c.out}, dtype);
    Tensor mask = randomMask(random, c.tiles(), c.blocks(), dtype);
    Tensor y = output({c.batch, kSeq, c.out}, dtype);
    KernelRun run(backend, "block_sparse_linear");
    run.integer("rows", c.tile)
        .integer("block", c.block)
        .text("sparse", c.sparseOut ? "out" : "in");
    std::vector<const Tensor *> ins = {&x, &w};
    if (c.bias)
      ins.push_back(&b);
    ins.push_back(&mask);
    ASSERT_TRUE(run.run(ins, {&y}));
    double scale =
        maxAbs(x.values) * maxAbs(w.values) + (c.bias ? maxAbs(b.values) : 0.0);
    expectClose(y,
                ref::blockSparseLinear(x, w, c.bias ? &b : nullptr, mask,
                                       c.tile, c.block, c.sparseOut),
                tolerance(dtype, c.in, scale), "result");
  }

  // Exactness: an input that is zero outside the mask's live blocks (a
  // ReLU's output under its oracle mask) gives the dense product.
  SCOPED_TRACE("oracle: dead input blocks are zero");
  BlockSparseVariant c{kHidden, kOdd, 8, 3, false, true};
  Tensor x = random.uniform({c.batch, kSeq, c.in}, dtype);
  Tensor w = random.uniform({c.out, c.in}, dtype);
  Tensor b = random.uniform({c.out}, dtype);
  Tensor mask = randomMask(random, c.tiles(), c.blocks(), dtype);
  for (int64_t r = 0; r < x.rows(); ++r)
    for (int64_t f = 0; f < c.in; ++f)
      if (!ref::liveTile(mask, r, c.tile, f, c.block))
        x.values[r * c.in + f] = 0.0;
  Tensor y = output({c.batch, kSeq, c.out}, dtype);
  KernelRun run(backend, "block_sparse_linear");
  run.integer("rows", c.tile).integer("block", c.block).text("sparse", "in");
  ASSERT_TRUE(run.run({&x, &w, &b, &mask}, {&y}));
  expectClose(y, ref::linear(x, w, &b, false),
              tolerance(dtype, c.in,
                        maxAbs(x.values) * maxAbs(w.values) + maxAbs(b.values)),
              "result against dense");
}

void caseBlockSparseLinearGrad(Backend &backend, DType dtype, Random &random) {
  for (const BlockSparseVariant &c : blockSparseVariants()) {
    SCOPED_TRACE(c.str());
    Tensor dy = random.uniform({c.batch, kSeq, c.out}, dtype);
    Tensor w = random.uniform({c.out, c.in}, dtype);
    Tensor mask = randomMask(random, c.tiles(), c.blocks(), dtype);
    Tensor dx = output({c.batch, kSeq, c.in}, dtype);
    KernelRun run(backend, "block_sparse_linear_grad");
    run.integer("rows", c.tile)
        .integer("block", c.block)
        .text("sparse", c.sparseOut ? "out" : "in");
    ASSERT_TRUE(run.run({&dy, &w, &mask}, {&dx}));
    expectClose(
        dx,
        ref::blockSparseLinearGrad(dy, w, mask, c.tile, c.block, c.sparseOut),
        tolerance(dtype, c.out, maxAbs(dy.values) * maxAbs(w.values)),
        "input grad");
  }
}

/// Logits up to +-12 (sigmoids near 0 and 1, where the loss formula must
/// not overflow) against random 0/1 labels, as [rows, C] (`flatLabels`)
/// or of the logits' shape.
std::pair<Tensor, Tensor> bceInputs(Random &random, DType dtype,
                                    bool flatLabels) {
  Tensor x = random.uniform({kBatch, kSeq, kOdd}, dtype, -12.0, 12.0);
  Tensor y = randomMask(random, kRows, kOdd, dtype);
  if (!flatLabels)
    y.shape = x.shape;
  return {std::move(x), std::move(y)};
}

void caseSigmoidBce(Backend &backend, DType dtype, Random &random) {
  for (bool flatLabels : {true, false}) {
    SCOPED_TRACE(flatLabels ? "labels [rows, C]" : "labels of logits' shape");
    auto [x, y] = bceInputs(random, dtype, flatLabels);
    Tensor loss = output({1}, DType::F32);
    KernelRun run(backend, "sigmoid_bce");
    run.real("scale", 0.25);
    ASSERT_TRUE(run.run({&x, &y}, {&loss}));
    expectClose(loss, {ref::sigmoidBce(x, y, 0.25)},
                tolerance(DType::F32, x.numel(), 12.0), "loss");
  }
}

void caseSigmoidBceGrad(Backend &backend, DType dtype, Random &random) {
  for (bool flatLabels : {true, false}) {
    SCOPED_TRACE(flatLabels ? "labels [rows, C]" : "labels of logits' shape");
    auto [x, y] = bceInputs(random, dtype, flatLabels);
    Tensor grad = output(x.shape, dtype);
    KernelRun run(backend, "sigmoid_bce_grad");
    run.real("scale", 0.25);
    ASSERT_TRUE(run.run({&x, &y}, {&grad}));
    expectClose(grad, ref::sigmoidBceGrad(x, y, 0.25),
                tolerance(dtype, 2, 0.25 / double(x.numel())), "logits grad");
  }
}

/// Tiles of 1, 5 (a tail) and all rows, over random liveness and a random
/// prediction; all-dead liveness gives zeros, not NaN.
void caseMaskAgreement(Backend &backend, DType dtype, Random &random) {
  for (int64_t rows : {int64_t(1), int64_t(5), kRows}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    int64_t tiles = (kRows + rows - 1) / rows, blocks = 12;
    Tensor live = randomMask(random, kRows, blocks, dtype);
    Tensor predicted = randomMask(random, tiles, blocks, dtype);
    Tensor out = output({4}, DType::F32);
    KernelRun run(backend, "mask_agreement");
    run.integer("rows", rows).real("scale", 0.5);
    ASSERT_TRUE(run.run({&predicted, &live}, {&out}));
    expectClose(out, ref::maskAgreement(predicted, live, rows, 0.5),
                tolerance(DType::F32, kRows * blocks, 1.0), "agreement");
  }
  Tensor live = output({kRows, 4}, dtype), predicted = output({1, 4}, dtype);
  live.values.assign(live.numel(), 0.0);
  predicted.values.assign(predicted.numel(), 0.0);
  Tensor out = output({4}, DType::F32);
  KernelRun run(backend, "mask_agreement");
  run.integer("rows", kRows);
  ASSERT_TRUE(run.run({&predicted, &live}, {&out}));
  for (int64_t i = 0; i < 4; ++i)
    EXPECT_EQ(out[i], 0.0) << "all dead, number " << i;
}

void caseMatmul(Backend &backend, DType dtype, Random &random) {
  struct Variant {
    Shape batch;
    int64_t m, k, n;
    bool transposeB;
  };
  // The last two have 64 and more rows: oneDNN's batched bf16 path, one
  // with the B-transposed, 49-63-column shape oneDNN 2.6.3's AMX kernel
  // gets wrong below 33 rows.
  for (const Variant &c : {Variant{{kBatch, 3}, kSeq, kOdd, 20, false},
                           Variant{{kBatch, 3}, kSeq, kOdd, 20, true},
                           Variant{{}, kRows, kHidden, 13, false},
                           Variant{{2, 2}, 64, kOdd, 50, true},
                           Variant{{3}, 96, 64, 100, false}}) {
    SCOPED_TRACE(std::to_string(c.m) + " rows, " +
                 (c.transposeB ? "transpose_b" : "plain"));
    auto shape = [&](int64_t rows, int64_t cols) {
      Shape s = c.batch;
      s.push_back(rows);
      s.push_back(cols);
      return s;
    };
    Tensor a = random.uniform(shape(c.m, c.k), dtype);
    Tensor b =
        random.uniform(c.transposeB ? shape(c.n, c.k) : shape(c.k, c.n), dtype);
    Tensor y = output(shape(c.m, c.n), dtype);
    KernelRun run(backend, "matmul");
    if (c.transposeB)
      run.flag("transpose_b");
    ASSERT_TRUE(run.run({&a, &b}, {&y}));
    expectClose(y, ref::matmul(a, b, c.transposeB),
                tolerance(dtype, c.k, maxAbs(a.values) * maxAbs(b.values)),
                "result");
  }
}

/// Row inputs for the norms: not centred, so the mean matters.
Tensor normInput(Random &random, Shape shape, DType dtype) {
  return random.uniform(std::move(shape), dtype, -1.0, 2.0);
}

void caseLayerNorm(Backend &backend, DType dtype, Random &random) {
  for (auto [shape, affine, eps] :
       {std::tuple{Shape{kRows, kHidden}, true, 1e-3},
        std::tuple{Shape{kBatch, kSeq, kOdd}, true, 0.0},
        std::tuple{Shape{kBatch, kSeq, kOdd}, false, 1e-2}}) {
    int64_t d = shape.back();
    SCOPED_TRACE("D " + std::to_string(d) + (affine ? ", affine" : "") +
                 ", epsilon " + (eps ? std::to_string(eps) : "default"));
    Tensor x = normInput(random, shape, dtype);
    Tensor gamma = random.uniform({d}, dtype, 0.5, 1.5);
    Tensor beta = random.uniform({d}, dtype);
    Tensor y = output(shape, dtype);
    KernelRun run(backend, "layer_norm");
    if (eps)
      run.real("epsilon", eps);
    std::vector<const Tensor *> ins = {&x};
    if (affine)
      ins.insert(ins.end(), {&gamma, &beta});
    ASSERT_TRUE(run.run(ins, {&y}));
    std::vector<double> want =
        ref::layerNorm(x.values, d, affine ? &gamma : nullptr,
                       affine ? &beta : nullptr, eps ? eps : 1e-5);
    expectClose(y, want, tolerance(dtype, d, maxAbs(want)), "result");
  }
}

void caseLayerNormGrad(Backend &backend, DType dtype, Random &random) {
  for (auto [d, affine, eps] :
       {std::tuple{kHidden, true, 1e-5}, std::tuple{kOdd, false, 1e-2}}) {
    SCOPED_TRACE("D " + std::to_string(d) + (affine ? ", affine" : ""));
    Tensor x = normInput(random, {kBatch, kSeq, d}, dtype);
    Tensor dy = random.uniform({kBatch, kSeq, d}, dtype);
    Tensor gamma = random.uniform({d}, dtype, 0.5, 1.5);
    Tensor dx = output(x.shape, dtype), dgamma = output({d}, dtype),
           dbeta = output({d}, dtype);
    KernelRun run(backend, "layer_norm_grad");
    run.real("epsilon", eps);
    std::vector<const Tensor *> ins = {&x, &dy};
    std::vector<Tensor *> outs = {&dx};
    if (affine) {
      ins.push_back(&gamma);
      outs.insert(outs.end(), {&dgamma, &dbeta});
    }
    ASSERT_TRUE(run.run(ins, outs));
    ref::LayerNormGrads want =
        ref::layerNormGrad(x, dy, affine ? &gamma : nullptr, eps);
    ref::Moments m = ref::moments(x.values, d, eps);
    // dx = rstd (g - mean(g) - h mean(g h)): terms up to rstd |g| (2 + h^2).
    double rstd = maxAbs(m.rstd);
    double h = maxAbs(ref::layerNorm(x.values, d, nullptr, nullptr, eps));
    double g = maxAbs(dy.values) * (affine ? maxAbs(gamma.values) : 1.0);
    expectClose(dx, want.dx, tolerance(dtype, d, rstd * g * (2.0 + h * h)),
                "input grad");
    if (!affine)
      continue;
    double dyMax = maxAbs(dy.values);
    expectClose(dgamma, want.dgamma, tolerance(dtype, kRows, dyMax * h),
                "gamma grad");
    expectClose(dbeta, want.dbeta, tolerance(dtype, kRows, dyMax), "beta grad");
  }
}

void caseRmsNorm(Backend &backend, DType dtype, Random &random) {
  for (auto [shape, eps] : {std::tuple{Shape{kRows, kHidden}, 1e-2},
                            std::tuple{Shape{kBatch, kSeq, kOdd}, 0.0}}) {
    int64_t d = shape.back();
    SCOPED_TRACE("D " + std::to_string(d));
    Tensor x = normInput(random, shape, dtype);
    Tensor w = random.uniform({d}, dtype, 0.5, 1.5);
    Tensor y = output(shape, dtype);
    KernelRun run(backend, "rms_norm");
    if (eps)
      run.real("epsilon", eps);
    ASSERT_TRUE(run.run({&x, &w}, {&y}));
    std::vector<double> want = ref::rmsNorm(x.values, w, eps ? eps : 1e-6);
    expectClose(y, want, tolerance(dtype, d, maxAbs(want)), "result");
  }
}

void caseRmsNormGrad(Backend &backend, DType dtype, Random &random) {
  for (auto [d, eps] : {std::tuple{kHidden, 1e-6}, std::tuple{kOdd, 1e-2}}) {
    SCOPED_TRACE("D " + std::to_string(d));
    Tensor x = normInput(random, {kBatch, kSeq, d}, dtype);
    Tensor dy = random.uniform(x.shape, dtype);
    Tensor w = random.uniform({d}, dtype, 0.5, 1.5);
    Tensor dx = output(x.shape, dtype), dw = output({d}, dtype);
    KernelRun run(backend, "rms_norm_grad");
    run.real("epsilon", eps);
    ASSERT_TRUE(run.run({&x, &dy, &w}, {&dx, &dw}));
    ref::RmsNormGrads want = ref::rmsNormGrad(x, dy, w, eps);
    double r = maxAbs(ref::rmsInverse(x.values, d, eps));
    double xr = r * maxAbs(x.values);
    double g = maxAbs(dy.values) * maxAbs(w.values);
    expectClose(dx, want.dx, tolerance(dtype, d, r * g * (1.0 + xr * xr)),
                "input grad");
    expectClose(dw, want.dw, tolerance(dtype, kRows, maxAbs(dy.values) * xr),
                "weight grad");
  }
}

void caseCausalMask(Backend &backend, DType dtype, Random &random) {
  for (auto [shape, zero] :
       {std::tuple{Shape{kBatch, kHeads, kSeq, kSeq}, false},
        std::tuple{Shape{kBatch, kSeq, 17}, false},
        std::tuple{Shape{kBatch, kSeq, kSeq}, true}}) {
    SCOPED_TRACE(std::to_string(shape.back()) + " keys" +
                 (zero ? ", zero" : ""));
    Tensor x = random.uniform(shape, dtype);
    Tensor y = output(shape, dtype);
    KernelRun run(backend, "causal_mask");
    if (zero)
      run.flag("zero");
    ASSERT_TRUE(run.run({&x}, {&y}));
    expectClose(y, ref::causalMask(x, zero), 0.0, "result");
  }
}

void caseSoftmax(Backend &backend, DType dtype, Random &random) {
  for (auto [shape, axis] :
       {std::tuple{Shape{kRows, kVocab}, int64_t(-1)},
        std::tuple{Shape{kBatch, 3, kSeq, kOdd}, int64_t(3)},
        std::tuple{Shape{kRows, kHidden}, int64_t(0)}}) {
    SCOPED_TRACE("D " + std::to_string(shape.back()));
    Tensor x = random.uniform(shape, dtype, -4.0, 4.0);
    Tensor y = output(shape, dtype);
    KernelRun run(backend, "softmax");
    if (axis)
      run.integer("axis", axis);
    ASSERT_TRUE(run.run({&x}, {&y}));
    std::vector<double> want = ref::softmax(x.values, shape.back());
    expectClose(y, want, tolerance(dtype, shape.back(), maxAbs(want)),
                "result");
  }
}

void caseSoftmaxGrad(Backend &backend, DType dtype, Random &random) {
  for (Shape shape : {Shape{kRows, kVocab}, Shape{kBatch, 3, kSeq, kOdd}}) {
    SCOPED_TRACE("D " + std::to_string(shape.back()));
    Tensor y = random.uniform(shape, dtype, -3.0, 3.0);
    y.values = ref::softmax(y.values, shape.back());
    for (double &v : y.values)
      v = roundTo(dtype, v);
    Tensor dy = random.uniform(shape, dtype);
    Tensor dx = output(shape, dtype);
    ASSERT_TRUE(KernelRun(backend, "softmax_grad").run({&y, &dy}, {&dx}));
    expectClose(dx, ref::softmaxGrad(y, dy),
                tolerance(dtype, shape.back(),
                          2.0 * maxAbs(y.values) * maxAbs(dy.values)),
                "input grad");
  }
}

/// One attention configuration: q [B, H, T, D], k [B, Hkv, S, D],
/// v [B, Hkv, S, Dv].
struct AttentionVariant {
  const char *name;
  int64_t b, h, hkv, t, s, d, dv;
  bool causal;
  double dropout;
  int64_t block = 0; // block-sparse: tiles of `block` rows and keys
  int64_t tiles(int64_t n) const { return (n + block - 1) / block; }
};

const std::vector<AttentionVariant> &attentionVariants() {
  static const std::vector<AttentionVariant> variants = {
      {"causal GQA", kBatch, kHeads, kKvHeads, kSeq, kSeq, kHeadDim, kHeadDim,
       true, 0.0},
      {"non-causal, S > T, odd D", kBatch, kHeads, kHeads, kSeq, 17, kOdd, 20,
       false, 0.0},
      {"causal MQA with dropout", kBatch, kHeads, 1, kSeq, kSeq, kHeadDim,
       kHeadDim, true, 0.2},
      {"causal, S > T", 1, kHeads, kKvHeads, kSeq, 17, kHeadDim, kHeadDim, true,
       0.0},
      {"causal, T beyond a row block", 1, 2, 1, 70, 70, kHeadDim, kHeadDim,
       true, 0.0},
      // Tiles of 64, a device's tile: 200 rows make 4 (the last a tail),
      // with 3 pairs a mask can drop besides the first and diagonal ones.
      {"block-sparse causal GQA", 1, kHeads, kKvHeads, 200, 200, kHeadDim,
       kHeadDim, true, 0.0, 64},
      {"block-sparse with dropout", 1, 2, 1, 200, 200, kHeadDim, kHeadDim, true,
       0.2, 64},
  };
  return variants;
}

/// The attention call of `c`, with the scale, mask and dropout of `spec`.
KernelRun attentionRun(Backend &backend, const char *kernel,
                       const AttentionVariant &c,
                       const ref::AttentionSpec &spec) {
  KernelRun run(backend, kernel);
  run.real("scale", spec.scale);
  if (c.causal)
    run.flag("causal");
  if (c.dropout > 0.0)
    run.real("dropout", c.dropout).integer("rng_stream", spec.dropout.stream);
  run.scalars.seed = spec.dropout.seed;
  run.scalars.step = spec.dropout.step;
  run.scalars.microBatch = spec.microBatch;
  run.workspaceFloats = uint64_t(2 * c.b * c.h * c.t * c.s);
  if (c.block)
    run.integer("block", c.block);
  return run;
}

/// A random tile mask [B, H, T / block, S / block] for variant `c` (about
/// half the pairs live), or an empty tensor for dense attention.
Tensor attentionMask(Random &random, const AttentionVariant &c, DType dtype) {
  if (!c.block)
    return Tensor{};
  Tensor mask =
      randomMask(random, c.b * c.h * c.tiles(c.t), c.tiles(c.s), dtype);
  mask.shape = {c.b, c.h, c.tiles(c.t), c.tiles(c.s)};
  return mask;
}

ref::AttentionSpec attentionSpec(const AttentionVariant &c, const Tensor &mask);

/// Under an all-live mask of the kernel's own 64-row tiles, block-sparse
/// attention (forward with `gradient` false, else backward) is dense
/// attention bit for bit.
void expectAllLiveIsDense(Backend &backend, DType dtype, Random &random,
                          bool gradient) {
  AttentionVariant dense = attentionVariants()[4]; // T = 70: two row blocks
  AttentionVariant sparse = dense;
  sparse.block = 64;
  Tensor q = random.uniform({dense.b, dense.h, dense.t, dense.d}, dtype);
  Tensor k = random.uniform({dense.b, dense.hkv, dense.s, dense.d}, dtype);
  Tensor v = random.uniform({dense.b, dense.hkv, dense.s, dense.dv}, dtype);
  Tensor dout = random.uniform({dense.b, dense.h, dense.t, dense.dv}, dtype);
  Tensor ones = output({dense.b, dense.h, 2, 2}, dtype);
  ones.values.assign(ones.numel(), 1.0);
  std::vector<const Tensor *> ins{&q, &k, &v};
  if (gradient)
    ins.push_back(&dout);
  auto run = [&](const AttentionVariant &c, std::vector<const Tensor *> in) {
    std::vector<Tensor> outs;
    if (gradient)
      outs = {output(q.shape, dtype), output(k.shape, dtype),
              output(v.shape, dtype)};
    else
      outs = {output({c.b, c.h, c.t, c.dv}, dtype)};
    std::vector<Tensor *> outPointers;
    for (Tensor &t : outs)
      outPointers.push_back(&t);
    EXPECT_TRUE(attentionRun(backend, gradient ? "attention_grad" : "attention",
                             c, attentionSpec(c, ones))
                    .run(in, outPointers));
    return outs;
  };
  std::vector<Tensor> want = run(dense, ins);
  ins.push_back(&ones);
  std::vector<Tensor> got = run(sparse, ins);
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(got[i].values, want[i].values) << "result " << i;
}

ref::AttentionSpec attentionSpec(const AttentionVariant &c,
                                 const Tensor &mask) {
  ref::AttentionSpec spec;
  if (c.block) {
    spec.tileMask = &mask;
    spec.block = c.block;
  }
  spec.scale = 0.3; // not 1 / sqrt(D), so that a kernel ignoring it shows
  spec.causal = c.causal;
  spec.dropout = {c.dropout, 1234, 3, 5};
  spec.microBatch = c.dropout > 0.0 ? 1 : 0;
  return spec;
}

/// The magnitude errors in the scores reach: an error e in a score moves
/// its probability by about p * e, through exp.
double scoreScale(const Tensor &q, const Tensor &k, double scale) {
  return 1.0 + 2.0 * scale * maxAbs(q.values) * maxAbs(k.values);
}

void caseAttention(Backend &backend, DType dtype, Random &random) {
  for (const AttentionVariant &c : attentionVariants()) {
    SCOPED_TRACE(c.name);
    Tensor q = random.uniform({c.b, c.h, c.t, c.d}, dtype);
    Tensor k = random.uniform({c.b, c.hkv, c.s, c.d}, dtype);
    Tensor v = random.uniform({c.b, c.hkv, c.s, c.dv}, dtype);
    Tensor out = output({c.b, c.h, c.t, c.dv}, dtype);
    Tensor mask = attentionMask(random, c, dtype);
    ref::AttentionSpec spec = attentionSpec(c, mask);
    std::vector<const Tensor *> ins{&q, &k, &v};
    if (c.block)
      ins.push_back(&mask);
    ASSERT_TRUE(attentionRun(backend, "attention", c, spec).run(ins, {&out}));
    double scale =
        maxAbs(v.values) * scoreScale(q, k, spec.scale) / (1.0 - c.dropout);
    expectClose(out, ref::Attention(q, k, v, spec).forward(),
                tolerance(dtype, c.d + c.s, scale), "result");
  }
  SCOPED_TRACE("all live: dense");
  expectAllLiveIsDense(backend, dtype, random, /*gradient=*/false);
}

void caseAttentionGrad(Backend &backend, DType dtype, Random &random) {
  for (const AttentionVariant &c : attentionVariants()) {
    SCOPED_TRACE(c.name);
    Tensor q = random.uniform({c.b, c.h, c.t, c.d}, dtype);
    Tensor k = random.uniform({c.b, c.hkv, c.s, c.d}, dtype);
    Tensor v = random.uniform({c.b, c.hkv, c.s, c.dv}, dtype);
    Tensor dout = random.uniform({c.b, c.h, c.t, c.dv}, dtype);
    Tensor dq = output(q.shape, dtype), dk = output(k.shape, dtype),
           dv = output(v.shape, dtype);
    Tensor mask = attentionMask(random, c, dtype);
    ref::AttentionSpec spec = attentionSpec(c, mask);
    std::vector<const Tensor *> ins{&q, &k, &v, &dout};
    if (c.block)
      ins.push_back(&mask);
    ASSERT_TRUE(attentionRun(backend, "attention_grad", c, spec)
                    .run(ins, {&dq, &dk, &dv}));
    ref::Attention::Grads want = ref::Attention(q, k, v, spec).backward(dout);
    // dP = dO V^T sums Dv terms; dS, dQ and dK sum over S (or T and the
    // heads sharing a key/value head) further, each through the scores.
    int64_t group = c.h / c.hkv;
    int64_t k1 = c.dv + c.s + c.d, k2 = c.dv + group * c.t + c.d;
    double keep = 1.0 / (1.0 - c.dropout);
    double dp = maxAbs(dout.values) * maxAbs(v.values) * keep;
    double scores = scoreScale(q, k, spec.scale);
    expectClose(
        dq, want.dq,
        tolerance(dtype, k1, 2.0 * spec.scale * dp * maxAbs(k.values) * scores),
        "query grad");
    expectClose(
        dk, want.dk,
        tolerance(dtype, k2, 2.0 * spec.scale * dp * maxAbs(q.values) * scores),
        "key grad");
    expectClose(dv, want.dv,
                tolerance(dtype, k2, maxAbs(dout.values) * keep * scores),
                "value grad");
  }
  SCOPED_TRACE("all live: dense");
  expectAllLiveIsDense(backend, dtype, random, /*gradient=*/true);
}

void caseRope(Backend &backend, DType dtype, Random &random) {
  auto plain = [](double theta, bool inverse) {
    ref::RopeSpec spec;
    spec.theta = theta;
    spec.inverse = inverse;
    return spec;
  };
  ref::RopeSpec linear = plain(500000.0, false);
  linear.scaling = "linear";
  linear.factor = 4.0;
  // With D = 16 and theta 1e4 the wavelengths are 6.3, 20, 63, 199, 628...:
  // an original context of 256 with factors 1 and 8 puts two below 32
  // (kept), two in [32, 256] (interpolated) and four above (divided).
  ref::RopeSpec llama3 = plain(10000.0, false);
  llama3.scaling = "llama3";
  llama3.factor = 8.0;
  llama3.lowFreqFactor = 1.0;
  llama3.highFreqFactor = 8.0;
  llama3.originalMaxPositions = 256;
  for (auto [name, shape, spec] :
       {std::tuple{"plain", Shape{kBatch, kHeads, kSeq, kHeadDim},
                   plain(10000.0, false)},
        std::tuple{"inverse, odd half", Shape{1, 3, kSeq, 38},
                   plain(10000.0, true)},
        std::tuple{"linear", Shape{kBatch, kHeads, kSeq, kHeadDim}, linear},
        std::tuple{"llama3", Shape{kBatch, kHeads, kSeq, kHeadDim}, llama3}}) {
    SCOPED_TRACE(name);
    Tensor x = random.uniform(shape, dtype);
    Tensor y = output(shape, dtype);
    KernelRun run(backend, "rope");
    run.real("theta", spec.theta);
    if (spec.inverse)
      run.flag("inverse");
    if (!spec.scaling.empty())
      run.text("scaling", spec.scaling).real("factor", spec.factor);
    if (spec.scaling == "llama3")
      run.real("low_freq_factor", spec.lowFreqFactor)
          .real("high_freq_factor", spec.highFreqFactor)
          .integer("original_max_positions", spec.originalMaxPositions);
    ASSERT_TRUE(run.run({&x}, {&y}));
    // An angle pos * f carries a rounding error relative to its size, up to
    // (T - 1) * max f; the output moves by |x| times that.
    double angle =
        double(kSeq - 1) * maxAbs(ref::ropeFrequencies(spec, shape[3]));
    expectClose(y, ref::rope(x, spec),
                tolerance(dtype, 2, maxAbs(x.values) * (1.0 + angle)),
                "result");
  }
}

/// Activation inputs over [-4, 4]: both tails and the bend of gelu.
Tensor activationInput(Random &random, Shape shape, DType dtype) {
  return random.uniform(std::move(shape), dtype, -4.0, 4.0);
}

/// The activation kernels `relu`, `silu` and `gelu` (with `tanh`:
/// gelu_tanh).
void checkActivation(Backend &backend, DType dtype, Random &random,
                     const std::string &kernel, bool tanh) {
  std::string kind = tanh ? "gelu_tanh" : kernel;
  SCOPED_TRACE(kind);
  Tensor x = activationInput(random, {kRows, kOdd}, dtype);
  Tensor y = output(x.shape, dtype);
  KernelRun run(backend, kernel);
  if (tanh)
    run.flag("tanh");
  ASSERT_TRUE(run.run({&x}, {&y}));
  std::vector<double> want;
  for (double v : x.values)
    want.push_back(ref::activation(kind, v));
  expectClose(y, want, tolerance(dtype, 1, maxAbs(x.values)), "result");
}

void caseRelu(Backend &backend, DType dtype, Random &random) {
  checkActivation(backend, dtype, random, "relu", false);
}
void caseSilu(Backend &backend, DType dtype, Random &random) {
  checkActivation(backend, dtype, random, "silu", false);
}
void caseGelu(Backend &backend, DType dtype, Random &random) {
  checkActivation(backend, dtype, random, "gelu", false);
  checkActivation(backend, dtype, random, "gelu", true);
}

void caseActivationGrad(Backend &backend, DType dtype, Random &random) {
  for (std::string kind : {"relu", "silu", "gelu", "gelu_tanh"}) {
    SCOPED_TRACE(kind);
    Tensor x = activationInput(random, {kBatch, kSeq, kOdd}, dtype);
    Tensor dy = random.uniform(x.shape, dtype);
    Tensor dx = output(x.shape, dtype);
    ASSERT_TRUE(KernelRun(backend, "activation_grad")
                    .text("activation", kind)
                    .run({&x, &dy}, {&dx}));
    std::vector<double> want;
    for (int64_t i = 0; i < x.numel(); ++i)
      want.push_back(dy[i] * ref::activationDerivative(kind, x[i]));
    // The derivatives' terms grow like |x| (x * sigmoid'(x), x * phi(x)).
    expectClose(
        dx, want,
        tolerance(dtype, 1, maxAbs(dy.values) * (1.0 + maxAbs(x.values))),
        "input grad");
  }
}

void caseBiasGelu(Backend &backend, DType dtype, Random &random) {
  for (bool tanh : {false, true}) {
    SCOPED_TRACE(tanh ? "tanh" : "erf");
    Tensor x = activationInput(random, {kBatch, kSeq, kOdd}, dtype);
    Tensor bias = random.uniform({kOdd}, dtype);
    Tensor y = output(x.shape, dtype);
    KernelRun run(backend, "bias_gelu");
    if (tanh)
      run.flag("tanh");
    ASSERT_TRUE(run.run({&x, &bias}, {&y}));
    std::vector<double> want = ref::broadcast(x, bias, [&](double a, double b) {
      return ref::activation(tanh ? "gelu_tanh" : "gelu", a + b);
    });
    expectClose(y, want,
                tolerance(dtype, 2, maxAbs(x.values) + maxAbs(bias.values)),
                "result");
  }
}

void caseBiasGeluGrad(Backend &backend, DType dtype, Random &random) {
  for (bool tanh : {false, true}) {
    SCOPED_TRACE(tanh ? "tanh" : "erf");
    Tensor x = activationInput(random, {kBatch, kSeq, kOdd}, dtype);
    Tensor bias = random.uniform({kOdd}, dtype);
    Tensor dy = random.uniform(x.shape, dtype);
    Tensor dx = output(x.shape, dtype);
    KernelRun run(backend, "bias_gelu_grad");
    if (tanh)
      run.flag("tanh");
    ASSERT_TRUE(run.run({&x, &bias, &dy}, {&dx}));
    std::vector<double> derivative =
        ref::broadcast(x, bias, [&](double a, double b) {
          return ref::activationDerivative(tanh ? "gelu_tanh" : "gelu", a + b);
        });
    std::vector<double> want(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i)
      want[i] = dy[i] * derivative[i];
    double scale =
        maxAbs(dy.values) * (1.0 + maxAbs(x.values) + maxAbs(bias.values));
    expectClose(dx, want, tolerance(dtype, 2, scale), "input grad");
  }
}

void caseBiasDropoutAddLayerNorm(Backend &backend, DType dtype,
                                 Random &random) {
  struct Variant {
    Shape shape;
    double p;
    bool training;
    int64_t microBatch;
  };
  for (const Variant &c : {Variant{{kBatch, kSeq, kHidden}, 0.1, true, 0},
                           Variant{{kRows, kOdd}, 0.3, true, 2},
                           Variant{{kRows, kOdd}, 0.3, false, 0}}) {
    int64_t d = c.shape.back();
    SCOPED_TRACE("D " + std::to_string(d) + (c.training ? "" : ", eval"));
    Tensor x = random.uniform(c.shape, dtype),
           bias = random.uniform({d}, dtype);
    Tensor residual = random.uniform(c.shape, dtype, -1.0, 2.0);
    Tensor gamma = random.uniform({d}, dtype, 0.5, 1.5);
    Tensor beta = random.uniform({d}, dtype);
    Tensor sum = output(c.shape, dtype), normed = output(c.shape, dtype);
    ref::DropoutSpec drop{c.p, 99, 4, 7};
    KernelRun run(backend, "bias_dropout_add_layer_norm");
    run.real("probability", c.p)
        .real("epsilon", 1e-3)
        .integer("rng_stream", drop.stream);
    run.scalars.seed = drop.seed;
    run.scalars.step = drop.step;
    run.scalars.training = c.training;
    run.scalars.microBatch = c.microBatch;
    ASSERT_TRUE(
        run.run({&x, &bias, &residual, &gamma, &beta}, {&sum, &normed}));
    if (!c.training)
      drop.probability = 0.0;
    std::vector<double> mask =
        ref::dropoutMask(drop, uint64_t(c.microBatch * x.numel()), x.numel());
    std::vector<double> branch =
        ref::broadcast(x, bias, [](double a, double b) { return a + b; });
    std::vector<double> wantSum(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i)
      wantSum[i] = residual[i] + branch[i] * mask[i];
    double sumScale = 2.0 / (1.0 - c.p) + 2.0;
    expectClose(sum, wantSum, tolerance(dtype, 2, sumScale), "sum");
    // The norm is of the stored sum, as rounded to the dtype: for bf16 the
    // reference normalises the bf16 sum just checked (wantSum rounded to
    // bf16; at a rounding midpoint the float32 error may tip an element to
    // its other neighbour, and the kernel normalises what it stored).
    std::vector<double> wantNormed = ref::layerNorm(
        dtype == DType::BF16 ? sum.values : wantSum, d, &gamma, &beta, 1e-3);
    double rstd = maxAbs(ref::moments(wantSum, d, 1e-3).rstd);
    expectClose(
        normed, wantNormed,
        tolerance(dtype, d,
                  maxAbs(wantNormed) + rstd * maxAbs(gamma.values) * sumScale),
        "normed");
  }
}

void caseAddRmsNorm(Backend &backend, DType dtype, Random &random) {
  for (auto [shape, eps] : {std::tuple{Shape{kRows, kHidden}, 1e-2},
                            std::tuple{Shape{kBatch, kSeq, kOdd}, 0.0}}) {
    int64_t d = shape.back();
    SCOPED_TRACE("D " + std::to_string(d));
    Tensor x = random.uniform(shape, dtype);
    Tensor residual = normInput(random, shape, dtype);
    Tensor w = random.uniform({d}, dtype, 0.5, 1.5);
    Tensor sum = output(shape, dtype), normed = output(shape, dtype);
    KernelRun run(backend, "add_rms_norm");
    if (eps)
      run.real("epsilon", eps);
    ASSERT_TRUE(run.run({&x, &residual, &w}, {&sum, &normed}));
    std::vector<double> wantSum(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i)
      wantSum[i] = x[i] + residual[i];
    expectClose(sum, wantSum, tolerance(dtype, 2, maxAbs(wantSum)), "sum");
    // The norm is of the stored sum (see bias_dropout_add_layer_norm).
    std::vector<double> wantNormed = ref::rmsNorm(
        dtype == DType::BF16 ? sum.values : wantSum, w, eps ? eps : 1e-6);
    expectClose(normed, wantNormed, tolerance(dtype, d, maxAbs(wantNormed)),
                "normed");
  }
}

void caseScale(Backend &backend, DType dtype, Random &random) {
  Tensor x = random.uniform({kRows, kOdd}, dtype);
  Tensor y = output(x.shape, dtype);
  ASSERT_TRUE(
      KernelRun(backend, "scale").real("factor", -0.37).run({&x}, {&y}));
  std::vector<double> want;
  for (double v : x.values)
    want.push_back(-0.37 * v);
  expectClose(y, want, tolerance(dtype, 1, maxAbs(want)), "result");
}

void caseDropout(Backend &backend, DType dtype, Random &random) {
  struct Variant {
    const char *name;
    double p;
    bool training;
    int64_t microBatch;
  };
  for (const Variant &c :
       {Variant{"p 0.25", 0.25, true, 0},
        Variant{"p 0.5, micro-batch 3", 0.5, true, 3},
        Variant{"eval", 0.5, false, 0}, Variant{"p 0", 0.0, true, 0}}) {
    SCOPED_TRACE(c.name);
    Tensor x = random.uniform({kBatch, kSeq, kOdd}, dtype);
    Tensor y = output(x.shape, dtype);
    ref::DropoutSpec drop{c.training ? c.p : 0.0, 42, 7, 5};
    KernelRun run(backend, "dropout");
    run.real("probability", c.p).integer("rng_stream", drop.stream);
    run.scalars.seed = drop.seed;
    run.scalars.step = drop.step;
    run.scalars.training = c.training;
    run.scalars.microBatch = c.microBatch;
    ASSERT_TRUE(run.run({&x}, {&y}));
    std::vector<double> mask =
        ref::dropoutMask(drop, uint64_t(c.microBatch * x.numel()), x.numel());
    int64_t dropped = std::count(mask.begin(), mask.end(), 0.0);
    if (drop.probability > 0.0) { // the mask drops some and keeps some
      ASSERT_GT(dropped, 0);
      ASSERT_LT(dropped, x.numel());
    }
    std::vector<double> want(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i)
      want[i] = x[i] * mask[i];
    expectClose(y, want, tolerance(dtype, 1, maxAbs(want)), "result");
  }
}

/// `add` or `mul` over NumPy broadcasting: equal shapes, a trailing bias,
/// a smaller left operand, a size-1 operand and two-sided broadcasting.
void checkBroadcast(Backend &backend, DType dtype, Random &random,
                    const std::string &kernel,
                    const std::function<double(double, double)> &f) {
  for (auto [a, b] : {std::pair{Shape{kRows, kOdd}, Shape{kRows, kOdd}},
                      std::pair{Shape{kBatch, kSeq, kOdd}, Shape{kOdd}},
                      std::pair{Shape{kOdd}, Shape{kRows, kOdd}},
                      std::pair{Shape{1}, Shape{kRows, kOdd}},
                      std::pair{Shape{4, 1, kOdd}, Shape{6, 1}}}) {
    SCOPED_TRACE(std::to_string(a.size()) + "-d with " +
                 std::to_string(b.size()) + "-d, " + std::to_string(a[0]) +
                 " / " + std::to_string(b[0]));
    Tensor x = random.uniform(a, dtype), y = random.uniform(b, dtype);
    Tensor z = output(ref::broadcastShape(a, b), dtype);
    ASSERT_TRUE(KernelRun(backend, kernel).run({&x, &y}, {&z}));
    std::vector<double> want = ref::broadcast(x, y, f);
    expectClose(z, want, tolerance(dtype, 1, maxAbs(want)), "result");
  }
}

void caseAdd(Backend &backend, DType dtype, Random &random) {
  checkBroadcast(backend, dtype, random, "add",
                 [](double a, double b) { return a + b; });
}
void caseMul(Backend &backend, DType dtype, Random &random) {
  checkBroadcast(backend, dtype, random, "mul",
                 [](double a, double b) { return a * b; });
}

void caseSumTo(Backend &backend, DType dtype, Random &random) {
  for (auto [from, to] : {std::pair{Shape{kBatch, kSeq, kOdd}, Shape{kOdd}},
                          std::pair{Shape{4, 6, kOdd}, Shape{6, 1}},
                          std::pair{Shape{4, 6, kOdd}, Shape{4, 1, kOdd}},
                          std::pair{Shape{kRows, kOdd}, Shape{1}}}) {
    SCOPED_TRACE(std::to_string(product(from)) + " -> " +
                 std::to_string(product(to)));
    Tensor x = random.uniform(from, dtype);
    Tensor y = output(to, dtype);
    ASSERT_TRUE(KernelRun(backend, "sum_to").run({&x}, {&y}));
    expectClose(y, ref::sumTo(x, to),
                tolerance(dtype, x.numel() / y.numel(), maxAbs(x.values)),
                "result");
  }
}

void caseZeros(Backend &backend, DType dtype, Random &) {
  // The one kernel whose reference is zero: every element must be exactly
  // 0 after starting as NaN (or a sentinel id).
  for (DType type : {dtype, DType::I64}) {
    SCOPED_TRACE(dtypeName(type));
    Tensor y = output({kRows, kOdd}, type);
    ASSERT_TRUE(KernelRun(backend, "zeros").run({}, {&y}));
    for (int64_t i = 0; i < y.numel(); ++i)
      ASSERT_EQ(type == DType::I64 ? double(y.ids[i]) : y[i], 0.0)
          << "element " << i;
  }
}

/// Every element of `got` exactly `want`, the sign of zero included.
void expectExact(const Tensor &got, const std::vector<double> &want,
                 const std::string &what) {
  ASSERT_EQ(int64_t(want.size()), got.numel()) << what;
  EXPECT_GT(maxAbs(want), 0.0) << what << ": the reference is all zero";
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < got.numel(); ++i)
    if (!(got[i] == want[i] && std::signbit(got[i]) == std::signbit(want[i])))
      if (bad++ == 0)
        first = i;
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.numel()
                    << " elements are not exact; the first, element " << first
                    << ", is " << (first >= 0 ? got[first] : 0.0)
                    << " instead of " << (first >= 0 ? want[first] : 0.0);
}

/// `cast` from `dtype` to the other float dtype, f32 -> bf16 rounding to
/// nearest with ties to even (PyTorch's .to(torch.bfloat16)) and bf16 ->
/// f32 exact, and from `dtype` to itself, a copy.
void caseCast(Backend &backend, DType dtype, Random &random) {
  DType other = dtype == DType::F32 ? DType::BF16 : DType::F32;
  // Random values over many binades: row r scaled by 2^(4 (r % 12) - 24),
  // exactly (a power of two), so they stay values of `dtype`.
  Tensor x = random.uniform({kRows, kOdd}, dtype);
  for (int64_t i = 0; i < x.numel(); ++i)
    x.values[i] = std::ldexp(x.values[i], int(4 * (i / kOdd % 12) - 24));
  // Edges, each with its bf16 written out by hand (the rounding is of the
  // 24-bit significand to 8 bits; ties go to the even significand).
  const double tie = std::ldexp(1.0, -8), f32Ulp = std::ldexp(1.0, -23);
  const double bf16Max = std::ldexp(255.0, 120); // 0x7f7f
  std::vector<std::pair<double, double>> edges = {
      {1.0 + tie, 1.0},                    // tie: down to the even 1
      {-(1.0 + tie), -1.0},                // the same, negative
      {1.0 + 3.0 * tie, 1.0 + 4.0 * tie},  // tie: up to the even 1 + 2^-6
      {1.0 + tie + f32Ulp, 1.0 + 2 * tie}, // just above a tie: up
      {1.0 + tie - f32Ulp, 1.0},           // just below a tie: down
      {2.0 - tie, 2.0},                    // tie carrying into the exponent
      {std::ldexp(1.0 + tie, -100), std::ldexp(1.0, -100)}, // tie, small
      {std::ldexp(1.0 + 3.0 * tie, 100), std::ldexp(1.0 + 4.0 * tie, 100)},
      // ^ tie, large
      {0.0, 0.0},
      {-0.0, -0.0},
      {bf16Max, bf16Max},
      {double(std::numeric_limits<float>::max()), kInf}, // past bf16's max
      {kInf, kInf},
      {-kInf, -kInf},
  };
  std::vector<double> hand(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i)
    hand[i] = roundTo(DType::BF16, x[i]);
  for (size_t e = 0; e < edges.size(); ++e) {
    int64_t at = int64_t(e) * 7; // at varied offsets within a vector
    // bf16 -> f32 casts the rounded edges: the bf16 tensor holds those.
    x.values[at] = dtype == DType::F32 ? edges[e].first : edges[e].second;
    hand[at] = edges[e].second;
    // The reference rounding agrees with the hand-written one.
    EXPECT_EQ(roundTo(DType::BF16, edges[e].first), edges[e].second)
        << "edge " << e << ": " << edges[e].first;
  }
  for (DType to : {other, dtype}) {
    SCOPED_TRACE(std::string(dtypeName(dtype)) + " -> " + dtypeName(to));
    Tensor y = output(x.shape, to);
    ASSERT_TRUE(KernelRun(backend, "cast").run({&x}, {&y}));
    // Into bf16 from f32: x rounded to nearest even; every other cast (bf16
    // into f32, a copy) holds x exactly.
    bool rounds = dtype == DType::F32 && to == DType::BF16;
    std::vector<double> want = x.values;
    if (rounds)
      for (int64_t i = 0; i < x.numel(); ++i)
        want[i] = roundTo(DType::BF16, x[i]);
    expectExact(y, want, "result");
    if (rounds)
      expectExact(y, hand, "result, edges by hand");
  }
}

void caseTranspose(Backend &backend, DType dtype, Random &random) {
  for (auto [shape, perm] :
       {std::pair{Shape{kBatch, kHeads, kSeq, kOdd}, Shape{0, 2, 1, 3}},
        std::pair{Shape{kBatch, kSeq, kOdd}, Shape{2, 0, 1}},
        std::pair{Shape{kRows, kOdd}, Shape{1, 0}}}) {
    SCOPED_TRACE("rank " + std::to_string(shape.size()));
    Tensor x = random.uniform(shape, dtype);
    Shape permuted;
    for (int64_t axis : perm)
      permuted.push_back(shape[axis]);
    Tensor y = output(permuted, dtype);
    ASSERT_TRUE(KernelRun(backend, "transpose")
                    .ints("permutation", perm)
                    .run({&x}, {&y}));
    expectClose(y, ref::transpose(x, perm), 0.0, "result");
  }
}

/// Split and concat cases: a whole tensor and the sizes of its pieces on
/// `axis` (the attribute; -1 counts from the end, absent means 0).
struct Pieces {
  Shape whole;
  int64_t axis;
  bool given;
  Shape sizes;
};

const std::vector<Pieces> &piecesVariants() {
  static const std::vector<Pieces> variants = {
      {{kBatch, kSeq, 3 * kHidden}, -1, true, {40, 19, 3 * kHidden - 59}},
      {{5, kOdd}, 0, false, {2, 3}},
      {{kBatch, kSeq, kOdd}, 1, true, {5, 7}},
  };
  return variants;
}

std::vector<Tensor> piecesOf(const Pieces &c, DType dtype) {
  std::vector<Tensor> pieces;
  int64_t axis = c.axis < 0 ? c.axis + int64_t(c.whole.size()) : c.axis;
  for (int64_t size : c.sizes) {
    Shape shape = c.whole;
    shape[axis] = size;
    pieces.push_back(output(shape, dtype));
  }
  return pieces;
}

void caseSplit(Backend &backend, DType dtype, Random &random) {
  for (const Pieces &c : piecesVariants()) {
    SCOPED_TRACE("axis " + std::to_string(c.axis));
    Tensor x = random.uniform(c.whole, dtype);
    std::vector<Tensor> pieces = piecesOf(c, dtype);
    std::vector<Tensor *> outs;
    for (Tensor &piece : pieces)
      outs.push_back(&piece);
    KernelRun run(backend, "split");
    if (c.given)
      run.integer("axis", c.axis);
    ASSERT_TRUE(run.run({&x}, outs));
    int64_t axis = c.axis < 0 ? c.axis + int64_t(c.whole.size()) : c.axis;
    int64_t start = 0;
    for (size_t p = 0; p < pieces.size(); ++p) {
      expectClose(pieces[p], ref::slice(x, axis, start, c.sizes[p]), 0.0,
                  "piece " + std::to_string(p));
      start += c.sizes[p];
    }
  }
}

void caseConcat(Backend &backend, DType dtype, Random &random) {
  for (const Pieces &c : piecesVariants()) {
    SCOPED_TRACE("axis " + std::to_string(c.axis));
    std::vector<Tensor> pieces = piecesOf(c, dtype);
    std::vector<const Tensor *> ins;
    for (Tensor &piece : pieces) {
      piece = random.uniform(piece.shape, dtype);
      ins.push_back(&piece);
    }
    Tensor y = output(c.whole, dtype);
    KernelRun run(backend, "concat");
    if (c.given)
      run.integer("axis", c.axis);
    ASSERT_TRUE(run.run(ins, {&y}));
    int64_t axis = c.axis < 0 ? c.axis + int64_t(c.whole.size()) : c.axis;
    expectClose(y, ref::concat(ins, axis), 0.0, "result");
  }
}

/// Logits over [-3, 3] and targets with a few rows set to `ignore`.
struct LossInputs {
  Tensor logits, targets;
};

LossInputs lossInputs(Random &random, Shape shape, DType dtype,
                      int64_t ignore) {
  LossInputs in{
      random.uniform(shape, dtype, -3.0, 3.0),
      random.ids(Shape(shape.begin(), shape.end() - 1), shape.back())};
  for (int64_t i : {1, 6, 17})
    in.targets.ids[i] = ignore;
  return in;
}

/// (logits shape, ignore_index: absent means -100).
const std::vector<std::pair<Shape, int64_t>> &lossVariants() {
  static const std::vector<std::pair<Shape, int64_t>> variants = {
      {{kBatch, kSeq, kVocab}, -100}, {{kRows, kOdd}, 7}};
  return variants;
}

void caseCrossEntropy(Backend &backend, DType dtype, Random &random) {
  for (auto [shape, ignore] : lossVariants()) {
    SCOPED_TRACE("ignore_index " + std::to_string(ignore));
    LossInputs in = lossInputs(random, shape, dtype, ignore);
    Tensor loss = output({1}, DType::F32); // f32 whatever the logits
    KernelRun run(backend, "cross_entropy");
    if (ignore != -100)
      run.integer("ignore_index", ignore);
    ASSERT_TRUE(run.run({&in.logits, &in.targets}, {&loss}));
    double scale =
        2.0 * maxAbs(in.logits.values) + std::log(double(shape.back()));
    expectClose(loss, {ref::crossEntropy(in.logits, in.targets, ignore)},
                tolerance(loss.dtype, shape.back() + kRows, scale), "loss");
  }
}

void caseCrossEntropyGrad(Backend &backend, DType dtype, Random &random) {
  for (auto [shape, ignore] : lossVariants()) {
    SCOPED_TRACE("ignore_index " + std::to_string(ignore));
    LossInputs in = lossInputs(random, shape, dtype, ignore);
    Tensor grad = output(shape, dtype);
    KernelRun run(backend, "cross_entropy_grad");
    if (ignore != -100)
      run.integer("ignore_index", ignore);
    ASSERT_TRUE(run.run({&in.logits, &in.targets}, {&grad}));
    // exp(x - lse) carries the error of lse, a sum over V terms.
    double scale = (1.0 + maxAbs(in.logits.values)) /
                   double(ref::countTargets(in.targets, ignore));
    expectClose(grad, ref::crossEntropyGrad(in.logits, in.targets, ignore),
                tolerance(dtype, shape.back(), scale), "logits grad");
  }
}

void caseSgdUpdate(Backend &backend, DType dtype, Random &random) {
  Tensor g = random.uniform({kRows, kOdd}, dtype);
  Tensor p = random.uniform(g.shape, dtype);
  p.category = Category::Param;
  std::vector<double> want(p.numel());
  for (int64_t i = 0; i < p.numel(); ++i)
    want[i] = p[i] - 0.05 * g[i];
  KernelRun run(backend, "sgd_update");
  run.scalars.learningRate = 0.05;
  ASSERT_TRUE(run.run({&g}, {&p}));
  expectClose(p, want, tolerance(dtype, 2, 1.0 + 0.05), "parameter");
}

void caseAdamwUpdate(Backend &backend, DType dtype, Random &random) {
  struct Variant {
    const char *name;
    ref::AdamW o;
    bool attrs, fresh; // attributes given; moments start at zero
  };
  for (const Variant &c : {Variant{"step 3, weight decay",
                                   {1e-2, 0.8, 0.95, 1e-6, 0.1, 3},
                                   true,
                                   false},
                           Variant{"defaults, first step",
                                   {1e-3, 0.9, 0.999, 1e-8, 0.0, 1},
                                   false,
                                   true}}) {
    SCOPED_TRACE(c.name);
    Tensor g = random.uniform({kRows, kOdd}, dtype);
    Tensor p = random.uniform(g.shape, dtype);
    Tensor m = random.uniform(g.shape, dtype, -0.1, 0.1);
    Tensor v = random.uniform(g.shape, dtype, 0.0, 0.01);
    if (c.fresh) {
      std::fill(m.values.begin(), m.values.end(), 0.0);
      std::fill(v.values.begin(), v.values.end(), 0.0);
    }
    p.category = Category::Param;
    m.category = v.category = Category::OptimizerState;
    std::vector<double> before = p.values, wantP = p.values, wantM = m.values,
                        wantV = v.values;
    ref::adamw(c.o, g, wantP, wantM, wantV);
    KernelRun run(backend, "adamw_update");
    if (c.attrs)
      run.real("beta1", c.o.beta1)
          .real("beta2", c.o.beta2)
          .real("epsilon", c.o.epsilon)
          .real("weight_decay", c.o.weightDecay);
    run.scalars.learningRate = c.o.lr;
    run.scalars.step = c.o.step;
    ASSERT_TRUE(run.run({&g}, {&p, &m, &v}));
    // p = decay * p - step: the step's terms carry relative errors.
    double step = 0.0;
    for (int64_t i = 0; i < p.numel(); ++i)
      step =
          std::max(step, std::fabs(wantP[i] - (1.0 - c.o.lr * c.o.weightDecay) *
                                                  before[i]));
    expectClose(m, wantM, tolerance(dtype, 2, maxAbs(wantM) + maxAbs(g.values)),
                "first moment");
    expectClose(v, wantV,
                tolerance(dtype, 2,
                          maxAbs(wantV) + maxAbs(g.values) * maxAbs(g.values)),
                "second moment");
    expectClose(p, wantP, tolerance(dtype, 4, maxAbs(before) + step),
                "parameter");
  }
}

//===----------------------------------------------------------------------===//
// The suite
//===----------------------------------------------------------------------===//
// Attention sparsity: tile_mean, attention_block_mask
//===----------------------------------------------------------------------===//

/// graph.tile_mean in float64: each tile of `block` positions (the last
/// one shorter) averaged.
void caseTileMean(Backend &backend, DType dtype, Random &random) {
  int64_t block = 5, tiles = (kSeq + block - 1) / block;
  Tensor x = random.uniform({kBatch, kSeq, kHidden}, dtype);
  Tensor out = output({kBatch, tiles, kHidden}, dtype);
  KernelRun run(backend, "tile_mean");
  run.integer("block", block);
  ASSERT_TRUE(run.run({&x}, {&out}));
  std::vector<double> want(size_t(kBatch * tiles * kHidden), 0.0);
  for (int64_t b = 0; b < kBatch; ++b)
    for (int64_t i = 0; i < tiles; ++i) {
      int64_t t0 = i * block, t1 = std::min(kSeq, t0 + block);
      for (int64_t d = 0; d < kHidden; ++d) {
        double sum = 0.0;
        for (int64_t t = t0; t < t1; ++t)
          sum += x.values[(b * kSeq + t) * kHidden + d];
        want[(b * tiles + i) * kHidden + d] = sum / double(t1 - t0);
      }
    }
  expectClose(out, want, dtype == DType::F32 ? 1e-6 : 1e-2, "tile means");
}

/// graph.attention_block_mask in float64: a causal pair of tiles is live
/// when some probability on it exceeds the threshold; the first key tile
/// and the diagonal always, nothing above the diagonal. GQA: head h reads
/// key head h / (H / Hkv).
void caseAttentionBlockMask(Backend &backend, DType dtype, Random &random) {
  // 30 positions: 8 tiles of 4, the last shorter.
  constexpr int64_t kSeq = 30;
  int64_t block = 4, tiles = (kSeq + block - 1) / block;
  double scale = 4.0; // peaked probabilities: some pairs dead
  for (double threshold : {0.0, 0.3}) {
    SCOPED_TRACE("threshold " + std::to_string(threshold));
    Tensor q = random.uniform({kBatch, kHeads, kSeq, kHeadDim}, dtype);
    Tensor k = random.uniform({kBatch, kKvHeads, kSeq, kHeadDim}, dtype);
    Tensor mask = output({kBatch, kHeads, tiles, tiles}, dtype);
    KernelRun run(backend, "attention_block_mask");
    run.integer("block", block)
        .real("scale", scale)
        .real("threshold", threshold);
    ASSERT_TRUE(run.run({&q, &k}, {&mask}));
    std::vector<double> want(size_t(kBatch * kHeads * tiles * tiles), 0.0);
    int64_t dead = 0;
    for (int64_t b = 0; b < kBatch; ++b)
      for (int64_t h = 0; h < kHeads; ++h) {
        int64_t kh = h / (kHeads / kKvHeads);
        double *row0 = want.data() + (b * kHeads + h) * tiles * tiles;
        for (int64_t t = 0; t < kSeq; ++t) {
          std::vector<double> scores(size_t(t + 1));
          double top = -INFINITY, total = 0.0;
          for (int64_t j = 0; j <= t; ++j) {
            double dot = 0.0;
            for (int64_t d = 0; d < kHeadDim; ++d)
              dot += q.values[((b * kHeads + h) * kSeq + t) * kHeadDim + d] *
                     k.values[((b * kKvHeads + kh) * kSeq + j) * kHeadDim + d];
            scores[j] = dot * scale;
            top = std::max(top, scores[j]);
          }
          for (double v : scores)
            total += std::exp(v - top);
          for (int64_t j = 0; j <= t; ++j)
            if (threshold <= 0.0 ||
                std::exp(scores[j] - top) / total > threshold)
              row0[t / block * tiles + j / block] = 1.0;
        }
        for (int64_t i = 0; i < tiles; ++i) {
          row0[i * tiles] = row0[i * tiles + i] = 1.0;
          for (int64_t j = 1; j < i; ++j)
            dead += row0[i * tiles + j] == 0.0;
        }
      }
    // The case means something: at 0.3 some causal pairs are dead, at 0
    // none is.
    EXPECT_EQ(dead > 0, threshold > 0.0);
    expectClose(mask, want, 0.0, "mask");
  }
}

//===----------------------------------------------------------------------===//

using CaseFn = void (*)(Backend &, DType, Random &);

/// Every kernel of the catalog but `sync`, with its case.
const std::vector<std::pair<std::string, CaseFn>> &conformanceCases() {
  static const std::vector<std::pair<std::string, CaseFn>> cases = {
      {"embedding", caseEmbedding},
      {"embedding_grad", caseEmbeddingGrad},
      {"position_ids", casePositionIds},
      {"linear", caseLinear},
      {"linear_grad_weight", caseLinearGradWeight},
      {"block_mask", caseBlockMask},
      {"tile_mean", caseTileMean},
      {"attention_block_mask", caseAttentionBlockMask},
      {"block_sparse_linear", caseBlockSparseLinear},
      {"block_sparse_linear_grad", caseBlockSparseLinearGrad},
      {"matmul", caseMatmul},
      {"layer_norm", caseLayerNorm},
      {"layer_norm_grad", caseLayerNormGrad},
      {"rms_norm", caseRmsNorm},
      {"rms_norm_grad", caseRmsNormGrad},
      {"causal_mask", caseCausalMask},
      {"softmax", caseSoftmax},
      {"softmax_grad", caseSoftmaxGrad},
      {"attention", caseAttention},
      {"attention_grad", caseAttentionGrad},
      {"rope", caseRope},
      {"relu", caseRelu},
      {"silu", caseSilu},
      {"gelu", caseGelu},
      {"activation_grad", caseActivationGrad},
      {"bias_gelu", caseBiasGelu},
      {"bias_gelu_grad", caseBiasGeluGrad},
      {"bias_dropout_add_layer_norm", caseBiasDropoutAddLayerNorm},
      {"add_rms_norm", caseAddRmsNorm},
      {"scale", caseScale},
      {"dropout", caseDropout},
      {"add", caseAdd},
      {"mul", caseMul},
      {"sum_to", caseSumTo},
      {"zeros", caseZeros},
      {"cast", caseCast},
      {"transpose", caseTranspose},
      {"split", caseSplit},
      {"concat", caseConcat},
      {"cross_entropy", caseCrossEntropy},
      {"cross_entropy_grad", caseCrossEntropyGrad},
      {"sigmoid_bce", caseSigmoidBce},
      {"sigmoid_bce_grad", caseSigmoidBceGrad},
      {"mask_agreement", caseMaskAgreement},
      {"sgd_update", caseSgdUpdate},
      {"adamw_update", caseAdamwUpdate},
  };
  return cases;
}

/// The dtypes whose kernels the suite checks.
const std::vector<DType> &conformanceDTypes() {
  static const std::vector<DType> dtypes = {DType::F32, DType::BF16};
  return dtypes;
}

/// The kernels with no bf16 form, each with the reason: the suite runs them
/// as f32 only, and KernelConformanceCatalog checks that their load-time
/// checks refuse bf16 and that the cpu backend has no bf16 variant.
const std::map<std::string, std::string> &f32OnlyKernels() {
  static const std::map<std::string, std::string> kernels = {
      {"position_ids", "no floats: ids in, ids out"},
      {"sgd_update", "parameters are f32 master weights"},
      {"adamw_update", "parameters and moments are f32 master state"},
  };
  return kernels;
}

struct ConformanceParam {
  std::string backend, kernel;
  DType dtype;
};

/// How a failing case names itself.
void PrintTo(const ConformanceParam &param, std::ostream *os) {
  *os << param.backend << " " << param.kernel << " " << dtypeName(param.dtype);
}

std::vector<ConformanceParam> conformanceParams() {
  std::vector<ConformanceParam> params;
  for (const std::string &backend : backendNames())
    for (const auto &[kernel, fn] : conformanceCases())
      for (DType dtype : conformanceDTypes())
        if (dtype == DType::F32 || !f32OnlyKernels().count(kernel))
          params.push_back({backend, kernel, dtype});
  return params;
}

uint64_t inputSeed(const std::string &kernel) {
  uint64_t seed = nameHash(kernel);
  if (const char *given = std::getenv("SLAPO_TEST_SEED"))
    seed ^= mix64(std::strtoull(given, nullptr, 10));
  return seed;
}

class KernelConformanceTest : public testing::TestWithParam<ConformanceParam> {
};

TEST_P(KernelConformanceTest, MatchesFloat64Reference) {
  const ConformanceParam &param = GetParam();
  std::string error;
  std::unique_ptr<Backend> backend = createBackend(param.backend, error);
  if (!backend)
    GTEST_SKIP() << "backend " << param.backend << " unavailable: " << error;
  auto it = std::find_if(
      conformanceCases().begin(), conformanceCases().end(),
      [&](const auto &entry) { return entry.first == param.kernel; });
  ASSERT_NE(it, conformanceCases().end());
  uint64_t seed = inputSeed(param.kernel);
  SCOPED_TRACE(param.backend + " " + param.kernel + " " +
               dtypeName(param.dtype) + ", inputs seeded " +
               std::to_string(seed));
  Random random(seed);
  it->second(*backend, param.dtype, random);
}

INSTANTIATE_TEST_SUITE_P(
    KernelConformance, KernelConformanceTest,
    testing::ValuesIn(conformanceParams()),
    [](const testing::TestParamInfo<ConformanceParam> &info) {
      return info.param.backend + "_" + info.param.kernel + "_" +
             dtypeName(info.param.dtype);
    });

TEST(KernelConformanceCatalog, CoversEveryKernelButSync) {
  for (const KernelSpec &spec : kernelCatalog()) {
    bool covered = std::any_of(
        conformanceCases().begin(), conformanceCases().end(),
        [&](const auto &entry) { return entry.first == spec.name; });
    EXPECT_EQ(covered, std::string(spec.name) != "sync") << spec.name;
  }
  EXPECT_EQ(conformanceCases().size() + 1, kernelCatalog().size());
}

/// The operand dtypes of a call of `spec` with its fewest inputs whose
/// floats are `floats` (ids where the kernel takes them, and cross_entropy's
/// loss f32: KernelChecks.cpp's floatsExcept).
std::vector<DType> operandsOf(const KernelSpec &spec, DType floats) {
  static const std::map<std::string, std::pair<Shape, Shape>> idOperands = {
      {"embedding", {{0}, {}}},
      {"embedding_grad", {{0}, {}}},
      {"position_ids", {{0}, {0}}},
      {"cross_entropy", {{1}, {}}},
      {"cross_entropy_grad", {{1}, {}}}};
  auto ids = idOperands.find(spec.name);
  auto operand = [&](bool input, int64_t i) {
    if (!input && i == 0 && std::string(spec.name) == "cross_entropy")
      return DType::F32; // the loss
    if (ids == idOperands.end())
      return floats;
    const Shape &list = input ? ids->second.first : ids->second.second;
    return std::count(list.begin(), list.end(), i) ? DType::I64 : floats;
  };
  std::vector<DType> dtypes;
  for (int i = 0; i < spec.minInputs; ++i)
    dtypes.push_back(operand(true, i));
  for (int i = 0; i < std::max(spec.outputs, 1); ++i)
    dtypes.push_back(operand(false, i));
  return dtypes;
}

std::vector<DType> f32Operands(const KernelSpec &spec) {
  return operandsOf(spec, DType::F32);
}

TEST(KernelConformanceCatalog, EveryKernelHasAnF32ImplementationOnEachBackend) {
  for (const std::string &name : backendNames()) {
    std::string error;
    std::unique_ptr<Backend> backend = createBackend(name, error);
    if (!backend) {
      EXPECT_NE(name, "cpu") << error; // the CPU is always there
      continue;
    }
    for (const KernelSpec &spec : kernelCatalog())
      EXPECT_TRUE(backend->findKernel(spec.name, f32Operands(spec)))
          << name << " has no f32 '" << spec.name << "'";
  }
}

TEST(KernelConformanceCatalog, EveryKernelButTheF32OnlyHasABf16OneOnCpu) {
  std::string error;
  std::unique_ptr<Backend> backend = createBackend("cpu", error);
  ASSERT_TRUE(backend) << error;
  for (const KernelSpec &spec : kernelCatalog()) {
    KernelFn fn = backend->findKernel(spec.name, operandsOf(spec, DType::BF16));
    auto f32Only = f32OnlyKernels().find(spec.name);
    if (f32Only == f32OnlyKernels().end()) {
      EXPECT_TRUE(fn) << "cpu has no bf16 '" << spec.name << "'";
    } else if (std::string(spec.name) != "position_ids") { // no floats at all
      EXPECT_FALSE(fn) << "cpu has a bf16 '" << spec.name
                       << "', which no plan can call: " << f32Only->second;
    }
  }
  // Every name listed is a kernel.
  for (const auto &[kernel, why] : f32OnlyKernels())
    EXPECT_GE(findKernelSpec(kernel), 0) << kernel;
}

TEST(KernelConformanceCatalog, TheF32OnlyKernelsRefuseBf16) {
  std::string error;
  std::unique_ptr<Backend> backend = createBackend("cpu", error);
  ASSERT_TRUE(backend) << error;
  auto tensor = [](DType dtype, Category category = Category::Activation) {
    return output({kRows, kOdd}, dtype, category);
  };
  // Updates with any bf16 operand are refused; the all-f32 one (the control)
  // is accepted.
  for (DType grad : {DType::F32, DType::BF16})
    for (DType state : {DType::F32, DType::BF16}) {
      SCOPED_TRACE(std::string("grad ") + dtypeName(grad) + ", state " +
                   dtypeName(state));
      bool accepted = grad == DType::F32 && state == DType::F32;
      Tensor g = tensor(grad), p = tensor(state, Category::Param),
             m = tensor(state, Category::OptimizerState),
             v = tensor(state, Category::OptimizerState);
      EXPECT_EQ(KernelRun(*backend, "sgd_update").problem({&g}, {&p}).empty(),
                accepted);
      EXPECT_EQ(KernelRun(*backend, "adamw_update")
                    .problem({&g}, {&p, &m, &v})
                    .empty(),
                accepted);
    }
  // position_ids takes ids only: bf16 ones are refused.
  for (DType dtype : {DType::I64, DType::BF16}) {
    Tensor ids = tensor(dtype), positions = tensor(DType::I64);
    EXPECT_EQ(KernelRun(*backend, "position_ids")
                  .problem({&ids}, {&positions})
                  .empty(),
              dtype == DType::I64)
        << dtypeName(dtype);
  }
}

} // namespace
