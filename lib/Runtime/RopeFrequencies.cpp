//===- RopeFrequencies.cpp - RoPE's inverse frequencies -------------------===//
//
// Part of the runtime core, compiled with its flags (those of the CPU
// kernels, under which GCC may fuse the llama3 band's multiply-adds), so
// every backend's frequencies come from this one object.
//
//===----------------------------------------------------------------------===//

#include "RopeFrequencies.h"

#include <cmath>
#include <string>

namespace slapo::rt {

std::vector<float> ropeInverseFrequencies(const KernelCall &call,
                                          int64_t headDim) {
  int64_t half = headDim / 2;
  // The frequencies in float32, step by step as transformers computes them
  // (modeling_rope_utils): 1 / theta^(2i/D), then the call's `scaling`. A
  // Python scalar meets a float32 tensor as a float32, and `s / t` is
  // `reciprocal(t) * s`.
  float theta = float(call.floatAttr("theta", 10000.0));
  std::vector<float> invFreq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    invFreq[size_t(i)] = 1.0f / std::pow(theta, float(2 * i) / float(headDim));
  auto scaling = call.attrs.find("scaling");
  std::string kind = scaling == call.attrs.end() ? "" : scaling->second.s;
  float factor = float(call.floatAttr("factor", 1.0));
  if (kind == "linear") {
    for (float &f : invFreq)
      f /= factor;
  } else if (kind == "llama3") {
    // Wavelengths above original / low_freq_factor are divided by factor,
    // those below original / high_freq_factor kept, the band between
    // interpolated by how many times it fits in the original context.
    double low = call.floatAttr("low_freq_factor");
    double high = call.floatAttr("high_freq_factor");
    double original = double(call.intAttr("original_max_positions"));
    float lowFreqWavelen = float(original / low);
    float highFreqWavelen = float(original / high);
    float twoPi = float(2.0 * M_PI);
    for (float &f : invFreq) {
      float wavelen = (1.0f / f) * twoPi;
      if (wavelen > lowFreqWavelen) {
        f = f / factor;
      } else if (!(wavelen < highFreqWavelen)) {
        float smooth = ((1.0f / wavelen) * float(original) - float(low)) /
                       float(high - low);
        float scaled = (1.0f - smooth) * f / factor;
        float kept = smooth * f;
        f = scaled + kept;
      }
    }
  }
  return invFreq;
}

} // namespace slapo::rt
