// Conversions between lrmd's vocabulary (action.h, agent_metadata.h) and proto/lrmd.proto, with the
// request checks the API promises (INVALID_ARGUMENT for a request that cannot be accepted).
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "lrmd/action.h"
#include "lrmd/agent_metadata.h"
#include "proto/lrmd.pb.h"

namespace ha::lrmd {

// "ocf", "lsb", "systemd", "service"; nullopt for anything else (including "stonith").
std::optional<AgentClass> AgentClassFromName(const std::string& name);
std::string AgentClassToName(AgentClass agent_class);

// Checks and converts an ExecRequest: a resource id, a known class (and an OCF provider), an
// action from the API's list, an interval only on a monitor, a timeout > 0.
absl::StatusOr<ActionRequest> FromProto(const v1::ExecRequest& request);

v1::AgentId AgentIdOf(const ResourceSpec& resource);

// `agent` and `user_data` are what the request named; the tails are cut to their last 4 KiB.
v1::ActionResult ToProto(const ActionResult& result,
                         const v1::AgentId& agent,
                         const std::string& user_data);

v1::AgentMetadata ToProto(const AgentMetadata& metadata, const v1::AgentId& agent);

}  // namespace ha::lrmd
