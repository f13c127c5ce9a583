// The line-oriented parser of corosync.conf-style files. corosync's own parser (coroparse.c) is
// the model: one statement per line, `name {`, `}` and `key: value`, `#` comments on lines of their
// own. We are stricter where corosync silently guesses (text after a brace, a brace inside a value)
// and say exactly where the problem is.
#include "config/conf_tree.h"

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ha::config {

std::string SourcePos::ToString() const {
  return absl::StrCat(file, ":", line, ":", column);
}

namespace {

bool IsBlank(char c) {
  return c == ' ' || c == '\t';
}

// Names of sections and keys: what corosync's files use, and nothing that could hide a typo such
// as a missing ':' ("token 3000") or a brace in the wrong place.
bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

bool IsName(absl::string_view s) {
  if (s.empty())
    return false;
  for (char c : s) {
    if (!IsNameChar(c))
      return false;
  }
  return true;
}

// Quotes a piece of a line for an error message, keeping the message short and printable.
std::string Quote(absl::string_view text) {
  constexpr size_t kMaxShown = 60;
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxShown)
    out += "...";
  out += "'";
  return out;
}

class Parser {
 public:
  Parser(absl::string_view text, absl::string_view file) : text_(text), file_(file) {}

  absl::StatusOr<std::unique_ptr<ConfSection>> Parse() {
    auto root = std::make_unique<ConfSection>();
    root->pos = Pos(1, 1);
    if (text_.size() > kMaxConfFileBytes) {
      return Error(Pos(1, 1), absl::StrCat("file is larger than 1 MiB (", text_.size(), " bytes)"));
    }
    std::vector<ConfSection*> open = {root.get()};
    int line_no = 0;
    size_t start = 0;
    while (start < text_.size()) {
      size_t end = text_.find('\n', start);
      if (end == absl::string_view::npos)
        end = text_.size();
      absl::string_view line = text_.substr(start, end - start);
      start = end + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);  // DOS line ends
      if (line.size() > kMaxConfLineLength) {
        return Error(Pos(line_no, static_cast<int>(kMaxConfLineLength) + 1),
                     absl::StrCat("line is longer than ", kMaxConfLineLength, " characters"));
      }
      if (line.find('\0') != absl::string_view::npos) {
        return Error(Pos(line_no, static_cast<int>(line.find('\0')) + 1),
                     "NUL character in the file");
      }
      // Trim, remembering where the statement starts for columns.
      size_t first = 0;
      while (first < line.size() && IsBlank(line[first]))
        ++first;
      size_t last = line.size();
      while (last > first && IsBlank(line[last - 1]))
        --last;
      absl::string_view stmt = line.substr(first, last - first);
      if (stmt.empty() || stmt.front() == '#')
        continue;
      const int col = static_cast<int>(first) + 1;

      if (stmt == "}") {
        if (open.size() == 1) {
          return Error(Pos(line_no, col), "unexpected '}' with no open section");
        }
        open.pop_back();
        continue;
      }

      if (stmt.back() == '{') {
        absl::string_view name = stmt.substr(0, stmt.size() - 1);
        while (!name.empty() && IsBlank(name.back()))
          name.remove_suffix(1);
        if (name.empty()) {
          return Error(Pos(line_no, col), "missing section name before '{'");
        }
        if (!IsName(name)) {
          return Error(Pos(line_no, col),
                       absl::StrCat("expected 'key: value', 'name {' or '}', got ", Quote(stmt)));
        }
        if (static_cast<int>(open.size()) > kMaxConfDepth) {
          return Error(Pos(line_no, col),
                       absl::StrCat("sections are nested deeper than ", kMaxConfDepth, " levels"));
        }
        auto section = std::make_unique<ConfSection>();
        section->name = std::string(name);
        section->pos = Pos(line_no, col);
        ConfSection* raw = section.get();
        open.back()->sections.push_back(std::move(section));
        open.push_back(raw);
        continue;
      }

      size_t colon = stmt.find(':');
      if (colon == absl::string_view::npos) {
        return Error(Pos(line_no, col),
                     absl::StrCat("expected 'key: value', 'name {' or '}', got ", Quote(stmt)));
      }
      absl::string_view key = stmt.substr(0, colon);
      while (!key.empty() && IsBlank(key.back()))
        key.remove_suffix(1);
      if (key.empty()) {
        return Error(Pos(line_no, col), "empty key before ':'");
      }
      if (!IsName(key)) {
        return Error(Pos(line_no, col),
                     absl::StrCat("expected 'key: value', 'name {' or '}', got ", Quote(stmt)));
      }
      size_t value_start = colon + 1;
      while (value_start < stmt.size() && IsBlank(stmt[value_start]))
        ++value_start;
      absl::string_view value = stmt.substr(value_start);
      const int value_col = col + static_cast<int>(value_start);
      if (!value.empty() && value.front() == '"') {
        if (value.size() < 2 || value.back() != '"') {
          return Error(Pos(line_no, value_col), "unterminated '\"' in value");
        }
        value = value.substr(1, value.size() - 2);
      }
      ConfEntry entry;
      entry.key = std::string(key);
      entry.value = std::string(value);
      entry.key_pos = Pos(line_no, col);
      entry.value_pos = Pos(line_no, value_col);
      open.back()->entries.push_back(std::move(entry));
    }
    if (open.size() > 1) {
      const ConfSection* unclosed = open.back();
      return Error(unclosed->pos, absl::StrCat("section '", unclosed->name, "' is not closed"));
    }
    return root;
  }

 private:
  SourcePos Pos(int line, int column) const { return SourcePos{std::string(file_), line, column}; }

  static absl::Status Error(const SourcePos& pos, absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(pos.ToString(), ": ", message));
  }

  absl::string_view text_;
  absl::string_view file_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ConfSection>> ParseConfText(absl::string_view text,
                                                           absl::string_view file_name) {
  return Parser(text, file_name).Parse();
}

}  // namespace ha::config
