#include "tools/membership_tool_util.h"

#include <catch2/catch.hpp>

namespace mt = ha::membership_tool;
namespace mpb = ha::membership::v1;

namespace {

mpb::GetRingsResponse OneRing(mpb::RingState state, const std::string& detail) {
  mpb::GetRingsResponse rings;
  rings.set_local_node_id(1);
  rings.set_transport("udpu");
  rings.set_rrp_mode("none");
  mpb::Ring* ring = rings.add_rings();
  ring->set_ring_number(0);
  ring->set_local_address("127.0.0.1");
  ring->set_state(state);
  ring->set_problem_threshold(10);
  ring->set_detail(detail);
  return rings;
}

// Nodes 1-3 of a nodelist; `members` are in the ring, the others left (or never seen: 0 joins).
mpb::GetMembershipResponse ThreeNodes(std::vector<uint32_t> members, uint32_t local = 1) {
  mpb::GetMembershipResponse m;
  m.set_local_node_id(local);
  m.set_cluster_name("localcluster");
  m.mutable_ring_id()->set_rep_node_id(1);
  m.mutable_ring_id()->set_seq(26);
  for (uint32_t id = 1; id <= 3; ++id) {
    mpb::Node* n = m.add_nodes();
    n->set_node_id(id);
    n->set_name("node" + std::to_string(id));
    n->add_addresses("127.0.0." + std::to_string(id));
    const bool member = std::find(members.begin(), members.end(), id) != members.end();
    n->set_state(member ? mpb::NODE_MEMBER : id == 3 ? mpb::NODE_LEFT : mpb::NODE_NEVER_SEEN);
    n->set_join_count(member || id == 3 ? 1 : 0);
  }
  return m;
}

mpb::QuorumState ThreeVotes(bool quorate, uint32_t total) {
  mpb::QuorumState q;
  q.set_provider("corosync_votequorum");
  q.set_quorate(quorate);
  q.mutable_ring_id()->set_rep_node_id(1);
  q.mutable_ring_id()->set_seq(26);
  q.set_expected_votes(3);
  q.set_highest_expected(3);
  q.set_total_votes(total);
  q.set_quorum(2);
  q.set_local_node_id(1);
  for (uint32_t id = 1; id <= 3; ++id) {
    mpb::NodeVotes* n = q.add_nodes();
    n->set_node_id(id);
    n->set_name("node" + std::to_string(id));
    n->set_votes(1);
    n->set_expected_votes(3);
    n->set_state(id <= total ? mpb::VOTE_MEMBER : mpb::VOTE_DEAD);
  }
  return q;
}

const absl::Time kNow = absl::FromUnixSeconds(1709632805);  // Tue Mar  5 10:00:05 2024 UTC

}  // namespace

TEST_CASE("cfgtool -s words the rings as corosync 2's corosync-cfgtool -s", "[cfgtool]") {
  const mpb::GetRingsResponse active = OneRing(mpb::RING_ACTIVE, "ring 0 active with no faults");
  CHECK(mt::FormatRingStatus(active) ==
        "Printing ring status.\n"
        "Local node ID 1\n"
        "RING ID 0\n"
        "\tid\t= 127.0.0.1\n"
        "\tstatus\t= ring 0 active with no faults\n");
  CHECK_FALSE(mt::AnyRingFaulty(active));

  // No detail: the words are made up from the state.
  const mpb::GetRingsResponse faulty = OneRing(mpb::RING_FAULTY, "");
  CHECK(mt::FormatRingStatus(faulty) ==
        "Printing ring status.\n"
        "Local node ID 1\n"
        "RING ID 0\n"
        "\tid\t= 127.0.0.1\n"
        "\tstatus\t= Marking ringid 0 interface 127.0.0.1 FAULTY\n");
  CHECK(mt::AnyRingFaulty(faulty));
  // A faulty ring's detail is kept when it says FAULTY.
  CHECK(mt::FormatRingStatus(OneRing(mpb::RING_FAULTY, "ring 0 FAULTY: token lost"))
            .ends_with("\tstatus\t= ring 0 FAULTY: token lost\n"));

  const nlohmann::json j = mt::RingStatusJson(faulty);
  CHECK(j["local_node_id"] == 1);
  CHECK(j["transport"] == "udpu");
  CHECK(j["rings"][0]["state"] == "faulty");
  CHECK(j["rings"][0]["faulty"] == true);
  CHECK(j["rings"][0]["problem_threshold"] == 10);
}

TEST_CASE("cfgtool -n lists every node with its state and links", "[cfgtool]") {
  const auto membership = ThreeNodes({1, 2});
  const auto rings = OneRing(mpb::RING_ACTIVE, "");
  CHECK(mt::FormatNodes(membership, rings) ==
        "Local node ID 1, transport udpu\n"
        "Cluster localcluster, ring 1.1a, members: 1 2\n"
        "nodeid: 1 name: node1 state: member (local) joins: 1\n"
        "   LINK: 0 (127.0.0.1)\n"
        "nodeid: 2 name: node2 state: member joins: 1\n"
        "   LINK: 0 (127.0.0.2)\n"
        "nodeid: 3 name: node3 state: left joins: 1\n"
        "   LINK: 0 (127.0.0.3)\n");
  const nlohmann::json j = mt::NodesJson(membership, rings);
  CHECK(j["members"] == nlohmann::json({1, 2}));
  CHECK(j["ring_id"] == "1.1a");
  CHECK(j["ring_seq"] == 26);
  CHECK(j["nodes"][2]["state"] == "left");
  CHECK(j["nodes"][0]["local"] == true);
  CHECK(j["nodes"][1]["addresses"] == nlohmann::json({"127.0.0.2"}));
  CHECK(mt::NodeStateText(mpb::NODE_NEVER_SEEN) == "never-seen");
}

TEST_CASE("cfgtool -C prints counters as corosync-cmapctl does, by name", "[cfgtool]") {
  mpb::GetCountersResponse c;
  (*c.mutable_counters())["totem.orf_token_rx"] = 12;
  (*c.mutable_counters())["faults.duplicated"] = 3;
  (*c.mutable_counters())["totem.mcast_tx"] = 0;
  CHECK(mt::FormatCounters(c) ==
        "faults.duplicated (u64) = 3\n"
        "totem.mcast_tx (u64) = 0\n"
        "totem.orf_token_rx (u64) = 12\n");
  CHECK(mt::CountersJson(c) ==
        nlohmann::json(
            {{"faults.duplicated", 3}, {"totem.mcast_tx", 0}, {"totem.orf_token_rx", 12}}));
  CHECK(mt::FormatCounters({}).empty());
}

TEST_CASE("quorumtool -s is corosync-quorumtool -s, padding included", "[quorumtool]") {
  const auto membership = ThreeNodes({1, 2, 3});
  const auto state = ThreeVotes(true, 3);
  CHECK(mt::FormatQuorumStatus(
            state, membership, mt::MemberIds(membership), {}, kNow, absl::UTCTimeZone()) ==
        "Quorum information\n"
        "------------------\n"
        "Date:             Tue Mar  5 10:00:05 2024\n"
        "Quorum provider:  corosync_votequorum\n"
        "Nodes:            3\n"
        "Node ID:          1\n"
        "Ring ID:          1.1a\n"
        "Quorate:          Yes\n"
        "\n"
        "Votequorum information\n"
        "----------------------\n"
        "Expected votes:   3\n"
        "Highest expected: 3\n"
        "Total votes:      3\n"
        "Quorum:           2  \n"
        "Flags:            Quorate \n"
        "\n"
        "Membership information\n"
        "----------------------\n"
        "    Nodeid      Votes Name\n"
        "         1          1 node1 (local)\n"
        "         2          1 node2\n"
        "         3          1 node3\n");
  CHECK(mt::QuorumExit(state) == mt::ToolExit::kOk);
}

TEST_CASE("quorumtool -s of a partition without quorum", "[quorumtool]") {
  auto membership = ThreeNodes({3}, 3);
  auto state = ThreeVotes(false, 1);
  state.set_local_node_id(3);
  state.mutable_ring_id()->set_rep_node_id(3);
  state.mutable_ring_id()->set_seq(27);
  state.mutable_flags()->set_wait_for_all(true);
  state.mutable_flags()->set_last_man_standing(true);
  const std::string text = mt::FormatQuorumStatus(
      state, membership, mt::MemberIds(membership), {}, kNow, absl::UTCTimeZone());
  CHECK(text.find("Nodes:            1\nNode ID:          3\nRing ID:          3.1b\n"
                  "Quorate:          No\n") != std::string::npos);
  CHECK(text.find("Total votes:      1\n"
                  "Quorum:           2 Activity blocked\n"
                  "Flags:            WaitForAll LastManStanding \n") != std::string::npos);
  CHECK(
      text.ends_with("    Nodeid      Votes Name\n"
                     "         3          1 node3 (local)\n"));
  CHECK(mt::QuorumExit(state) == mt::ToolExit::kNotQuorate);
}

TEST_CASE("quorumtool flags follow corosync's order", "[quorumtool]") {
  auto state = ThreeVotes(true, 3);
  auto* f = state.mutable_flags();
  f->set_two_node(true);
  f->set_wait_for_all(true);
  f->set_last_man_standing(true);
  f->set_auto_tie_breaker(true);
  f->set_allow_downscale(true);
  CHECK(
      mt::QuorumFlagWords(state) ==
      std::vector<std::string>{
          "2Node", "Quorate", "WaitForAll", "LastManStanding", "AutoTieBreaker", "AllowDownscale"});
}

TEST_CASE("quorumtool -l with -H and -i", "[quorumtool]") {
  const auto membership = ThreeNodes({1, 2});
  const auto state = ThreeVotes(true, 2);
  mt::QuorumDisplayOptions options;
  options.hex_node_ids = true;
  options.show_addresses = true;
  CHECK(mt::FormatQuorumNodes(state, membership, mt::MemberIds(membership), options) ==
        "\n"
        "Membership information\n"
        "----------------------\n"
        "    Nodeid      Votes Name\n"
        "0x00000001          1 127.0.0.1 (local)\n"
        "0x00000002          1 127.0.0.2\n");
}

TEST_CASE("quorumtool without a quorum provider shows no votes", "[quorumtool]") {
  const auto membership = ThreeNodes({1, 2, 3});
  mpb::QuorumState state;
  state.set_local_node_id(1);
  state.mutable_ring_id()->set_rep_node_id(1);
  state.mutable_ring_id()->set_seq(1);
  const std::string text = mt::FormatQuorumStatus(
      state, membership, mt::MemberIds(membership), {}, kNow, absl::UTCTimeZone());
  CHECK(text.find("Quorum provider:  Not configured\n") != std::string::npos);
  CHECK(text.find("Votequorum information") == std::string::npos);
  CHECK(
      text.ends_with("    Nodeid Name\n"
                     "         1 node1 (local)\n"
                     "         2 node2\n"
                     "         3 node3\n"));
}

TEST_CASE("quorumtool --json", "[quorumtool]") {
  const auto membership = ThreeNodes({1, 2});
  const auto state = ThreeVotes(true, 2);
  const nlohmann::json j = mt::QuorumJson(state, membership, mt::MemberIds(membership));
  CHECK(j["quorate"] == true);
  CHECK(j["ring_id"] == "1.1a");
  CHECK(j["nodes"] == 2);
  CHECK(j["total_votes"] == 2);
  CHECK(j["flags"] == nlohmann::json({"Quorate"}));
  CHECK(j["members"].size() == 2);
  CHECK(j["members"][0] ==
        nlohmann::json({{"nodeid", 1}, {"votes", 1}, {"name", "node1"}, {"local", true}}));
  CHECK(j["vote_nodes"][2]["state"] == "dead");
}

TEST_CASE("ring ids print as corosync 3's, in hexadecimal", "[tools]") {
  mpb::RingId id;
  id.set_rep_node_id(10);
  id.set_seq(255);
  CHECK(mt::RingIdText(id) == "a.ff");
  CHECK(mt::MembershipSocket("/run/ha") == "/run/ha/membershipd.sock");
  CHECK(*mt::ResolveRunDir("", "/somewhere", "/nonexistent") == "/somewhere");
  CHECK_FALSE(mt::ResolveRunDir("/nonexistent/corosync.conf", "", nullptr).ok());
}
