// Runs the fuzz entry point over the seed corpus, so that it is compiled and exercised in every
// build, not only in the HA_FUZZ one.
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

TEST_CASE("every seed of the corpus runs through the fuzz entry", "[config][fuzz]") {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(HA_CONFIG_FUZZ_CORPUS_DIR)) {
    if (!entry.is_regular_file())
      continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(entry.path().string());
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size()) == 0);
    ++files;
  }
  CHECK(files >= 2);
}
