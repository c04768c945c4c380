//===- DeviceBackendTest.cpp - every backend built, on this machine -------===//
//
// Backends other than the CPU's run where their device is: the CUDA one
// starts where a GPU is visible and says, in one line, that there is none
// elsewhere; any backend that starts draws the CPU's weights. Needs no
// compiler, so a runtime-only build (scripts/gpu-check.sh) runs it.
//
//===----------------------------------------------------------------------===//

#include "slapo/Runtime/Backend.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace slapo::rt;

namespace {

// The CUDA backend, where it is built, is a device backend on a machine
// with a GPU and a one-line refusal on one without.
TEST(DeviceBackend, CudaIsADeviceOrSaysThereIsNone) {
  auto names = backendNames();
  if (std::find(names.begin(), names.end(), "cuda") == names.end())
    GTEST_SKIP() << "this build has no CUDA backend";
  std::string error;
  std::unique_ptr<Backend> backend = createBackend("cuda", error);
  if (!backend) {
    EXPECT_EQ(error.rfind("--device cuda: no CUDA device", 0), 0u) << error;
    return;
  }
  EXPECT_EQ(backend->space(), MemorySpace::Device);
  EXPECT_GE(backend->deviceIndex(), 0);
  EXPECT_EQ(backend->describe().rfind("cuda:", 0), 0u) << backend->describe();
}

// Every backend draws the CPU's weights: the same counter-based numbers.
TEST(DeviceBackend, EveryBackendDrawsTheSameWeights) {
  constexpr int64_t n = 4099;
  std::string hostError;
  std::unique_ptr<Backend> host = createBackend("cpu", hostError);
  ASSERT_TRUE(host) << hostError;
  std::vector<float> expected(n), fill(n);
  host->drawParameter(expected.data(), n, 0x1234, 77, false, 0.02);
  host->fill(fill.data(), n, 1.5f);
  EXPECT_EQ(fill[n - 1], 1.5f);
  EXPECT_NE(expected[0], expected[1]);
  for (const std::string &name : backendNames()) {
    std::string error;
    std::unique_ptr<Backend> backend = createBackend(name, error);
    if (!backend)
      continue; // no such device here (CudaIsADeviceOrSaysThereIsNone)
    SCOPED_TRACE(name);
    float *memory = static_cast<float *>(backend->allocate(n * 4, error));
    ASSERT_TRUE(memory) << error;
    std::vector<float> drawn(n);
    backend->drawParameter(memory, n, 0x1234, 77, false, 0.02);
    backend->copyToHost(drawn.data(), memory, n * 4);
    int differing = 0;
    for (int64_t i = 0; i < n; ++i) // within an ulp: the device's log/cos
      differing +=
          drawn[i] != expected[i] &&
          std::fabs(drawn[i] - expected[i]) > std::fabs(expected[i]) * 1.2e-7f;
    EXPECT_EQ(differing, 0);
    backend->release(memory);
  }
}

} // namespace
