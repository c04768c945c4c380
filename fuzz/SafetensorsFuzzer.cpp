//===- SafetensorsFuzzer.cpp - libFuzzer harness: safetensors reader ------===//
//
// Any bytes as a .safetensors file: SafetensorsFile::open refuses them
// with an error, or accepts a file whose every tensor lies inside it; then
// every tensor is read as float32 (refused by dtype or for a non-finite
// value, or read whole), touching each accepted byte range.
//
//===----------------------------------------------------------------------===//

#include "FuzzFile.h"

#include "slapo/Runtime/Safetensors.h"

#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = slapo::fuzz::writeInput(data, size, ".safetensors");
  std::string error;
  std::unique_ptr<slapo::rt::SafetensorsFile> file =
      slapo::rt::SafetensorsFile::open(path, error);
  if (!file) {
    if (error.empty())
      std::abort();
    return 0;
  }
  std::vector<float> values;
  for (const auto &[name, entry] : file->entries()) {
    int64_t count = entry.numel();
    // An accepted tensor lies in the file: its elements fit its bytes.
    if (count > int64_t(file->size()))
      std::abort();
    values.resize(size_t(count));
    if (!file->readFloat32(entry, name, 0, count, values.data(), error) &&
        error.empty())
      std::abort();
  }
  return 0;
}
