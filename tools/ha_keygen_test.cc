// Runs the built ha-keygen ($HA_BUILD_DIR/bin/ha-keygen) into a scratch folder.
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "membershipd/frame_crypto.h"

namespace {

namespace fs = std::filesystem;

class KeygenTest {
 public:
  KeygenTest() {
    const char* build = std::getenv("HA_BUILD_DIR");
    REQUIRE(build != nullptr);
    tool_ = fs::path(build) / "bin" / "ha-keygen";
    REQUIRE(fs::exists(tool_));
    std::string pattern = (fs::temp_directory_path() / "ha_keygen_XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
  }
  ~KeygenTest() { fs::remove_all(dir_); }

  // The tool's exit code; its output lands in output().
  int Run(const std::string& args) {
    const std::string cmd =
        tool_.string() + " " + args + " >" + (dir_ / "out.txt").string() + " 2>&1";
    const int status = std::system(cmd.c_str());
    REQUIRE(WIFEXITED(status));
    std::ifstream in(dir_ / "out.txt");
    output_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    fs::remove(dir_ / "out.txt");
    return WEXITSTATUS(status);
  }
  std::string Key() const { return (dir_ / "authkey").string(); }
  const fs::path& dir() const { return dir_; }
  const std::string& output() const { return output_; }

 private:
  fs::path tool_;
  fs::path dir_;
  std::string output_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 07777);
}

TEST_CASE("ha-keygen writes a 256-byte key with mode 0400", "[keygen]") {
  KeygenTest t;
  REQUIRE(t.Run("-k " + t.Key()) == 0);
  CHECK(t.output().find("Writing key to " + t.Key()) != std::string::npos);
  CHECK(fs::file_size(t.Key()) == 256);
  CHECK(ModeOf(t.Key()) == 0400);
  absl::StatusOr<ha::membership::KeyFile> key = ha::membership::LoadKeyFile(t.Key());
  REQUIRE(key.ok());
  CHECK_FALSE(key->group_or_other_access);
  // Nothing but the key is left in the folder.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(t.dir())) {
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("ha-keygen sizes, -l, and replacing a key", "[keygen]") {
  KeygenTest t;
  REQUIRE(t.Run("-s 128 -l -k " + t.Key()) == 0);
  CHECK(fs::file_size(t.Key()) == 128);
  const std::string first = ReadAll(t.Key());
  REQUIRE(t.Run("--size 4096 --key-file " + t.Key()) == 0);
  CHECK(fs::file_size(t.Key()) == 4096);
  CHECK(ModeOf(t.Key()) == 0400);
  CHECK(ReadAll(t.Key()).substr(0, 128) != first);
}

TEST_CASE("ha-keygen refuses bad sizes and reports write errors", "[keygen]") {
  KeygenTest t;
  CHECK(t.Run("-s 127 -k " + t.Key()) == 64);
  CHECK(t.Run("-s 4097 -k " + t.Key()) == 64);
  CHECK(t.Run("--bogus") == 64);
  CHECK_FALSE(fs::exists(t.Key()));
  const std::string missing = (t.dir() / "no" / "authkey").string();
  CHECK(t.Run("-k " + missing) == 1);
  CHECK(t.output().find("ha-keygen: cannot create a file in") != std::string::npos);
  CHECK(t.Run("--help") == 0);
  CHECK(t.output().find("--key-file") != std::string::npos);
}

}  // namespace
