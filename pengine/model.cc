#include "pengine/model.h"

namespace ha::pengine {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kUnknown:
      return "Unknown";
    case Role::kStopped:
      return "Stopped";
    case Role::kStarted:
      return "Started";
    case Role::kUnpromoted:
      return "Unpromoted";
    case Role::kPromoted:
      return "Promoted";
  }
  return "Unknown";
}

Role ParseRole(std::string_view text) {
  if (text == "Stopped")
    return Role::kStopped;
  if (text == "Started")
    return Role::kStarted;
  if (text == "Slave" || text == "Unpromoted")
    return Role::kUnpromoted;
  if (text == "Master" || text == "Promoted")
    return Role::kPromoted;
  return Role::kUnknown;
}

std::string Action::Key() const {
  std::string key = rsc ? rsc->id : std::string("node");
  return key + "_" + task + "_" + std::to_string(interval_ms);
}

Node* WorkingSet::FindNode(std::string_view uname) const {
  // `nodes` only grows: index what was added since the last lookup.
  for (size_t i = nodes_indexed_; i < nodes.size(); ++i)
    node_index_.emplace(nodes[i]->uname, nodes[i].get());
  nodes_indexed_ = nodes.size();
  auto it = node_index_.find(std::string(uname));
  return it == node_index_.end() ? nullptr : it->second;
}

Node* WorkingSet::FindNodeById(std::string_view id) const {
  for (const auto& node : nodes)
    if (node->id == id)
      return node.get();
  return nullptr;
}

Resource* WorkingSet::FindResource(std::string_view id) const {
  for (size_t i = resources_indexed_; i < resources.size(); ++i)
    resource_index_.emplace(resources[i]->id, resources[i].get());
  resources_indexed_ = resources.size();
  auto it = resource_index_.find(std::string(id));
  return it == resource_index_.end() ? nullptr : it->second;
}

}  // namespace ha::pengine
