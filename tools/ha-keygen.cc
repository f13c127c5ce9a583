// ha-keygen: writes the cluster's shared authentication key, like corosync-keygen (and readable by
// it: raw random bytes).
//   ha-keygen [-k FILE] [-s SIZE] [-l]
//     -k FILE   the key file (default /etc/corosync/authkey)
//     -s SIZE   key size in bytes, 128..4096 (default 256)
//     -l        accepted and ignored, as corosync-keygen does
// The key comes from getrandom(2) and is written atomically with mode 0400: a temporary file in
// the same folder, fsync, rename over FILE (an existing key is replaced, as corosync-keygen
// does), fsync of the folder. Copy it to every node (same bytes everywhere).
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/exit_codes.h"
#include "membershipd/frame_crypto.h"

namespace {

using ha::ExitCode;
using ha::ToInt;

absl::Status ErrnoError(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::Status FillRandom(std::vector<unsigned char>& buf) {
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = getrandom(buf.data() + got, buf.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ErrnoError("getrandom");
    }
    got += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("ha-keygen: generate the cluster's shared authentication key", "ha-keygen");
  std::string key_file = "/etc/corosync/authkey";
  size_t size = ha::membership::kDefaultKeyBytes;
  bool less_secure = false;
  app.add_option("-k,--key-file", key_file, "the key file to write")->capture_default_str();
  app.add_option("-s,--size", size, "key size in bytes")
      ->capture_default_str()
      ->check(CLI::Range(ha::membership::kMinKeyBytes, ha::membership::kMaxKeyBytes));
  app.add_flag("-l,--less-secure", less_secure, "ignored, kept for corosync-keygen compatibility");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : ToInt(ExitCode::kUsage);
  }

  std::cout << "Cluster authentication key generator.\n"
            << "Gathering " << size * 8 << " bits for key from getrandom.\n";
  std::vector<unsigned char> key(size);
  absl::Status status = FillRandom(key);
  if (status.ok()) {
    std::cout << "Writing key to " << key_file << ".\n";
    status = ha::WriteFileAtomically(key_file, std::string(key.begin(), key.end()), S_IRUSR);
  }
  explicit_bzero(key.data(), key.size());
  if (!status.ok()) {
    std::cerr << "ha-keygen: " << status.message() << "\n";
    return ToInt(ExitCode::kError);
  }
  return ToInt(ExitCode::kOk);
}
