#include "cibd/cib_merge.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cibd/cib_xml.h"

namespace ha::cib {
namespace {

constexpr int64_t kInfinity = 1000000;  // Pacemaker's INFINITY score

std::optional<int64_t> ParseScore(std::string_view s) {
  const std::string lower = absl::AsciiStrToLower(Sv(s));
  if (lower == "infinity" || lower == "+infinity") {
    return kInfinity;
  }
  if (lower == "-infinity") {
    return -kInfinity;
  }
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
  }
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return std::clamp(v, -kInfinity, kInfinity);
}

std::string ScoreText(int64_t v) {
  if (v >= kInfinity) {
    return "INFINITY";
  }
  if (v <= -kInfinity) {
    return "-INFINITY";
  }
  return std::to_string(v);
}

pugi::xml_node FindChild(pugi::xml_node parent, const pugi::xml_node& like) {
  const pugi::xml_attribute id = like.attribute("id");
  for (pugi::xml_node c : parent.children(like.name())) {
    if (!id || std::strcmp(c.attribute("id").value(), id.value()) == 0) {
      if (!id || c.attribute("id")) {
        return c;
      }
    }
  }
  return {};
}

}  // namespace

std::string ExpandScoreUpdate(std::string_view name,
                              std::string_view value,
                              std::string_view current) {
  if (!absl::StartsWith(Sv(value), Sv(name))) {
    return std::string(value);
  }
  const std::string_view rest = value.substr(name.size());
  int64_t increment;
  if (rest == "++") {
    increment = 1;
  } else if (absl::StartsWith(Sv(rest), "+=")) {
    const std::optional<int64_t> n = ParseScore(rest.substr(2));
    if (!n) {
      return std::string(value);
    }
    increment = *n;
  } else {
    return std::string(value);
  }
  const int64_t base = ParseScore(current).value_or(0);
  // Infinities win: +INFINITY plus anything finite stays +INFINITY; both infinities: -INFINITY.
  if (base == -kInfinity || increment == -kInfinity) {
    return ScoreText(-kInfinity);
  }
  return ScoreText(std::clamp(base + increment, -kInfinity, kInfinity));
}

void MergeInto(pugi::xml_node target, const pugi::xml_node& update, bool score_update) {
  for (pugi::xml_attribute a : update.attributes()) {
    pugi::xml_attribute mine = target.attribute(a.name());
    std::string value = a.value();
    if (score_update) {
      value = ExpandScoreUpdate(a.name(), a.value(), mine ? mine.value() : "");
    }
    if (!mine) {
      mine = target.append_attribute(a.name());
    }
    mine.set_value(value.c_str());
  }
  bool has_text = false;
  for (pugi::xml_node c : update.children()) {
    has_text = has_text || c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata;
  }
  if (has_text) {
    for (pugi::xml_node c = target.first_child(); c;) {
      pugi::xml_node next = c.next_sibling();
      if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
        target.remove_child(c);
      }
      c = next;
    }
    target.prepend_child(pugi::node_pcdata).set_value(update.text().get());
  }
  for (pugi::xml_node c : update.children()) {
    if (c.type() != pugi::node_element) {
      continue;
    }
    pugi::xml_node mine = FindChild(target, c);
    if (mine) {
      MergeInto(mine, c, score_update);  // depth is bounded by the parse limits
    } else {
      target.append_copy(c);
    }
  }
}

}  // namespace ha::cib
