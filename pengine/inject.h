// crm_simulate's injections: changes to a CIB's status made before scheduling, so that an
// operator can ask "what if this node failed / this monitor failed / quorum were lost?".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "pugixml.hpp"

namespace ha::pengine {

struct Injections {
  std::vector<std::string> node_up;    // -u: the node joins cleanly
  std::vector<std::string> node_down;  // -d: the node left cleanly
  std::vector<std::string> node_fail;  // -f: the node was lost (needs fencing)
  // -i: "RSC_TASK_INTERVALMS@NODE=RC", a result recorded in the node's history.
  std::vector<std::string> op_inject;
  std::optional<bool> quorum;  // -q
  std::vector<std::string> ticket_grant, ticket_revoke, ticket_standby, ticket_activate;
};

// Applies them in Pacemaker's order (quorum, nodes, tickets, operations). Errors name the
// injection that cannot be applied (unknown node or resource, malformed spec).
absl::Status ApplyInjections(pugi::xml_document& doc, const Injections& injections, int64_t now);

}  // namespace ha::pengine
