// Runs the XML/patchset fuzz entry point over its seed corpus, so that it is compiled and
// exercised in every build, not only in the HA_FUZZ one.
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "cibd/cib_test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace ha::cib {
namespace {

TEST_CASE("the XML fuzz target accepts or refuses every seed without crashing") {
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(HA_CIB_FUZZ_CORPUS_DIR)) {
    const std::string data = testing::ReadFile(e.path().string());
    INFO(e.path().string());
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size()) == 0);
    ++files;
  }
  CHECK(files >= 8);
}

TEST_CASE("the fuzz target handles every scheduler case") {
  int files = 0;
  for (const auto& path : testing::CaseFiles()) {
    if (++files % 10 != 0) {
      continue;  // a sample keeps the test fast
    }
    const std::string data = testing::ReadFile(path);
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size()) == 0);
  }
}

}  // namespace
}  // namespace ha::cib
