#include "tools/crm_node_util.h"

#include <catch2/catch.hpp>

namespace ha::crm_node {
namespace {

config::ClusterConfig ThreeNodes() {
  config::ClusterConfig config;
  for (uint32_t id : {3u, 1u, 2u}) {
    config::NodeConfig node;
    node.nodeid = id;
    node.name = "node" + std::to_string(id);
    config.nodes.push_back(node);
  }
  return config;
}

TEST_CASE("crm_node names the nodelist's nodes", "[crm_node]") {
  const config::ClusterConfig config = ThreeNodes();
  CHECK(NodeName(config, 2) == "node2");
  CHECK(NodeName(config, 9).empty());
}

TEST_CASE("crm_node -p lists the ring's members by name in id order", "[crm_node]") {
  const config::ClusterConfig config = ThreeNodes();
  CHECK(FormatPartition(config, {3, 1}) == "node1 node3\n");
  CHECK(FormatPartition(config, {2, 7, 2}) == "node2 7\n");
  CHECK(FormatPartition(config, {}) == "\n");
}

TEST_CASE("crm_node -l marks each node member or lost", "[crm_node]") {
  const config::ClusterConfig config = ThreeNodes();
  CHECK(FormatList(config, {1, 3}) == "1 node1 member\n2 node2 lost\n3 node3 member\n");
  CHECK(FormatList(config, {1, 2, 3, 5}) ==
        "1 node1 member\n2 node2 member\n3 node3 member\n5 5 member\n");
}

}  // namespace
}  // namespace ha::crm_node
