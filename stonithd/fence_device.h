// Fence devices and fencing topology as Pacemaker's fencer reads them from the CIB: a device is a
// `primitive class="stonith"` with instance attributes (the agent's own parameters plus the
// pcmk_* ones that tell the fencer how to use it); the topology is `<fencing-topology>`'s
// `<fencing-level>` elements. Pure functions and values: nothing here runs an agent.
//
// Deviations from Pacemaker 2.1 (Debian 12), on purpose:
//  1. An unknown pcmk_host_check value is an error (InvalidArgument) instead of being treated as
//     "dynamic-list" silently.
//  2. Device targeting (host lists, host maps, list output) compares node names and ports
//     case-insensitively everywhere (Pacemaker mixes); topology targets match exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pugixml.hpp"
#include "stonithd/agent_type.h"  // IsValidAgentType

namespace ha::stonithd {

// How a device decides whether it can fence a node (pcmk_host_check).
enum class HostCheck {
  kStaticList,   // the node is in pcmk_host_list or a key of pcmk_host_map
  kDynamicList,  // the node (or its mapped port) is in the output of the agent's list action
  kStatus,       // the agent's status action for the node exits 0 (on) or 2 (off)
  kNone,         // the device can fence any node
};
std::string_view HostCheckName(HostCheck check);  // "static-list", "dynamic-list", ...
absl::StatusOr<HostCheck> ParseHostCheck(std::string_view text);

// What the agent's meta-data says it supports (fence_agent.h fills it in); `known` is false when
// the meta-data could not be read, and then every action is assumed supported, as Pacemaker does
// until it has the meta-data.
struct AgentCapabilities {
  bool known = false;
  bool supports_list = false;
  bool supports_status = false;
  bool supports_reboot = false;
  bool supports_on = false;
  bool automatic_unfencing = false;  // <action name="on" automatic="1"> (or required="1")
  bool has_plug_parameter = false;   // the agent takes the target as "plug" (newer agents)
  bool has_port_parameter = false;
};

// Pacemaker's target list syntax (pcmk_host_list, and a list action's output): lines, each with
// names separated by any mix of blanks, commas and semicolons; a line containing "invalid" or
// "variable" is skipped; the names "on" and "off" are skipped; a name is [A-Za-z0-9._-]+ and
// stops at the first other character. Duplicates are dropped (first kept).
std::vector<std::string> ParseTargetList(std::string_view spec);

// pcmk_host_map: "node1:port1;node2:port2". Mappings are separated by ';', blanks or tabs; a
// node and its port by ':' or '='; a backslash escapes the next character (and is dropped), so a
// port may contain ':' or ';'. `errors` lists the malformed mappings (Pacemaker logs and skips
// them).
struct HostMap {
  std::vector<std::pair<std::string, std::string>> entries;  // node -> port, in order
  std::vector<std::string> errors;
  // The port for `node` (case-insensitive), if mapped.
  std::optional<std::string> PortFor(std::string_view node) const;
};
HostMap ParseHostMap(std::string_view spec);

// A registered fence device. `params` holds every instance attribute (pcmk_* included); the
// fields below are what the fencer derived from them.
struct FenceDevice {
  std::string id;
  std::string agent;  // e.g. "fence_ipmilan"
  std::map<std::string, std::string> params;
  AgentCapabilities capabilities;

  std::vector<std::string> host_list;  // pcmk_host_list
  HostMap host_map;                    // pcmk_host_map
  HostCheck host_check = HostCheck::kDynamicList;
  // pcmk_host_argument: the parameter the target is passed as ("port", "plug"), or "none".
  std::string host_argument = "port";
  absl::Duration delay_base = absl::ZeroDuration();  // pcmk_delay_base (when not per node)
  std::vector<std::pair<std::string, absl::Duration>> delay_base_per_node;  // "n1:5s;n2:0"
  absl::Duration delay_max = absl::ZeroDuration();                          // pcmk_delay_max
  int priority = 0;  // the primitive's `priority` meta attribute: higher is tried first
  // The interval of the device's monitor (its `<op name="monitor">` in the CIB; 60 s by default,
  // as Pacemaker's fencer); zero: not monitored.
  absl::Duration monitor_interval = absl::Seconds(60);
  // `provides=unfencing` (meta attribute or parameter): unfencing ("on") runs through every such
  // device able to fence the target.
  bool provides_unfencing = false;
  std::vector<std::string> warnings;  // configuration Pacemaker accepts but warns about

  // The agent action that performs `action` (pcmk_<action>_action, else `action` itself).
  std::string AgentAction(std::string_view action) const;
  // pcmk_<action>_timeout, else `fallback` (the request's or the cluster's stonith-timeout).
  absl::Duration ActionTimeout(std::string_view action, absl::Duration fallback) const;
  // pcmk_<action>_retries: how many times the action may be tried in all (default 2).
  int ActionTries(std::string_view action) const;
  // pcmk_delay_base for `target` (the per-node form wins when it names the target).
  absl::Duration DelayBaseFor(std::string_view target) const;
  // The name the agent knows `target` by: its pcmk_host_map port, else the node name.
  std::string PortFor(std::string_view target) const;
  // Whether reboot is run as the agent's reboot (false: off then on). True when the meta-data
  // lists reboot, is unknown, or pcmk_reboot_action maps it to another action.
  bool RunsReboot() const;
};

// Builds a device from its id, agent and instance attributes: parses the pcmk_* parameters,
// applies Pacemaker's defaults (pcmk_host_check: static-list when pcmk_host_list or
// pcmk_host_map is given, else dynamic-list when the agent can list (or its meta-data is
// unknown), else status when it has a status action, else none; pcmk_host_argument: "plug" when
// the meta-data has a plug parameter, else "port") and maps a configured `action` parameter onto
// pcmk_off_action / pcmk_reboot_action as Pacemaker does. InvalidArgument for an empty id, an agent
// type IsValidAgentType refuses, a malformed duration, retry count or pcmk_host_check.
absl::StatusOr<FenceDevice> MakeFenceDevice(std::string id,
                                            std::string agent,
                                            std::map<std::string, std::string> params,
                                            AgentCapabilities capabilities = {});

// What a device's configuration alone says about fencing `target`.
enum class TargetCheck {
  kCapable,
  kNotCapable,
  kNeedsList,    // dynamic-list: ask the agent's list action, then use DeviceListsTarget
  kNeedsStatus,  // status: run the agent's status action for the target (0 or 2: capable)
};
TargetCheck CheckTarget(const FenceDevice& device, std::string_view target);
// dynamic-list: whether `listed` (ParseTargetList of the list output) names the target's port.
bool DeviceListsTarget(const FenceDevice& device,
                       std::string_view target,
                       const std::vector<std::string>& listed);

// Which nodes a fencing level applies to.
struct LevelTarget {
  enum Kind { kNode, kPattern, kAttribute };
  Kind kind = kNode;
  std::string node;       // kNode
  std::string pattern;    // kPattern: POSIX extended regular expression, searched in the name
  std::string attribute;  // kAttribute: the node attribute's name ...
  std::string value;      // ... and value
  bool operator==(const LevelTarget&) const = default;
};

struct FencingLevel {
  std::string id;
  LevelTarget target;
  int index = 1;  // 1-9; lower first
  std::vector<std::string> devices;
};

// Node attributes by node name (for target-attribute levels).
using NodeAttributes = std::map<std::string, std::map<std::string, std::string>>;

class FencingTopology {
 public:
  // InvalidArgument for an index outside 1-9, no devices, an empty target, a bad pattern, or a
  // second level with the same target and index.
  absl::Status Add(FencingLevel level);
  // Removes the level of this target and index; NotFound when there is none.
  absl::Status Remove(const LevelTarget& target, int index);

  // The levels for `node`, lowest index first, as Pacemaker picks them: the levels registered
  // for the node's name if any; else those of the first target (in registration order) whose
  // pattern matches the name or whose attribute the node has with that value. Empty: no
  // topology for this node (every capable device is tried instead).
  std::vector<const FencingLevel*> LevelsFor(std::string_view node,
                                             const NodeAttributes& attributes) const;
  const std::vector<FencingLevel>& levels() const { return levels_; }

 private:
  std::vector<FencingLevel> levels_;
};

// Cluster options the fencer uses (crm_config).
struct FencingOptions {
  bool enabled = true;                                   // stonith-enabled
  std::string action = "reboot";                         // stonith-action ("poweroff" means "off")
  absl::Duration timeout = absl::Seconds(60);            // stonith-timeout
  absl::Duration priority_delay = absl::ZeroDuration();  // priority-fencing-delay
};

// The fencer's whole configuration from a CIB document (its <cib> element or any ancestor).
// Devices that cannot be built and levels that cannot be added are skipped with a line in
// `warnings` (so that one bad device does not disable fencing with the others).
struct FencingConfig {
  std::vector<FenceDevice> devices;  // in document order
  FencingTopology topology;
  FencingOptions options;
  NodeAttributes node_attributes;  // from <nodes>: each node's instance attributes
  // From <nodes>: the cluster's nodes by name, and the name of each numeric node id (the id
  // membershipd gives a process group member).
  std::set<std::string> nodes;
  std::map<uint32_t, std::string> node_names;
  // From <status>: each node's total resource priority (NodePriorities).
  std::map<std::string, int> node_priorities;
  std::vector<std::string> warnings;
};

// `capabilities_of` gives the meta-data capabilities of an agent (null, or `known` false:
// unknown). InvalidArgument when `cib` holds no <cib> element.
using CapabilitiesLookup = std::function<AgentCapabilities(const std::string& agent)>;
absl::StatusOr<FencingConfig> ParseFencingConfig(const pugi::xml_node& cib,
                                                 const CapabilitiesLookup& capabilities_of = {});

// Each node's priority as Pacemaker's scheduler computes it for priority-fencing-delay: the sum
// of the `priority` meta attribute (the resource's own, else its group's / clone's, else
// rsc_defaults'; 0 when none) of every resource active on the node, a promoted instance counting
// its priority + 1 when that is not 0. Which resources are active on a node comes from the status
// section: the last operation (highest call-id) of each <lrm_resource> of the node's
// <node_state>. A resource is inactive after a successful stop or a monitor/probe that found it
// not running (7); promoted after a successful promote or a monitor returning 8; active
// otherwise (a failed start or stop leaves it possibly active, as Pacemaker assumes). Clone
// instances ("db:1") take the clone's primitive ("db"). Nodes without resources are absent.
std::map<std::string, int> NodePriorities(const pugi::xml_node& cib);

// The delay priority-fencing-delay gives to fencing `target` (Pacemaker's rule, from the
// scheduler's node_priority_fencing_delay): `delay` when the target is a cluster node (in
// `members`) that is not `online` (not in this partition), this partition holds no more than half
// of the members, the members' priorities are not all equal, and the target's priority is the
// highest; zero otherwise. So in a split, the side running the more important resources is shot
// last and survives. Missing priorities count 0.
absl::Duration PriorityFencingDelay(std::string_view target,
                                    const std::map<std::string, int>& node_priorities,
                                    const std::set<std::string>& members,
                                    const std::set<std::string>& online,
                                    absl::Duration delay);

}  // namespace ha::stonithd
