// The syntax layer: sections, entries, comments, positions and the errors for malformed text.
#include "config/conf_tree.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ha::config {
namespace {

std::unique_ptr<ConfSection> MustParse(const std::string& text) {
  absl::StatusOr<std::unique_ptr<ConfSection>> root = ParseConfText(text, "x.conf");
  INFO(root.status().ToString());
  REQUIRE(root.ok());
  return std::move(*root);
}

// The message of the parse error, "" when the text parses.
std::string ErrorOf(const std::string& text) {
  absl::StatusOr<std::unique_ptr<ConfSection>> root = ParseConfText(text, "x.conf");
  if (root.ok())
    return "";
  CHECK(root.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(root.status().message());
}

TEST_CASE("SourcePos prints file:line:column", "[config][conf_tree]") {
  CHECK(SourcePos{"corosync.conf", 7, 12}.ToString() == "corosync.conf:7:12");
}

TEST_CASE("sections, entries and their positions", "[config][conf_tree]") {
  auto root = MustParse(
      "# leading comment\n"
      "totem {\n"
      "\tversion: 2\n"
      "    cluster_name:   \"my cluster\"  \n"
      "\n"
      "\tinterface {\n"
      "\t\tlinknumber:0\n"
      "\t}\n"
      "}\n"
      "top: level\n");
  CHECK(root->name.empty());
  REQUIRE(root->entries.size() == 1);
  CHECK(root->entries[0].key == "top");
  CHECK(root->entries[0].value == "level");
  CHECK(root->entries[0].key_pos.ToString() == "x.conf:10:1");
  CHECK(root->entries[0].value_pos.ToString() == "x.conf:10:6");

  REQUIRE(root->sections.size() == 1);
  const ConfSection& totem = *root->sections[0];
  CHECK(totem.name == "totem");
  CHECK(totem.pos.ToString() == "x.conf:2:1");
  REQUIRE(totem.entries.size() == 2);
  CHECK(totem.entries[0].key == "version");
  CHECK(totem.entries[0].value == "2");
  CHECK(totem.entries[0].key_pos.ToString() == "x.conf:3:2");
  CHECK(totem.entries[0].value_pos.ToString() == "x.conf:3:11");
  // Quotes are removed; the value's column is the opening quote's.
  CHECK(totem.entries[1].value == "my cluster");
  CHECK(totem.entries[1].value_pos.ToString() == "x.conf:4:21");

  REQUIRE(totem.sections.size() == 1);
  const ConfSection& iface = *totem.sections[0];
  CHECK(iface.name == "interface");
  CHECK(iface.pos.ToString() == "x.conf:6:2");
  REQUIRE(iface.entries.size() == 1);
  CHECK(iface.entries[0].key == "linknumber");
  CHECK(iface.entries[0].value == "0");
  CHECK(iface.entries[0].value_pos.ToString() == "x.conf:7:14");
}

TEST_CASE("value split at the first colon, empty values, DOS line ends", "[config][conf_tree]") {
  auto root = MustParse("a: b:c: d\r\nempty:\r\nname{\r\n}\r\n");
  REQUIRE(root->entries.size() == 2);
  CHECK(root->entries[0].value == "b:c: d");
  CHECK(root->entries[1].value.empty());
  REQUIRE(root->sections.size() == 1);
  CHECK(root->sections[0]->name == "name");
}

TEST_CASE("'#' starts a comment only as the first non-blank character", "[config][conf_tree]") {
  auto root = MustParse("   # indented comment\nkey: value # not a comment\n#x {\n");
  REQUIRE(root->entries.size() == 1);
  CHECK(root->entries[0].value == "value # not a comment");
  CHECK(root->sections.empty());
}

TEST_CASE("empty input and a file without final newline", "[config][conf_tree]") {
  CHECK(MustParse("")->entries.empty());
  auto root = MustParse("a {\nb: c\n}");
  REQUIRE(root->sections.size() == 1);
  CHECK(root->sections[0]->entries.size() == 1);
}

TEST_CASE("structural errors name file, line and column", "[config][conf_tree]") {
  CHECK(ErrorOf("a {\n}\n}\n") == "x.conf:3:1: unexpected '}' with no open section");
  CHECK(ErrorOf("a {\n  b {\n  }\n  c {\n") == "x.conf:4:3: section 'c' is not closed");
  CHECK(ErrorOf("x {\n y: 1\n}\n  foo\n") ==
        "x.conf:4:3: expected 'key: value', 'name {' or '}', got 'foo'");
  CHECK(ErrorOf("  : value\n") == "x.conf:1:3: empty key before ':'");
  CHECK(ErrorOf("{\n}\n") == "x.conf:1:1: missing section name before '{'");
  CHECK(ErrorOf("token 3000\n") ==
        "x.conf:1:1: expected 'key: value', 'name {' or '}', got 'token 3000'");
  CHECK(ErrorOf("a { b: c }\n") ==
        "x.conf:1:1: expected 'key: value', 'name {' or '}', got 'a { b: c }'");
  CHECK(ErrorOf("totem: {\n}\n") ==
        "x.conf:1:1: expected 'key: value', 'name {' or '}', got 'totem: {'");
  CHECK(ErrorOf("bad key: 1\n") ==
        "x.conf:1:1: expected 'key: value', 'name {' or '}', got 'bad key: 1'");
  CHECK(ErrorOf("}}\n") == "x.conf:1:1: expected 'key: value', 'name {' or '}', got '}}'");
  CHECK(ErrorOf("k: \"abc\n") == "x.conf:1:4: unterminated '\"' in value");
  CHECK(ErrorOf("k: \"\n") == "x.conf:1:4: unterminated '\"' in value");
  CHECK(ErrorOf(std::string("k: a\0b\n", 7)) == "x.conf:1:5: NUL character in the file");
}

TEST_CASE("nesting is bounded at 32 levels", "[config][conf_tree]") {
  std::string ok;
  for (int i = 0; i < kMaxConfDepth; ++i)
    ok += "s {\n";
  for (int i = 0; i < kMaxConfDepth; ++i)
    ok += "}\n";
  CHECK(ErrorOf(ok).empty());

  std::string deep;
  for (int i = 0; i <= kMaxConfDepth; ++i)
    deep += "s {\n";
  CHECK(ErrorOf(deep) == "x.conf:33:1: sections are nested deeper than 32 levels");
}

TEST_CASE("long lines and large files are refused", "[config][conf_tree]") {
  std::string longest = "k: " + std::string(kMaxConfLineLength - 3, 'v') + "\n";
  CHECK(ErrorOf(longest).empty());
  std::string too_long = "# fine\nk: " + std::string(kMaxConfLineLength - 2, 'v') + "\n";
  CHECK(ErrorOf(too_long) == "x.conf:2:4097: line is longer than 4096 characters");

  std::string big;
  while (big.size() <= kMaxConfFileBytes)
    big += "# padding padding padding padding\n";
  CHECK(ErrorOf(big) ==
        "x.conf:1:1: file is larger than 1 MiB (" + std::to_string(big.size()) + " bytes)");
}

}  // namespace
}  // namespace ha::config
