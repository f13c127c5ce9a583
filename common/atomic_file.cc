#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace ha {
namespace {

absl::Status ErrnoError(const std::string& what, int err) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(err)));
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& name) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ErrnoError(absl::StrCat("cannot write ", name), errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::string_view content, mode_t mode) {
  const std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) {
    dir = ".";
  }
  std::string tmp = (dir / (target.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    return ErrnoError(absl::StrCat("cannot create a file in ", dir.string()), errno);
  }
  absl::Status status;
  if (::fchmod(fd, mode) != 0) {
    status = ErrnoError(absl::StrCat("cannot set the mode of ", tmp), errno);
  }
  if (status.ok()) {
    status = WriteAll(fd, content, tmp);
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = ErrnoError(absl::StrCat("cannot sync ", tmp), errno);
  }
  if (::close(fd) != 0 && status.ok()) {
    status = ErrnoError(absl::StrCat("cannot close ", tmp), errno);
  }
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(absl::StrCat("cannot rename ", tmp, " to ", path), errno);
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return ErrnoError(absl::StrCat("cannot open ", dir.string()), errno);
  }
  if (::fsync(dir_fd) != 0) {
    status = ErrnoError(absl::StrCat("cannot sync ", dir.string()), errno);
  }
  ::close(dir_fd);
  return status;
}

}  // namespace ha
