#include "tools/crm_node_util.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ha::crm_node {

std::string NodeName(const config::ClusterConfig& config, uint32_t id) {
  for (const config::NodeConfig& node : config.nodes) {
    if (node.nodeid == id)
      return node.name;
  }
  return "";
}

std::string FormatPartition(const config::ClusterConfig& config, std::vector<uint32_t> ring) {
  std::sort(ring.begin(), ring.end());
  ring.erase(std::unique(ring.begin(), ring.end()), ring.end());
  std::vector<std::string> names;
  for (uint32_t id : ring) {
    std::string name = NodeName(config, id);
    names.push_back(name.empty() ? absl::StrCat(id) : name);
  }
  return absl::StrCat(absl::StrJoin(names, " "), "\n");
}

std::string FormatList(const config::ClusterConfig& config, std::vector<uint32_t> ring) {
  std::map<uint32_t, std::string> nodes;  // by id: the name
  for (const config::NodeConfig& node : config.nodes)
    nodes[node.nodeid] = node.name;
  for (uint32_t id : ring)
    nodes.emplace(id, absl::StrCat(id));
  std::sort(ring.begin(), ring.end());
  std::string out;
  for (const auto& [id, name] : nodes) {
    const bool member = std::binary_search(ring.begin(), ring.end(), id);
    absl::StrAppend(&out, id, " ", name, " ", member ? "member" : "lost", "\n");
  }
  return out;
}

}  // namespace ha::crm_node
