// crm_node's wording (tools/crm_node.cc): the cluster's nodes as Pacemaker's crm_node prints them,
// from the configuration's nodelist and the ring the membership layer reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/cluster_config.h"

namespace ha::crm_node {

// The nodelist's name of `id` (its `name`, else ring0_addr); empty when it is not listed.
std::string NodeName(const config::ClusterConfig& config, uint32_t id);

// -p: the names of the ring's members in node id order, separated by spaces (a member missing
// from the nodelist by its id), and a newline.
std::string FormatPartition(const config::ClusterConfig& config, std::vector<uint32_t> ring);

// -l: one line "<id> <name> member|lost" per node of the nodelist and per ring member missing
// from it, in node id order.
std::string FormatList(const config::ClusterConfig& config, std::vector<uint32_t> ring);

}  // namespace ha::crm_node
