// Replacing a small file so that a crash at any moment leaves either the old or the new content:
// a temporary file beside it, written and fsynced, renamed over it, then the folder fsynced.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ha {

// Writes `content` to `path` with `mode`. On error the temporary file is removed and `path` is
// unchanged; the error names the file and the system's reason.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content, mode_t mode);

}  // namespace ha
