#include "cibd/cib_path.h"

#include <charconv>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ha::cib {
namespace {

enum class StepKind { kElement, kText, kComment };

struct Step {
  StepKind kind = StepKind::kElement;
  std::string name;
  std::optional<std::string> id;
  int position = 0;  // 0: none
};

StepKind KindOf(const pugi::xml_node& n) {
  switch (n.type()) {
    case pugi::node_pcdata:
    case pugi::node_cdata:
      return StepKind::kText;
    case pugi::node_comment:
      return StepKind::kComment;
    case pugi::node_null:
    case pugi::node_document:
    case pugi::node_element:
    case pugi::node_pi:
    case pugi::node_declaration:
    case pugi::node_doctype:
      break;
  }
  return StepKind::kElement;
}

bool Matches(const pugi::xml_node& n, const Step& s) {
  if (n.type() == pugi::node_element) {
    if (s.kind != StepKind::kElement || s.name != n.name()) {
      return false;
    }
    return !s.id || (n.attribute("id") && *s.id == n.attribute("id").value());
  }
  if (n.type() == pugi::node_pi || n.type() == pugi::node_declaration) {
    return false;
  }
  return KindOf(n) == s.kind;
}

std::optional<std::string> Quote(const char* value) {
  if (std::strchr(value, '\'') == nullptr) {
    return absl::StrCat("'", value, "'");
  }
  if (std::strchr(value, '"') == nullptr) {
    return absl::StrCat("\"", value, "\"");
  }
  return std::nullopt;  // XPath 1.0 cannot quote it; fall back to a position
}

std::string StepOf(const pugi::xml_node& n, bool with_position) {
  Step step;
  step.kind = KindOf(n);
  std::string text;
  if (step.kind == StepKind::kText) {
    text = "text()";
  } else if (step.kind == StepKind::kComment) {
    text = "comment()";
  } else {
    step.name = n.name();
    text = step.name;
    if (const pugi::xml_attribute id = n.attribute("id"); id) {
      if (auto quoted = Quote(id.value()); quoted) {
        step.id = id.value();
        absl::StrAppend(&text, "[@id=", *quoted, "]");
      }
    }
  }
  if (!with_position) {
    return text;
  }
  int index = 0;
  int total = 0;
  for (pugi::xml_node s = n.parent().first_child(); s; s = s.next_sibling()) {
    if (Matches(s, step)) {
      ++total;
      if (s == n) {
        index = total;
      }
    }
  }
  if (total > 1 || step.kind != StepKind::kElement) {
    absl::StrAppend(&text, "[", index, "]");
  }
  return text;
}

std::string PathOf(const pugi::xml_node& node, bool with_position) {
  std::vector<std::string> steps;
  for (pugi::xml_node n = node; n && n.type() != pugi::node_document; n = n.parent()) {
    steps.push_back(StepOf(n, with_position));
  }
  std::string out;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    absl::StrAppend(&out, "/", *it);
  }
  return out;
}

// Parses the step at `p` of `path`; advances `p` past it.
std::optional<Step> ParseStep(std::string_view path, size_t& p) {
  Step step;
  const size_t start = p;
  while (p < path.size() && path[p] != '/' && path[p] != '[') {
    ++p;
  }
  const std::string_view name = path.substr(start, p - start);
  if (name.empty()) {
    return std::nullopt;
  }
  if (name == "text()") {
    step.kind = StepKind::kText;
  } else if (name == "comment()") {
    step.kind = StepKind::kComment;
  } else {
    step.name = std::string(name);
  }
  while (p < path.size() && path[p] == '[') {
    ++p;
    if (path.substr(p, 5) == "@id='" || path.substr(p, 5) == "@id=\"") {
      const char quote = path[p + 4];
      const size_t value_start = p + 5;
      const size_t end = path.find(quote, value_start);
      if (end == std::string_view::npos || end + 1 >= path.size() || path[end + 1] != ']') {
        return std::nullopt;
      }
      step.id = std::string(path.substr(value_start, end - value_start));
      p = end + 2;
      continue;
    }
    const size_t end = path.find(']', p);
    if (end == std::string_view::npos) {
      return std::nullopt;
    }
    int position = 0;
    const auto [ptr, ec] = std::from_chars(path.data() + p, path.data() + end, position);
    if (ec != std::errc() || ptr != path.data() + end || position < 1) {
      return std::nullopt;
    }
    step.position = position;
    p = end + 1;
  }
  return step;
}

}  // namespace

std::string NodePath(const pugi::xml_node& node) {
  return PathOf(node, true);
}

std::string ElementXPath(const pugi::xml_node& node) {
  return PathOf(node, false);
}

pugi::xml_node ResolvePath(const pugi::xml_document& doc, std::string_view path) {
  pugi::xml_node current = doc;
  size_t p = 0;
  while (p < path.size()) {
    if (path[p] != '/') {
      return {};
    }
    ++p;
    const std::optional<Step> step = ParseStep(path, p);
    if (!step) {
      return {};
    }
    int seen = 0;
    pugi::xml_node found;
    for (pugi::xml_node c = current.first_child(); c; c = c.next_sibling()) {
      if (Matches(c, *step) && (step->position == 0 || ++seen == step->position)) {
        found = c;
        break;
      }
    }
    if (!found) {
      return {};
    }
    current = found;
  }
  return current == doc ? pugi::xml_node() : current;
}

}  // namespace ha::cib
