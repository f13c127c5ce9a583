// The untyped tree of a corosync.conf-style file: nested `name { ... }` sections holding
// `key: value` entries, each with the place it was written, so that every later error can name
// file:line:column. See docs/formats/corosync-conf.md for the syntax.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ha::config {

// A place in a configuration file. Lines and columns count from 1.
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;

  // "FILE:LINE:COLUMN"
  std::string ToString() const;
};

struct ConfEntry {
  std::string key;
  std::string value;  // trimmed; surrounding double quotes removed
  SourcePos key_pos;
  SourcePos value_pos;
};

struct ConfSection {
  std::string name;                                    // "" for the file's top level
  SourcePos pos;                                       // where the section's name was written
  std::vector<ConfEntry> entries;                      // in file order
  std::vector<std::unique_ptr<ConfSection>> sections;  // in file order
};

// Limits that keep a hostile or broken file from costing much: the whole file, one line, and how
// deeply sections nest.
inline constexpr size_t kMaxConfFileBytes = 1 << 20;  // 1 MiB
inline constexpr size_t kMaxConfLineLength = 4096;
inline constexpr int kMaxConfDepth = 32;

// Parses the text of a configuration file. `file_name` is only used in positions and errors.
// Errors are InvalidArgument with the message "FILE:LINE:COLUMN: what is wrong".
absl::StatusOr<std::unique_ptr<ConfSection>> ParseConfText(absl::string_view text,
                                                           absl::string_view file_name);

}  // namespace ha::config
