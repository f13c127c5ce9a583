// The policy engine's record of what it was asked: every input it computes a transition from,
// with "now" stamped in (the <cib>'s execution-date), saved compressed as
// <dir>/pe-input-N.bz2 (pe-warn-N with configuration warnings, pe-error-N with errors), so that
// `crm_simulate -x` replays any decision exactly. Each series keeps its newest `max` files,
// numbered 0..max-1 and wrapping, as Pacemaker's pe-*-series-max options say.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ha::pengine {

enum class Series { kInput, kWarn, kError };
const char* SeriesName(Series series);  // "pe-input", "pe-warn", "pe-error"

struct SavedFile {
  std::string path;
  Series series = Series::kInput;
  uint32_t number = 0;
  int64_t mtime_unix_s = 0;
  uint64_t size_bytes = 0;
};

class InputArchive {
 public:
  explicit InputArchive(std::string dir);

  // Saves `cib_xml` with execution-date="now" set on its <cib>. `max` < 0: unlimited;
  // 0: not saved (returns a SavedFile with an empty path).
  absl::StatusOr<SavedFile> Save(const std::string& cib_xml,
                                 int64_t now,
                                 Series series,
                                 int64_t max);
  // Newest first; only `series` unless `all`.
  std::vector<SavedFile> List(bool all, Series series) const;

 private:
  uint32_t NextNumber(Series series, int64_t max);

  std::string dir_;
  bool scanned_[3] = {false, false, false};
  int64_t next_[3] = {0, 0, 0};
};

// bzip2 of `data` and back (the archive's format, as Pacemaker's).
absl::StatusOr<std::string> Bzip2Compress(const std::string& data);
absl::StatusOr<std::string> Bzip2Decompress(const std::string& data, size_t limit);

}  // namespace ha::pengine
