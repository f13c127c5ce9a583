// The topology and the CIB reading of fence_device.h.
#include <algorithm>
#include <optional>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lrmd/agent_metadata.h"
#include "pengine/rules.h"
#include "pengine/score.h"
#include "stonithd/fence_device.h"

namespace ha::stonithd {
namespace {

bool SameTarget(const LevelTarget& a, const LevelTarget& b) {
  return a == b;
}

bool PatternMatches(const std::string& pattern, std::string_view node) {
  try {
    std::regex re(pattern, std::regex::extended);
    return std::regex_search(node.begin(), node.end(), re);
  } catch (const std::regex_error&) {
    return false;  // Add() refused it; cannot happen
  }
}

bool TargetMatches(const LevelTarget& target,
                   std::string_view node,
                   const NodeAttributes& attributes) {
  switch (target.kind) {
    case LevelTarget::kNode:
      return target.node == node;
    case LevelTarget::kPattern:
      return PatternMatches(target.pattern, node);
    case LevelTarget::kAttribute: {
      auto it = attributes.find(std::string(node));
      if (it == attributes.end()) {
        return false;
      }
      auto value = it->second.find(target.attribute);
      return value != it->second.end() && value->second == target.value;
    }
  }
  return false;
}

std::vector<std::string> SplitDevices(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!current.empty()) {
        out.push_back(current);
      }
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) {
    out.push_back(current);
  }
  return out;
}

absl::StatusOr<FencingLevel> LevelFromXml(const pugi::xml_node& xml) {
  FencingLevel level;
  level.id = xml.attribute("id").value();
  std::string target = xml.attribute("target").value();
  std::string pattern = xml.attribute("target-pattern").value();
  std::string attribute = xml.attribute("target-attribute").value();
  if (!target.empty()) {
    level.target.kind = LevelTarget::kNode;
    level.target.node = target;
  } else if (!pattern.empty()) {
    level.target.kind = LevelTarget::kPattern;
    level.target.pattern = pattern;
  } else if (!attribute.empty()) {
    level.target.kind = LevelTarget::kAttribute;
    level.target.attribute = attribute;
    level.target.value = xml.attribute("target-value").value();
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "fencing-level ", level.id, ": no target, target-pattern or target-attribute"));
  }
  if (!absl::SimpleAtoi(xml.attribute("index").value(), &level.index)) {
    return absl::InvalidArgumentError(absl::StrCat("fencing-level ",
                                                   level.id,
                                                   ": index '",
                                                   xml.attribute("index").value(),
                                                   "' is not a number"));
  }
  level.devices = SplitDevices(xml.attribute("devices").value());
  return level;
}

std::string ElementName(const pugi::xml_node& node) {
  std::string id = node.attribute("id").value();
  return id.empty() ? std::string(node.name()) : id;
}

FencingOptions ParseOptions(const std::map<std::string, std::string>& props,
                            std::vector<std::string>& warnings) {
  FencingOptions options;
  auto get = [&](const char* name) -> const std::string* {
    auto it = props.find(name);
    return it == props.end() ? nullptr : &it->second;
  };
  auto duration = [&](const char* name, absl::Duration& out) {
    if (const std::string* v = get(name)) {
      absl::StatusOr<absl::Duration> d = lrmd::ParseOcfDuration(*v);
      if (d.ok()) {
        out = *d;
      } else {
        warnings.push_back(absl::StrCat(name, ": '", *v, "' is not a duration; default kept"));
      }
    }
  };
  if (const std::string* v = get("stonith-enabled")) {
    std::string l = *v;
    std::transform(l.begin(), l.end(), l.begin(), ::tolower);
    options.enabled = !(l == "false" || l == "no" || l == "0" || l == "off" || l == "n");
  }
  if (const std::string* v = get("stonith-action")) {
    options.action = *v == "poweroff" ? "off" : *v;
    if (options.action != "reboot" && options.action != "off") {
      warnings.push_back(absl::StrCat("stonith-action: '", *v, "' is not reboot or off"));
      options.action = "reboot";
    }
  }
  duration("stonith-timeout", options.timeout);
  duration("priority-fencing-delay", options.priority_delay);
  return options;
}

// A resource's `priority` meta attribute: its own, else its ancestors' (group, clone, bundle),
// else rsc_defaults'; nullopt when none sets it.
std::optional<int> ResourcePriority(const pugi::xml_node& resource,
                                    const pugi::xml_node& rsc_defaults,
                                    const pengine::RuleContext& context,
                                    const pengine::IdIndex& ids) {
  for (pugi::xml_node node = resource; node && std::string_view(node.name()) != "resources";
       node = node.parent()) {
    std::map<std::string, std::string> meta;
    pengine::UnpackAttributeSets(node, "meta_attributes", context, ids, meta);
    if (auto it = meta.find("priority"); it != meta.end()) {
      return pengine::ParseScore(it->second);
    }
  }
  std::map<std::string, std::string> defaults;
  pengine::UnpackAttributeSets(rsc_defaults, "meta_attributes", context, ids, defaults);
  if (auto it = defaults.find("priority"); it != defaults.end()) {
    return pengine::ParseScore(it->second);
  }
  return std::nullopt;
}

enum class RscRole { kStopped, kStarted, kPromoted };

// The role the last operation of an <lrm_resource> leaves it in (see NodePriorities).
RscRole RoleFromOps(const pugi::xml_node& lrm_resource) {
  pugi::xml_node last;
  long long last_call = 0;
  for (pugi::xml_node op : lrm_resource.children("lrm_rsc_op")) {
    long long call = op.attribute("call-id").as_llong(-1);
    if (!last || call > last_call) {
      last = op;
      last_call = call;
    }
  }
  if (!last) {
    return RscRole::kStopped;
  }
  const std::string operation = last.attribute("operation").value();
  const int rc = last.attribute("rc-code").as_int(0);
  const int status = last.attribute("op-status").as_int(0);
  const bool done = status == 0;
  if (operation == "stop") {
    return done && rc == 0 ? RscRole::kStopped : RscRole::kStarted;
  }
  if (operation == "monitor") {
    if (done && rc == 7) {
      return RscRole::kStopped;
    }
    return done && rc == 8 ? RscRole::kPromoted : RscRole::kStarted;
  }
  if (operation == "promote" && done && rc == 0) {
    return RscRole::kPromoted;
  }
  if (operation == "migrate_to" && done && rc == 0) {
    return RscRole::kStopped;
  }
  return RscRole::kStarted;  // start, demote, notify, migrate_from, failures: possibly active
}

}  // namespace

std::map<std::string, int> NodePriorities(const pugi::xml_node& root) {
  pugi::xml_node cib = std::string_view(root.name()) == "cib" ? root : root.child("cib");
  std::map<std::string, int> out;
  if (!cib) {
    return out;
  }
  pengine::IdIndex ids(cib);
  pengine::RuleContext context;
  pugi::xml_node configuration = cib.child("configuration");
  pugi::xml_node resources = configuration.child("resources");
  pugi::xml_node rsc_defaults = configuration.child("rsc_defaults");
  std::map<std::string, std::string> names;  // node id -> uname
  for (pugi::xml_node node : configuration.child("nodes").children("node")) {
    names[node.attribute("id").value()] = node.attribute("uname").value();
  }
  std::map<std::string, std::optional<int>> priorities;  // by primitive id, cached
  for (pugi::xml_node state : cib.child("status").children("node_state")) {
    std::string name = state.attribute("uname").value();
    if (name.empty()) {
      name = names[state.attribute("id").value()];
    }
    if (name.empty()) {
      continue;
    }
    for (pugi::xml_node rsc : state.child("lrm").child("lrm_resources").children("lrm_resource")) {
      std::string id = rsc.attribute("id").value();
      if (size_t colon = id.rfind(':'); colon != std::string::npos) {
        id.resize(colon);
      }
      auto cached = priorities.find(id);
      if (cached == priorities.end()) {
        pugi::xml_node primitive = resources.find_node([&id](const pugi::xml_node& n) {
          return std::string_view(n.name()) == "primitive" && id == n.attribute("id").value();
        });
        cached = priorities
                     .emplace(id,
                              primitive ? ResourcePriority(primitive, rsc_defaults, context, ids)
                                        : std::nullopt)
                     .first;
      }
      const int priority = cached->second.value_or(0);
      if (priority == 0) {
        continue;
      }
      switch (RoleFromOps(rsc)) {
        case RscRole::kStopped:
          break;
        case RscRole::kStarted:
          out[name] += priority;
          break;
        case RscRole::kPromoted:
          out[name] += priority + 1;
          break;
      }
    }
  }
  return out;
}

absl::Status FencingTopology::Add(FencingLevel level) {
  std::string name = level.id.empty() ? "fencing level" : absl::StrCat("fencing-level ", level.id);
  if (level.index < 1 || level.index > 9) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": index ", level.index, " is not between 1 and 9"));
  }
  if (level.devices.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": no devices"));
  }
  switch (level.target.kind) {
    case LevelTarget::kNode:
      if (level.target.node.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": empty target"));
      }
      break;
    case LevelTarget::kPattern:
      try {
        std::regex re(level.target.pattern, std::regex::extended);
      } catch (const std::regex_error& e) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": bad target-pattern '", level.target.pattern, "': ", e.what()));
      }
      break;
    case LevelTarget::kAttribute:
      if (level.target.attribute.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": empty target-attribute"));
      }
      break;
  }
  for (const FencingLevel& existing : levels_) {
    if (SameTarget(existing.target, level.target) && existing.index == level.index) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": a level with index ", level.index, " exists for this target"));
    }
  }
  levels_.push_back(std::move(level));
  return absl::OkStatus();
}

absl::Status FencingTopology::Remove(const LevelTarget& target, int index) {
  for (auto it = levels_.begin(); it != levels_.end(); ++it) {
    if (SameTarget(it->target, target) && it->index == index) {
      levels_.erase(it);
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat("no fencing level ", index, " for this target"));
}

std::vector<const FencingLevel*> FencingTopology::LevelsFor(
    std::string_view node, const NodeAttributes& attributes) const {
  const LevelTarget* chosen = nullptr;
  for (const FencingLevel& level : levels_) {
    if (level.target.kind == LevelTarget::kNode && level.target.node == node) {
      chosen = &level.target;
      break;
    }
  }
  if (chosen == nullptr) {
    for (const FencingLevel& level : levels_) {
      if (level.target.kind != LevelTarget::kNode &&
          TargetMatches(level.target, node, attributes)) {
        chosen = &level.target;
        break;
      }
    }
  }
  std::vector<const FencingLevel*> out;
  if (chosen == nullptr) {
    return out;
  }
  for (const FencingLevel& level : levels_) {
    if (SameTarget(level.target, *chosen)) {
      out.push_back(&level);
    }
  }
  std::sort(out.begin(), out.end(), [](const FencingLevel* a, const FencingLevel* b) {
    return a->index < b->index;
  });
  return out;
}

absl::StatusOr<FencingConfig> ParseFencingConfig(const pugi::xml_node& root,
                                                 const CapabilitiesLookup& capabilities_of) {
  pugi::xml_node cib = std::string_view(root.name()) == "cib" ? root : root.child("cib");
  if (!cib && root.type() == pugi::node_document) {
    cib = root.find_child([](const pugi::xml_node& n) { return n.type() == pugi::node_element; });
  }
  if (!cib || std::string_view(cib.name()) != "cib") {
    return absl::InvalidArgumentError("no <cib> element");
  }
  FencingConfig config;
  pengine::IdIndex ids(cib);
  pengine::RuleContext context;
  pugi::xml_node configuration = cib.child("configuration");

  std::map<std::string, std::string> props;
  pengine::UnpackAttributeSets(
      configuration.child("crm_config"), "cluster_property_set", context, ids, props);
  config.options = ParseOptions(props, config.warnings);

  for (pugi::xml_node node : configuration.child("nodes").children("node")) {
    std::string name = node.attribute("uname").value();
    if (name.empty()) {
      name = node.attribute("id").value();
    }
    pengine::UnpackAttributeSets(
        node, "instance_attributes", context, ids, config.node_attributes[name]);
    config.nodes.insert(name);
    uint32_t node_id = 0;
    if (absl::SimpleAtoi(node.attribute("id").value(), &node_id)) {
      config.node_names[node_id] = name;
    }
  }
  config.node_priorities = NodePriorities(cib);

  for (pugi::xpath_node found :
       configuration.child("resources").select_nodes(".//primitive[@class='stonith']")) {
    pugi::xml_node primitive = found.node();
    std::map<std::string, std::string> params;
    std::map<std::string, std::string> meta;
    pengine::UnpackAttributeSets(primitive, "instance_attributes", context, ids, params);
    pengine::UnpackAttributeSets(primitive, "meta_attributes", context, ids, meta);
    std::string id = primitive.attribute("id").value();
    if (auto role = meta.find("target-role");
        role != meta.end() && (role->second == "Stopped" || role->second == "stopped")) {
      config.warnings.push_back(absl::StrCat("device ", id, " is disabled (target-role=Stopped)"));
      continue;
    }
    std::string agent = primitive.attribute("type").value();
    AgentCapabilities caps = capabilities_of ? capabilities_of(agent) : AgentCapabilities{};
    absl::StatusOr<FenceDevice> device =
        MakeFenceDevice(id, std::move(agent), std::move(params), caps);
    if (!device.ok()) {
      config.warnings.push_back(std::string(device.status().message()));
      continue;
    }
    if (auto priority = meta.find("priority"); priority != meta.end()) {
      device->priority = pengine::ParseScore(priority->second);
    }
    if (auto provides = meta.find("provides");
        provides != meta.end() && provides->second == "unfencing") {
      device->provides_unfencing = true;
    }
    for (pugi::xml_node op : primitive.child("operations").children("op")) {
      if (std::string_view(op.attribute("name").value()) != "monitor") {
        continue;
      }
      absl::StatusOr<absl::Duration> interval =
          lrmd::ParseOcfDuration(op.attribute("interval").value());
      if (interval.ok()) {
        device->monitor_interval = *interval;
      } else {
        config.warnings.push_back(absl::StrCat("device ",
                                               device->id,
                                               ": monitor interval '",
                                               op.attribute("interval").value(),
                                               "' is not a duration; 60s kept"));
      }
      if (std::string_view(op.attribute("enabled").value()) == "false") {
        device->monitor_interval = absl::ZeroDuration();
      }
      break;
    }
    for (const std::string& warning : device->warnings) {
      config.warnings.push_back(absl::StrCat("device ", device->id, ": ", warning));
    }
    config.devices.push_back(std::move(*device));
  }

  for (pugi::xml_node xml : configuration.child("fencing-topology").children("fencing-level")) {
    absl::StatusOr<FencingLevel> level = LevelFromXml(xml);
    absl::Status added = level.ok() ? config.topology.Add(std::move(*level)) : level.status();
    if (!added.ok()) {
      config.warnings.push_back(
          absl::StrCat("fencing-level ", ElementName(xml), " skipped: ", added.message()));
    }
  }
  return config;
}

}  // namespace ha::stonithd
