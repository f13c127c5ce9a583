#include "pengine/input_archive.h"

#include <bzlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "pugixml.hpp"

namespace ha::pengine {

namespace fs = std::filesystem;

const char* SeriesName(Series series) {
  switch (series) {
    case Series::kInput:
      return "pe-input";
    case Series::kWarn:
      return "pe-warn";
    case Series::kError:
      return "pe-error";
  }
  return "pe-input";
}

absl::StatusOr<std::string> Bzip2Compress(const std::string& data) {
  // bzip2's documented bound: 1% plus 600 bytes.
  unsigned int size = static_cast<unsigned int>(data.size() + data.size() / 100 + 600);
  std::string out(size, '\0');
  int rc = BZ2_bzBuffToBuffCompress(out.data(),
                                    &size,
                                    const_cast<char*>(data.data()),
                                    static_cast<unsigned int>(data.size()),
                                    9,
                                    0,
                                    0);
  if (rc != BZ_OK)
    return absl::InternalError(absl::StrCat("bzip2 compression failed: ", rc));
  out.resize(size);
  return out;
}

absl::StatusOr<std::string> Bzip2Decompress(const std::string& data, size_t limit) {
  unsigned int size = static_cast<unsigned int>(limit);
  std::string out(size, '\0');
  int rc = BZ2_bzBuffToBuffDecompress(out.data(),
                                      &size,
                                      const_cast<char*>(data.data()),
                                      static_cast<unsigned int>(data.size()),
                                      0,
                                      0);
  if (rc == BZ_OUTBUFF_FULL)
    return absl::ResourceExhaustedError(
        absl::StrCat("decompressed input exceeds ", limit, " bytes"));
  if (rc != BZ_OK)
    return absl::InvalidArgumentError(absl::StrCat("not bzip2 data (", rc, ")"));
  out.resize(size);
  return out;
}

InputArchive::InputArchive(std::string dir) : dir_(std::move(dir)) {}

std::vector<SavedFile> InputArchive::List(bool all, Series series) const {
  std::vector<SavedFile> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    for (Series s : {Series::kInput, Series::kWarn, Series::kError}) {
      std::string prefix = absl::StrCat(SeriesName(s), "-");
      if (!absl::StartsWith(name, prefix) || !absl::EndsWith(name, ".bz2"))
        continue;
      if (!all && s != series)
        continue;
      uint32_t number = 0;
      std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - 4);
      if (!absl::SimpleAtoi(digits, &number))
        continue;
      struct stat st {};
      if (stat(entry.path().c_str(), &st) != 0)
        continue;
      files.push_back({entry.path().string(),
                       s,
                       number,
                       static_cast<int64_t>(st.st_mtime),
                       static_cast<uint64_t>(st.st_size)});
    }
  }
  std::sort(files.begin(), files.end(), [](const SavedFile& a, const SavedFile& b) {
    if (a.mtime_unix_s != b.mtime_unix_s)
      return a.mtime_unix_s > b.mtime_unix_s;
    return a.number > b.number;
  });
  return files;
}

uint32_t InputArchive::NextNumber(Series series, int64_t max) {
  int index = static_cast<int>(series);
  if (!scanned_[index]) {
    // Continue after the newest file of the series from an earlier run.
    std::vector<SavedFile> existing = List(false, series);
    next_[index] = existing.empty() ? 0 : existing.front().number + 1;
    scanned_[index] = true;
  }
  if (max > 0 && next_[index] >= max)
    next_[index] = 0;
  return static_cast<uint32_t>(next_[index]++);
}

absl::StatusOr<SavedFile> InputArchive::Save(const std::string& cib_xml,
                                             int64_t now,
                                             Series series,
                                             int64_t max) {
  if (max == 0)
    return SavedFile{};
  pugi::xml_document doc;
  if (!doc.load_buffer(cib_xml.data(), cib_xml.size()))
    return absl::InvalidArgumentError("the input is not XML; not saved");
  pugi::xml_node cib = doc.child("cib");
  if (!cib)
    return absl::InvalidArgumentError("the input has no <cib>; not saved");
  if (!cib.attribute("execution-date"))
    cib.append_attribute("execution-date") = now;
  std::ostringstream xml;
  doc.save(xml, "", pugi::format_raw);
  auto compressed = Bzip2Compress(xml.str());
  if (!compressed.ok())
    return compressed.status();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create ", dir_, ": ", ec.message()));
  uint32_t number = NextNumber(series, max);
  std::string path = absl::StrCat(dir_, "/", SeriesName(series), "-", number, ".bz2");
  absl::Status written = WriteFileAtomically(path, *compressed, 0640);
  if (!written.ok())
    return written;
  return SavedFile{path, series, number, now, compressed->size()};
}

}  // namespace ha::pengine
