//===- FuzzFile.h - a fuzz input as a file, for readers that take paths ---===//
//
// The safetensors and data readers open paths (they memory-map or pick
// the format by extension): a harness writes each input to one file of
// its own, in $TMPDIR, named with the extension the reader expects.
//
//===----------------------------------------------------------------------===//
#ifndef SLAPO_FUZZ_FUZZFILE_H
#define SLAPO_FUZZ_FUZZFILE_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace slapo::fuzz {

/// Writes `size` bytes to this process's file ending in `extension`
/// (".safetensors") and returns its path; aborts if it cannot.
inline std::string writeInput(const uint8_t *data, size_t size,
                              const std::string &extension) {
  const char *dir = std::getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/slapo-fuzz-" +
                     std::to_string(getpid()) + extension;
  std::FILE *file = std::fopen(path.c_str(), "wb");
  if (!file || (size && std::fwrite(data, 1, size, file) != size) ||
      std::fclose(file) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

} // namespace slapo::fuzz

#endif // SLAPO_FUZZ_FUZZFILE_H
