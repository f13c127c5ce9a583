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
  for (const auto& node : nodes)
    if (node->uname == uname)
      return node.get();
  return nullptr;
}

Node* WorkingSet::FindNodeById(std::string_view id) const {
  for (const auto& node : nodes)
    if (node->id == id)
      return node.get();
  return nullptr;
}

Resource* WorkingSet::FindResource(std::string_view id) const {
  for (const auto& rsc : resources)
    if (rsc->id == id)
      return rsc.get();
  return nullptr;
}

}  // namespace ha::pengine
