// The totem protocol's options from the cluster configuration (corosync.conf's totem section,
// with the node count applied as corosync does).
#pragma once

#include "config/cluster_config.h"
#include "membershipd/totem_core.h"

namespace ha::membership {

TotemOptions TotemOptionsFromConfig(const config::ClusterConfig& config, uint32_t local_node_id);

}  // namespace ha::membership
