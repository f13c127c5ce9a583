#include "stonithd/fence_device.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lrmd/agent_metadata.h"

namespace ha::stonithd {
namespace {

// absl::StrCat takes absl::string_view, which is not std::string_view on this Abseil.
absl::string_view Sv(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && Lower(a) == Lower(b);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsTargetChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

absl::StatusOr<absl::Duration> ParseDuration(std::string_view name, std::string_view value) {
  absl::StatusOr<absl::Duration> d =
      lrmd::ParseOcfDuration(absl::string_view(value.data(), value.size()));
  if (!d.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(name), ": ", d.status().message()));
  }
  return d;
}

const std::string* Find(const std::map<std::string, std::string>& params, const std::string& key) {
  auto it = params.find(key);
  return it == params.end() ? nullptr : &it->second;
}

// Parses pcmk_delay_base: one duration, or a per-node map ("n1:1s;n2:5").
absl::Status ParseDelayBase(std::string_view value, FenceDevice& device) {
  if (value.find(':') == std::string_view::npos) {
    absl::StatusOr<absl::Duration> d = ParseDuration("pcmk_delay_base", value);
    if (!d.ok()) {
      return d.status();
    }
    device.delay_base = *d;
    return absl::OkStatus();
  }
  HostMap map = ParseHostMap(value);
  for (const std::string& error : map.errors) {
    device.warnings.push_back(absl::StrCat("pcmk_delay_base: malformed mapping '", error, "'"));
  }
  for (const auto& [node, text] : map.entries) {
    absl::StatusOr<absl::Duration> d = ParseDuration("pcmk_delay_base", text);
    if (!d.ok()) {
      return d.status();
    }
    device.delay_base_per_node.emplace_back(node, *d);
  }
  return absl::OkStatus();
}

// Pacemaker's handling of an `action` parameter in a device's configuration.
void MapConfiguredAction(FenceDevice& device) {
  auto it = device.params.find("action");
  if (it == device.params.end()) {
    return;
  }
  std::string value = it->second;
  device.params.erase(it);
  device.warnings.push_back(absl::StrCat(
      "device has an 'action' parameter (", value, "), which should never be configured"));
  auto map = [&](const char* action) {
    std::string key = absl::StrCat("pcmk_", Sv(action), "_action");
    if (device.params.count(key) == 0) {
      device.params[key] = value;
      device.warnings.push_back(absl::StrCat("mapping action=", value, " to ", key));
    }
  };
  if (value.empty() || value == "reboot") {
    return;  // ignored (stonith-action says what a fencing does)
  }
  if (value == "off") {
    map("reboot");
    return;
  }
  map("off");
  map("reboot");
}

absl::Status ValidatePcmkNumbers(const FenceDevice& device) {
  for (const auto& [name, value] : device.params) {
    if (name.rfind("pcmk_", 0) != 0) {
      continue;
    }
    std::string_view n = name;
    if (n.size() > 8 && n.substr(n.size() - 8) == "_timeout") {
      absl::StatusOr<absl::Duration> d = ParseDuration(name, value);
      if (!d.ok()) {
        return d.status();
      }
    } else if (n.size() > 8 && n.substr(n.size() - 8) == "_retries") {
      int tries = 0;
      if (!absl::SimpleAtoi(value, &tries) || tries < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": '", value, "' is not a non-negative integer"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view HostCheckName(HostCheck check) {
  switch (check) {
    case HostCheck::kStaticList:
      return "static-list";
    case HostCheck::kDynamicList:
      return "dynamic-list";
    case HostCheck::kStatus:
      return "status";
    case HostCheck::kNone:
      return "none";
  }
  return "?";
}

absl::StatusOr<HostCheck> ParseHostCheck(std::string_view text) {
  std::string v = Lower(Trim(text));
  for (HostCheck c :
       {HostCheck::kStaticList, HostCheck::kDynamicList, HostCheck::kStatus, HostCheck::kNone}) {
    if (v == HostCheckName(c)) {
      return c;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "pcmk_host_check: '", Sv(text), "' is not static-list, dynamic-list, status or none"));
}

std::vector<std::string> ParseTargetList(std::string_view spec) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find('\n', start);
    if (end == std::string_view::npos) {
      end = spec.size();
    }
    std::string_view line = spec.substr(start, end - start);
    start = end + 1;
    std::string lower = Lower(line);
    if (lower.find("invalid") != std::string::npos || lower.find("variable") != std::string::npos) {
      continue;
    }
    size_t i = 0;
    while (i < line.size()) {
      char c = line[i];
      if (std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == ';') {
        ++i;
        continue;
      }
      size_t name_start = i;
      while (i < line.size() && IsTargetChar(line[i])) {
        ++i;
      }
      std::string name(line.substr(name_start, i - name_start));
      // The rest of an entry with a character that is not allowed is ignored.
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])) &&
             line[i] != ',' && line[i] != ';') {
        ++i;
      }
      if (name.empty() || IEquals(name, "on") || IEquals(name, "off")) {
        continue;
      }
      if (seen.insert(Lower(name)).second) {
        out.push_back(std::move(name));
      }
    }
  }
  return out;
}

std::optional<std::string> HostMap::PortFor(std::string_view node) const {
  for (const auto& [name, port] : entries) {
    if (IEquals(name, node)) {
      return port;
    }
  }
  return std::nullopt;
}

HostMap ParseHostMap(std::string_view spec) {
  HostMap map;
  std::string current;  // the text of the mapping being read, escapes resolved
  std::string raw;      // the same, as written (for error messages)
  std::optional<std::string> name;
  auto finish = [&] {
    if (name.has_value() && !name->empty() && !current.empty()) {
      map.entries.emplace_back(*name, current);
    } else if (!raw.empty()) {
      map.errors.push_back(raw);
    }
    current.clear();
    raw.clear();
    name.reset();
  };
  for (size_t i = 0; i < spec.size(); ++i) {
    char c = spec[i];
    if (c == '\\' && i + 1 < spec.size()) {
      current += spec[i + 1];
      raw += spec.substr(i, 2);
      ++i;
      continue;
    }
    if (c == ';' || c == ' ' || c == '\t' || c == '\n') {
      finish();
      continue;
    }
    raw += c;
    if ((c == ':' || c == '=') && !name.has_value()) {
      name = current;
      current.clear();
      continue;
    }
    current += c;
  }
  finish();
  return map;
}

std::string FenceDevice::AgentAction(std::string_view action) const {
  const std::string* mapped = Find(params, absl::StrCat("pcmk_", Sv(action), "_action"));
  if (mapped != nullptr && !Trim(*mapped).empty()) {
    return std::string(Trim(*mapped));
  }
  return std::string(action);
}

absl::Duration FenceDevice::ActionTimeout(std::string_view action, absl::Duration fallback) const {
  const std::string* value = Find(params, absl::StrCat("pcmk_", Sv(action), "_timeout"));
  if (value != nullptr) {
    absl::StatusOr<absl::Duration> d = ParseDuration("timeout", *value);
    if (d.ok() && *d > absl::ZeroDuration()) {
      return *d;
    }
  }
  return fallback;
}

int FenceDevice::ActionTries(std::string_view action) const {
  const std::string* value = Find(params, absl::StrCat("pcmk_", Sv(action), "_retries"));
  int tries = 2;
  if (value != nullptr && absl::SimpleAtoi(*value, &tries) && tries >= 1) {
    return tries;
  }
  return value == nullptr ? 2 : 1;
}

absl::Duration FenceDevice::DelayBaseFor(std::string_view target) const {
  for (const auto& [node, delay] : delay_base_per_node) {
    if (IEquals(node, target)) {
      return delay;
    }
  }
  return delay_base;
}

std::string FenceDevice::PortFor(std::string_view target) const {
  std::optional<std::string> port = host_map.PortFor(target);
  return port.has_value() ? *port : std::string(target);
}

bool FenceDevice::RunsReboot() const {
  return !capabilities.known || capabilities.supports_reboot ||
         params.count("pcmk_reboot_action") > 0;
}

absl::StatusOr<FenceDevice> MakeFenceDevice(std::string id,
                                            std::string agent,
                                            std::map<std::string, std::string> params,
                                            AgentCapabilities capabilities) {
  if (id.empty()) {
    return absl::InvalidArgumentError("a fence device needs an id");
  }
  if (!IsValidAgentType(agent)) {
    return absl::InvalidArgumentError(
        absl::StrCat("device ", id, ": '", agent, "' is not a fence agent name"));
  }
  FenceDevice device;
  device.id = std::move(id);
  if (auto provides = params.find("provides");
      provides != params.end() && provides->second == "unfencing") {
    device.provides_unfencing = true;
  }
  device.agent = std::move(agent);
  device.params = std::move(params);
  device.capabilities = capabilities;
  MapConfiguredAction(device);
  absl::Status status = ValidatePcmkNumbers(device);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("device ", device.id, ": ", status.message()));
  }

  const std::string* list = Find(device.params, "pcmk_host_list");
  const std::string* map = Find(device.params, "pcmk_host_map");
  if (list != nullptr) {
    device.host_list = ParseTargetList(*list);
  }
  if (map != nullptr) {
    device.host_map = ParseHostMap(*map);
    for (const std::string& error : device.host_map.errors) {
      device.warnings.push_back(absl::StrCat("pcmk_host_map: malformed mapping '", error, "'"));
    }
  }
  const std::string* check = Find(device.params, "pcmk_host_check");
  if (check != nullptr && !Trim(*check).empty()) {
    absl::StatusOr<HostCheck> parsed = ParseHostCheck(*check);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", device.id, ": ", parsed.status().message()));
    }
    device.host_check = *parsed;
  } else if (list != nullptr || map != nullptr) {
    device.host_check = HostCheck::kStaticList;
  } else if (!capabilities.known || capabilities.supports_list) {
    device.host_check = HostCheck::kDynamicList;
  } else if (capabilities.supports_status) {
    device.host_check = HostCheck::kStatus;
  } else {
    device.host_check = HostCheck::kNone;
  }

  const std::string* host_arg = Find(device.params, "pcmk_host_argument");
  if (host_arg != nullptr && !Trim(*host_arg).empty()) {
    device.host_argument = std::string(Trim(*host_arg));
  } else if (capabilities.has_plug_parameter) {
    device.host_argument = "plug";
  } else {
    device.host_argument = "port";
  }

  if (const std::string* base = Find(device.params, "pcmk_delay_base"); base != nullptr) {
    status = ParseDelayBase(*base, device);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("device ", device.id, ": ", status.message()));
    }
  }
  if (const std::string* max = Find(device.params, "pcmk_delay_max"); max != nullptr) {
    absl::StatusOr<absl::Duration> d = ParseDuration("pcmk_delay_max", *max);
    if (!d.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", device.id, ": ", d.status().message()));
    }
    device.delay_max = *d;
  }
  return device;
}

TargetCheck CheckTarget(const FenceDevice& device, std::string_view target) {
  switch (device.host_check) {
    case HostCheck::kNone:
      return TargetCheck::kCapable;
    case HostCheck::kStaticList:
      for (const std::string& node : device.host_list) {
        if (IEquals(node, target)) {
          return TargetCheck::kCapable;
        }
      }
      return device.host_map.PortFor(target).has_value() ? TargetCheck::kCapable
                                                         : TargetCheck::kNotCapable;
    case HostCheck::kDynamicList:
      return TargetCheck::kNeedsList;
    case HostCheck::kStatus:
      return TargetCheck::kNeedsStatus;
  }
  return TargetCheck::kNotCapable;
}

bool DeviceListsTarget(const FenceDevice& device,
                       std::string_view target,
                       const std::vector<std::string>& listed) {
  std::string port = device.PortFor(target);
  for (const std::string& name : listed) {
    if (IEquals(name, port)) {
      return true;
    }
  }
  return false;
}

absl::Duration PriorityFencingDelay(std::string_view target,
                                    const std::map<std::string, int>& node_priorities,
                                    const std::set<std::string>& members,
                                    const std::set<std::string>& online,
                                    absl::Duration delay) {
  const std::string name(target);
  if (delay <= absl::ZeroDuration() || members.count(name) == 0 || online.count(name) > 0) {
    return absl::ZeroDuration();
  }
  auto priority_of = [&](const std::string& node) {
    auto it = node_priorities.find(node);
    return it == node_priorities.end() ? 0 : it->second;
  };
  size_t online_members = 0;
  int top = priority_of(*members.begin());
  int lowest = top;
  for (const std::string& node : members) {
    online_members += online.count(node);
    top = std::max(top, priority_of(node));
    lowest = std::min(lowest, priority_of(node));
  }
  if (online_members > members.size() / 2 || lowest == top || priority_of(name) < top) {
    return absl::ZeroDuration();
  }
  return delay;
}

}  // namespace ha::stonithd
