#include "cibd/cib_store.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ha::cib {
namespace {

constexpr const char* kCurrent = "cib.xml";
constexpr const char* kCurrentSig = "cib.xml.sig";
constexpr mode_t kMode = 0600;  // the CIB may hold passwords in instance attributes

std::string BackupName(int k) {
  return absl::StrCat("cib-", k, ".raw");
}
std::string SigName(const std::string& name) {
  return name + ".sig";
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t limit) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", ec.message()));
  }
  if (size > limit) {
    return absl::DataLossError(absl::StrCat(path, " is larger than ", limit, " bytes"));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in) {
    return absl::DataLossError(absl::StrCat("cannot read ", path));
  }
  return s.str();
}

// Parses "cib-K.raw" into K.
std::optional<int> BackupIndex(const std::string& name) {
  if (name.rfind("cib-", 0) != 0 || name.size() < 9 || name.substr(name.size() - 4) != ".raw") {
    return std::nullopt;
  }
  const std::string digits = name.substr(4, name.size() - 8);
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoi(digits);
}

}  // namespace

CibStore::CibStore(std::string dir, Clock& clock, int keep_backups)
    : dir_(std::move(dir)), clock_(clock), keep_backups_(std::max(keep_backups, 1)) {}

std::string CibStore::Path(const std::string& name) const {
  return dir_ + "/" + name;
}

std::vector<int> CibStore::BackupIndexes() const {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() > 4 && name.substr(name.size() - 4) == ".sig") {
      name.resize(name.size() - 4);  // an orphan sig still reserves its index
    }
    if (auto k = BackupIndex(name); k) {
      out.push_back(*k);
    }
  }
  std::sort(out.begin(), out.end(), std::greater<>());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

absl::StatusOr<CibDocument> CibStore::ReadVerified(const std::string& name,
                                                   const std::string& sig_name) const {
  const ParseLimits limits;
  HA_ASSIGN_OR_RETURN(const std::string text, ReadSmallFile(Path(name), limits.max_bytes));
  auto doc = CibDocument::Parse(text, limits);
  if (!doc.ok()) {
    return absl::DataLossError(absl::StrCat(name, " does not parse: ", doc.status().message()));
  }
  auto sig = ReadSmallFile(Path(sig_name), 1024);
  if (!sig.ok()) {
    return absl::DataLossError(absl::StrCat(name, " has no readable digest file ", sig_name));
  }
  const std::string expected(absl::StripAsciiWhitespace(*sig));
  const std::string actual = doc->Digest();
  if (expected != actual) {
    return absl::DataLossError(
        absl::StrCat(name, " has digest ", actual, " but ", sig_name, " says ", expected));
  }
  return std::move(doc).value();
}

absl::StatusOr<CibDocument> CibStore::ReadCurrent(const std::vector<int>& backups) const {
  auto doc = ReadVerified(kCurrent, kCurrentSig);
  if (!doc.ok() && !backups.empty()) {
    // A save interrupted between its two renames: cib.xml is still the newest backup.
    auto current = ReadVerified(kCurrent, SigName(BackupName(backups.front())));
    if (current.ok()) {
      HA_LOG_NOTICE("cib",
                    "Found the CIB of an interrupted save | file=%s version=%s",
                    Path(kCurrent),
                    ToString(current->Version()));
      return current;
    }
  }
  return doc;
}

absl::Status CibStore::SetAside(const std::string& name, const std::string& reason) {
  const int64_t now = absl::ToUnixSeconds(clock_.WallNow());
  std::string aside = absl::StrCat(name, ".corrupt-", now);
  for (int n = 1; std::filesystem::exists(Path(aside)); ++n) {
    aside = absl::StrCat(name, ".corrupt-", now, "-", n);
  }
  if (::rename(Path(name).c_str(), Path(aside).c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot set aside ", Path(name), ": ", std::strerror(errno)));
  }
  HA_LOG_ERROR("cib",
               "Set aside a corrupt CIB file | file=%s renamed=%s reason=%s",
               Path(name),
               aside,
               reason);
  return absl::OkStatus();
}

absl::StatusOr<CibStore::Loaded> CibStore::Load() {
  current_digest_.reset();
  const std::vector<int> backups = BackupIndexes();
  const bool have_current = std::filesystem::exists(Path(kCurrent));
  if (have_current) {
    auto doc = ReadCurrent(backups);
    if (doc.ok()) {
      current_digest_ = doc->Digest();
      return Loaded{std::move(doc).value(), kCurrent, false};
    }
    HA_RETURN_IF_ERROR(SetAside(kCurrent, std::string(doc.status().message())));
  }
  for (int k : backups) {
    const std::string name = BackupName(k);
    auto doc = ReadVerified(name, SigName(name));
    if (!doc.ok()) {
      HA_LOG_WARN("cib",
                  "Skipped a bad CIB backup | file=%s reason=%s",
                  Path(name),
                  doc.status().message());
      continue;
    }
    HA_LOG_WARN("cib",
                "Using the newest good CIB backup | file=%s version=%s",
                Path(name),
                ToString(doc->Version()));
    return Loaded{std::move(doc).value(), name, true};
  }
  if (!have_current && backups.empty()) {
    return absl::NotFoundError(absl::StrCat("no CIB in ", dir_));
  }
  return absl::DataLossError(absl::StrCat("no good CIB in ", dir_));
}

absl::Status CibStore::Save(const CibDocument& doc, std::string_view known_digest) {
  const std::string text = doc.Serialize(true);
  const std::string digest = known_digest.empty() ? doc.Digest() : std::string(known_digest);
  if (std::filesystem::exists(Path(kCurrent))) {
    if (!current_digest_) {
      auto current = ReadCurrent(BackupIndexes());
      if (current.ok()) {
        current_digest_ = current->Digest();
      }
    }
    if (current_digest_) {  // an unverifiable cib.xml is not worth a backup
      const std::vector<int> backups = BackupIndexes();
      const std::string name = BackupName(backups.empty() ? 1 : backups.front() + 1);
      if (::link(Path(kCurrent).c_str(), Path(name).c_str()) != 0) {
        return absl::UnavailableError(
            absl::StrCat("cannot link ", Path(kCurrent), " to ", name, ": ", std::strerror(errno)));
      }
      HA_RETURN_IF_ERROR(WriteFileAtomically(Path(SigName(name)), *current_digest_ + "\n", kMode));
    }
  }
  HA_RETURN_IF_ERROR(WriteFileAtomically(Path(kCurrentSig), digest + "\n", kMode));
  current_digest_.reset();  // cib.xml and its sig disagree until the next write lands
  HA_RETURN_IF_ERROR(WriteFileAtomically(Path(kCurrent), text, kMode));
  current_digest_ = digest;
  return Prune();
}

absl::Status CibStore::Prune() {
  const std::vector<int> backups = BackupIndexes();
  for (size_t i = static_cast<size_t>(keep_backups_); i < backups.size(); ++i) {
    const std::string name = BackupName(backups[i]);
    for (const std::string& file : {name, SigName(name)}) {
      if (::unlink(Path(file).c_str()) != 0 && errno != ENOENT) {
        return absl::UnavailableError(
            absl::StrCat("cannot remove ", Path(file), ": ", std::strerror(errno)));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ha::cib
