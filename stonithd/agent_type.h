// What runs a stonith-class type: a fence agent (fence-agents' fence_*), or a legacy
// cluster-glue STONITH plugin (`stonith -L`) run through our adapter
// agents/stonith/fence_legacy_glue. Shared by stonithd (which runs a device's actions) and lrmd
// (which runs a stonith resource's meta-data and validate-all), so both resolve a type alike.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ha::stonithd {

struct AgentDirs {
  std::string bin_dir = "/usr/sbin";  // where fence_* live (Pacemaker's PCMK__FENCE_BINDIR)
  // The adapter that runs legacy plugins, a fence agent in bin_dir.
  std::string legacy_adapter = "fence_legacy_glue";
  // cluster-glue's plugins: stonith2/NAME.so, and PREFIX/NAME for a family's members (external/).
  std::string legacy_plugin_dir = "/usr/lib/stonith/plugins";
};

// Whether `agent` can name a device's type: a fence agent ("fence_ipmilan"), a cluster-glue
// STONITH plugin of its own ("null", "meatware") or one of a plugin family ("external/ssh",
// "rhcs/NAME"): one name or PREFIX/NAME, no part empty or starting with '.' or '-'.
bool IsValidAgentType(std::string_view agent);

// How a type runs. The rule: a type with a '/' ("external/ssh", PREFIX/NAME) is a legacy plugin;
// a type without one is a fence agent when bin_dir holds an executable of that name (fence agents
// win, as in Pacemaker), else a legacy plugin when <legacy_plugin_dir>/stonith2/TYPE.so exists
// ("null", "meatware", "ssh"), else a fence agent (that is not installed).
enum class AgentKind { kFenceAgent, kLegacyPlugin };
AgentKind KindOfAgent(std::string_view agent, const AgentDirs& dirs);

// NotFound when what runs `agent` is missing: the fence agent; for a legacy plugin the adapter,
// the plugin's stonith2/*.so (PREFIX.so for PREFIX/NAME) and a family member's file
// (<legacy_plugin_dir>/PREFIX/NAME). InvalidArgument for a type IsValidAgentType refuses.
absl::Status CheckAgentInstalled(std::string_view agent, const AgentDirs& dirs);

// The program to run for `agent`, and what it is told on stdin right after `action=`: nothing
// for a fence agent; `plugin=TYPE` for a legacy plugin (the adapter's argument).
struct AgentExecutable {
  std::string path;
  std::string plugin;  // empty for a fence agent
};
// InvalidArgument for a type IsValidAgentType refuses (or a bad adapter name).
absl::StatusOr<AgentExecutable> ResolveAgent(std::string_view agent, const AgentDirs& dirs);

// The legacy plugin types installed, sorted, as `stonith -L` names them: NAME for each
// <legacy_plugin_dir>/stonith2/NAME.so, except the family loaders (external, rhcs), whose members
// are PREFIX/NAME for each executable in <legacy_plugin_dir>/PREFIX. Empty when the adapter is not
// in bin_dir (nothing could run them).
std::vector<std::string> ListLegacyPlugins(const AgentDirs& dirs);

}  // namespace ha::stonithd
