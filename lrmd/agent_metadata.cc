#include "lrmd/agent_metadata.h"

#include <pugixml.hpp>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace ha::lrmd {
namespace {

// All the character data under `node`, in document order (descriptions may mix text and CDATA).
std::string CollectText(const pugi::xml_node& node) {
  std::string text;
  for (pugi::xml_node child = node.first_child(); child; child = child.next_sibling()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
      text += child.value();
    } else if (child.type() == pugi::node_element) {
      text += CollectText(child);
    }
  }
  return text;
}

// The <name> child in English (lang="en..." or no lang), else the first one.
std::string Description(const pugi::xml_node& parent, const char* name) {
  pugi::xml_node chosen;
  for (pugi::xml_node desc : parent.children(name)) {
    if (!chosen) {
      chosen = desc;
    }
    std::string lang = desc.attribute("lang").value();
    if (lang.empty() || lang == "en" || lang.rfind("en_", 0) == 0 || lang.rfind("en-", 0) == 0) {
      chosen = desc;
      break;
    }
  }
  if (!chosen) {
    return "";
  }
  return std::string(absl::StripAsciiWhitespace(CollectText(chosen)));
}

bool IsTrue(const char* value) {
  std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  return v == "1" || v == "true" || v == "yes" || v == "on" || v == "y";
}

absl::StatusOr<absl::Duration> OptionalDuration(const pugi::xml_node& node,
                                                const char* attribute,
                                                const std::string& action) {
  pugi::xml_attribute attr = node.attribute(attribute);
  if (!attr || absl::StripAsciiWhitespace(attr.value()).empty()) {
    return absl::ZeroDuration();
  }
  absl::StatusOr<absl::Duration> d = ParseOcfDuration(attr.value());
  if (!d.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("action '", action, "': ", attribute, ": ", d.status().message()));
  }
  return d;
}

}  // namespace

const AgentMetadata::ActionInfo* AgentMetadata::FindAction(absl::string_view action_name) const {
  for (const ActionInfo& action : actions) {
    if (action.name == action_name) {
      return &action;
    }
  }
  return nullptr;
}

const AgentMetadata::Parameter* AgentMetadata::FindParameter(absl::string_view param_name) const {
  for (const Parameter& param : parameters) {
    if (param.name == param_name) {
      return &param;
    }
  }
  return nullptr;
}

absl::StatusOr<absl::Duration> ParseOcfDuration(absl::string_view text) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[digits]))) {
    ++digits;
  }
  int64_t value = 0;
  if (digits == 0 || !absl::SimpleAtoi(s.substr(0, digits), &value)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a duration"));
  }
  std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(s.substr(digits)));
  if (unit.empty() || unit == "s" || unit == "sec") {
    return absl::Seconds(value);
  }
  if (unit == "ms" || unit == "msec") {
    return absl::Milliseconds(value);
  }
  if (unit == "us" || unit == "usec") {
    return absl::Microseconds(value);
  }
  if (unit == "m" || unit == "min") {
    return absl::Minutes(value);
  }
  if (unit == "h" || unit == "hr") {
    return absl::Hours(value);
  }
  return absl::InvalidArgumentError(absl::StrCat("'", text, "' has an unknown unit"));
}

absl::StatusOr<AgentMetadata> ParseAgentMetadata(absl::string_view xml) {
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed meta-data: ", parsed.description(), " at offset ", parsed.offset));
  }
  pugi::xml_node root = doc.document_element();
  if (std::string(root.name()) != "resource-agent") {
    return absl::InvalidArgumentError(
        absl::StrCat("meta-data root is <", root.name(), ">, not <resource-agent>"));
  }
  AgentMetadata md;
  md.raw_xml = std::string(xml);
  md.name = root.attribute("name").value();
  md.version = root.attribute("version").value();
  md.ocf_version = std::string(absl::StripAsciiWhitespace(root.child("version").child_value()));
  md.shortdesc = Description(root, "shortdesc");
  md.longdesc = Description(root, "longdesc");

  for (pugi::xml_node node : root.child("parameters").children("parameter")) {
    AgentMetadata::Parameter param;
    param.name = node.attribute("name").value();
    if (param.name.empty()) {
      return absl::InvalidArgumentError("a <parameter> has no name");
    }
    param.required = IsTrue(node.attribute("required").value());
    param.unique = IsTrue(node.attribute("unique").value()) ||
                   !std::string(node.attribute("unique-group").value()).empty();
    param.shortdesc = Description(node, "shortdesc");
    pugi::xml_node content = node.child("content");
    param.type = content.attribute("type").value();
    param.default_value = content.attribute("default").value();
    md.parameters.push_back(std::move(param));
  }

  for (pugi::xml_node node : root.child("actions").children("action")) {
    AgentMetadata::ActionInfo action;
    action.name = node.attribute("name").value();
    if (action.name.empty()) {
      return absl::InvalidArgumentError("an <action> has no name");
    }
    HA_ASSIGN_OR_RETURN(action.timeout, OptionalDuration(node, "timeout", action.name));
    HA_ASSIGN_OR_RETURN(action.interval, OptionalDuration(node, "interval", action.name));
    std::string depth(absl::StripAsciiWhitespace(node.attribute("depth").value()));
    if (!depth.empty() && !absl::SimpleAtoi(depth, &action.depth)) {
      return absl::InvalidArgumentError(
          absl::StrCat("action '", action.name, "': depth '", depth, "' is not a number"));
    }
    action.role = node.attribute("role").value();
    md.actions.push_back(std::move(action));
  }
  return md;
}

std::vector<std::string> MissingRequiredParams(const AgentMetadata& metadata,
                                               const std::map<std::string, std::string>& params) {
  std::vector<std::string> missing;
  for (const AgentMetadata::Parameter& param : metadata.parameters) {
    if (!param.required) {
      continue;
    }
    auto it = params.find(param.name);
    if (it == params.end() || it->second.empty()) {
      missing.push_back(param.name);
    }
  }
  return missing;
}

LsbInitInfo ParseLsbInitInfo(absl::string_view script_text) {
  LsbInitInfo info;
  script_text = script_text.substr(0, kMaxInitScriptHeaderBytes);
  bool inside = false;
  std::string last_key;  // the keyword the previous line set, for Description's continuation
  for (absl::string_view line : absl::StrSplit(script_text, '\n')) {
    line = absl::StripTrailingAsciiWhitespace(line);
    if (!inside) {
      inside = line == "### BEGIN INIT INFO";
      continue;
    }
    if (line == "### END INIT INFO")
      break;
    if (!absl::ConsumePrefix(&line, "#"))
      break;  // not a comment: the block is malformed, keep what was read
    if (last_key == "Description" &&
        (absl::StartsWith(line, "\t") || absl::StartsWith(line, "  "))) {
      absl::string_view more = absl::StripAsciiWhitespace(line);
      if (!more.empty())
        absl::StrAppend(&info[last_key], info[last_key].empty() ? "" : " ", more);
      continue;
    }
    last_key.clear();
    line = absl::StripLeadingAsciiWhitespace(line);
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0)
      continue;
    absl::string_view key = line.substr(0, colon);
    if (absl::StrContains(key, ' ') || absl::StrContains(key, '\t'))
      continue;
    last_key = std::string(key);
    info[last_key] = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  if (!inside)
    info.clear();
  return info;
}

std::string SynthesizedMetadataXml(AgentClass agent_class,
                                   const std::string& type,
                                   const LsbInitInfo& init_info) {
  const bool systemd = agent_class == AgentClass::kSystemd;
  const char* timeout = systemd ? "100s" : "15s";
  const char* monitor_interval = systemd ? "60s" : "15s";
  auto lookup = [&init_info](const char* key) -> std::string {
    auto it = init_info.find(key);
    return it == init_info.end() ? std::string() : it->second;
  };

  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("resource-agent");
  root.append_attribute("name") = type.c_str();
  root.append_attribute("version") = "1.0";
  root.append_child("version").text() = "1.1";
  std::string what = systemd ? absl::StrCat("systemd unit file for ", type)
                             : absl::StrCat("LSB init script for ", type);
  std::string short_what = systemd ? "" : lookup("Short-Description");
  std::string long_what = systemd ? "" : lookup("Description");
  if (short_what.empty())
    short_what = what;
  if (long_what.empty())
    long_what = short_what;
  pugi::xml_node longdesc = root.append_child("longdesc");
  longdesc.append_attribute("lang") = "en";
  longdesc.text() = long_what.c_str();
  pugi::xml_node shortdesc = root.append_child("shortdesc");
  shortdesc.append_attribute("lang") = "en";
  shortdesc.text() = short_what.c_str();
  root.append_child("parameters");
  pugi::xml_node actions = root.append_child("actions");
  auto add = [&](const char* name, const char* action_timeout, const char* interval) {
    pugi::xml_node action = actions.append_child("action");
    action.append_attribute("name") = name;
    action.append_attribute("timeout") = action_timeout;
    if (interval != nullptr) {
      action.append_attribute("interval") = interval;
    }
  };
  add("start", timeout, nullptr);
  add("stop", timeout, nullptr);
  add("status", timeout, nullptr);
  add("monitor", timeout, monitor_interval);
  add("meta-data", "5s", nullptr);
  if (!systemd && !init_info.empty()) {
    // The script's other keywords, under their own names where they are valid element names.
    pugi::xml_node special = root.append_child("special");
    special.append_attribute("tag") = "LSB";
    for (const auto& [key, value] : init_info) {
      if (key == "Short-Description" || key == "Description")
        continue;
      bool name_ok = absl::ascii_isalpha(static_cast<unsigned char>(key[0]));
      for (char c : key)
        name_ok &= absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      if (name_ok)
        special.append_child(key.c_str()).text() = value.c_str();
    }
  }
  std::ostringstream out;
  doc.save(out, "  ");
  return out.str();
}

}  // namespace ha::lrmd
