// libFuzzer entry: any byte string must give a configuration or an error, never a crash, and a
// configuration must be internally consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/cluster_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ha::config::LoadedConfig> loaded =
      ha::config::ParseClusterConfig(text, "fuzz.conf");
  if (loaded.ok()) {
    const ha::config::ClusterConfig& c = loaded->config;
    // What BuildClusterConfig promises: at least one node, each with a nonzero id it can be
    // found by, and a ring0 address.
    if (c.nodes.empty())
      std::abort();
    for (const ha::config::NodeConfig& node : c.nodes) {
      if (node.nodeid == 0 || node.ring_addrs.empty() || c.FindNode(node.nodeid) != &node) {
        std::abort();
      }
    }
    for (const ha::config::ConfigWarning& w : loaded->warnings) {
      if (w.ToString().empty())
        std::abort();
    }
    (void)c.totem.EffectiveHold(c.nodes.size());
    (void)c.totem.EffectiveConsensus(c.nodes.size());
  } else if (loaded.status().message().empty()) {
    std::abort();
  }
  return 0;
}
