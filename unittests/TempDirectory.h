//===- TempDirectory.h - a fresh directory for each test --------*- C++ -*-===//

#ifndef SLAPO_UNITTESTS_TEMPDIRECTORY_H
#define SLAPO_UNITTESTS_TEMPDIRECTORY_H

#include "gtest/gtest.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace slapo::testing {

/// A fixture whose tests each get an empty directory under the system's
/// temporary one, named by the process and the test, removed afterwards.
class TempDirectoryTest : public ::testing::Test {
protected:
  void SetUp() override {
    directory =
        std::filesystem::temp_directory_path() /
        ("slapo-test-" + std::to_string(::getpid()) + "-" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(directory);
    std::filesystem::create_directories(directory);
  }
  void TearDown() override { std::filesystem::remove_all(directory); }

  std::string path(const std::string &name) const {
    return (directory / name).string();
  }
  /// Writes `bytes` to the file `name` in the directory; returns its path.
  std::string write(const std::string &name, const std::string &bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }

  std::filesystem::path directory;
};

} // namespace slapo::testing

#endif // SLAPO_UNITTESTS_TEMPDIRECTORY_H
