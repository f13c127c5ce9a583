#include "tools/membership_tool_util.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/daemon_runtime.h"
#include "config/cluster_config.h"

namespace ha::membership_tool {
namespace {

// corosync-quorumtool's print_string_padded: right-aligned in 10 columns, then a space.
std::string Padded(absl::string_view text) {
  return absl::StrFormat("%10s ", text);
}

std::string NodeIdColumn(uint32_t id, const QuorumDisplayOptions& options) {
  return options.hex_node_ids ? absl::StrFormat("0x%08x ", id) : Padded(absl::StrCat(id));
}

const mpb::NodeVotes* FindVotes(const mpb::QuorumState& state, uint32_t id) {
  for (const mpb::NodeVotes& n : state.nodes()) {
    if (n.node_id() == id) {
      return &n;
    }
  }
  return nullptr;
}

const mpb::Node* FindNode(const mpb::GetMembershipResponse& membership, uint32_t id) {
  for (const mpb::Node& n : membership.nodes()) {
    if (n.node_id() == id) {
      return &n;
    }
  }
  return nullptr;
}

// The name corosync-quorumtool shows: the nodelist name, or the ring0 address with -i.
std::string DisplayName(const mpb::QuorumState& state,
                        const mpb::GetMembershipResponse& membership,
                        uint32_t id,
                        bool address) {
  const mpb::Node* node = FindNode(membership, id);
  if (address && node != nullptr && !node->addresses().empty()) {
    return node->addresses(0);
  }
  if (const mpb::NodeVotes* votes = FindVotes(state, id);
      votes != nullptr && !votes->name().empty()) {
    return votes->name();
  }
  if (node != nullptr && !node->name().empty()) {
    return node->name();
  }
  return node != nullptr && !node->addresses().empty() ? node->addresses(0) : "";
}

bool HasQuorumProvider(const mpb::QuorumState& state) {
  return !state.provider().empty();
}

std::string RingStateText(mpb::RingState state) {
  switch (state) {
    case mpb::RING_ACTIVE:
      return "active";
    case mpb::RING_FAULTY:
      return "faulty";
    case mpb::RING_STATE_UNSPECIFIED:
    case mpb::RingState_INT_MIN_SENTINEL_DO_NOT_USE_:
    case mpb::RingState_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return "unknown";
}

// The status line of one ring, as corosync 2's totemrrp status strings.
std::string RingStatusLine(const mpb::Ring& ring) {
  if (ring.state() == mpb::RING_FAULTY) {
    if (ring.detail().find("FAULTY") != std::string::npos) {
      return ring.detail();
    }
    return absl::StrFormat(
        "Marking ringid %u interface %s FAULTY", ring.ring_number(), ring.local_address());
  }
  if (!ring.detail().empty()) {
    return ring.detail();
  }
  return absl::StrFormat("ring %u active with no faults", ring.ring_number());
}

std::string VoteStateText(mpb::VoteNodeState state) {
  switch (state) {
    case mpb::VOTE_MEMBER:
      return "member";
    case mpb::VOTE_DEAD:
      return "dead";
    case mpb::VOTE_LEAVING:
      return "leaving";
    case mpb::VOTE_NODE_STATE_UNSPECIFIED:
    case mpb::VoteNodeState_INT_MIN_SENTINEL_DO_NOT_USE_:
    case mpb::VoteNodeState_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return "unknown";
}

std::string MembershipBlock(const mpb::QuorumState& state,
                            const mpb::GetMembershipResponse& membership,
                            const std::vector<uint32_t>& members,
                            const QuorumDisplayOptions& options) {
  const bool votes = HasQuorumProvider(state);
  std::string out = "\nMembership information\n----------------------\n";
  absl::StrAppend(&out, Padded("Nodeid"), votes ? Padded("Votes") : "", "Name\n");
  for (uint32_t id : members) {
    absl::StrAppend(&out, NodeIdColumn(id, options));
    if (votes) {
      const mpb::NodeVotes* v = FindVotes(state, id);
      absl::StrAppend(&out, Padded(absl::StrCat(v == nullptr ? 0 : v->votes())));
    }
    absl::StrAppend(&out,
                    DisplayName(state, membership, id, options.show_addresses),
                    id == state.local_node_id() ? " (local)" : "",
                    "\n");
  }
  return out;
}

}  // namespace

std::string MembershipSocket(const std::string& run_dir) {
  return run_dir + "/membershipd.sock";
}

std::string RingIdText(const mpb::RingId& id) {
  return absl::StrFormat("%x.%x", id.rep_node_id(), id.seq());
}

// ---------------------------------------------------------------------------------------------
// ha-cfgtool

std::string FormatRingStatus(const mpb::GetRingsResponse& rings) {
  std::string out = "Printing ring status.\n";
  absl::StrAppend(&out, "Local node ID ", rings.local_node_id(), "\n");
  for (const mpb::Ring& ring : rings.rings()) {
    absl::StrAppend(&out, "RING ID ", ring.ring_number(), "\n");
    absl::StrAppend(&out, "\tid\t= ", ring.local_address(), "\n");
    absl::StrAppend(&out, "\tstatus\t= ", RingStatusLine(ring), "\n");
  }
  return out;
}

bool AnyRingFaulty(const mpb::GetRingsResponse& rings) {
  return std::any_of(rings.rings().begin(), rings.rings().end(), [](const mpb::Ring& r) {
    return r.state() == mpb::RING_FAULTY;
  });
}

nlohmann::json RingStatusJson(const mpb::GetRingsResponse& rings) {
  nlohmann::json out = {{"local_node_id", rings.local_node_id()},
                        {"transport", rings.transport()},
                        {"rrp_mode", rings.rrp_mode()},
                        {"rings", nlohmann::json::array()}};
  for (const mpb::Ring& ring : rings.rings()) {
    out["rings"].push_back({{"ring", ring.ring_number()},
                            {"address", ring.local_address()},
                            {"state", RingStateText(ring.state())},
                            {"faulty", ring.state() == mpb::RING_FAULTY},
                            {"problem_counter", ring.problem_counter()},
                            {"problem_threshold", ring.problem_threshold()},
                            {"status", RingStatusLine(ring)}});
  }
  return out;
}

std::string NodeStateText(mpb::NodeState state) {
  switch (state) {
    case mpb::NODE_MEMBER:
      return "member";
    case mpb::NODE_LEFT:
      return "left";
    case mpb::NODE_NEVER_SEEN:
      return "never-seen";
    case mpb::NODE_STATE_UNSPECIFIED:
    case mpb::NodeState_INT_MIN_SENTINEL_DO_NOT_USE_:
    case mpb::NodeState_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return "unknown";
}

std::string FormatNodes(const mpb::GetMembershipResponse& membership,
                        const mpb::GetRingsResponse& rings) {
  std::string out = absl::StrFormat("Local node ID %u, transport %s\n",
                                    membership.local_node_id(),
                                    rings.transport().empty() ? "udpu" : rings.transport());
  absl::StrAppend(&out,
                  "Cluster ",
                  membership.cluster_name(),
                  ", ring ",
                  RingIdText(membership.ring_id()),
                  ", members: ",
                  absl::StrJoin(MemberIds(membership), " "),
                  "\n");
  for (const mpb::Node& node : membership.nodes()) {
    absl::StrAppend(&out,
                    absl::StrFormat("nodeid: %u name: %s state: %s%s joins: %u\n",
                                    node.node_id(),
                                    node.name().empty() ? "-" : node.name(),
                                    NodeStateText(node.state()),
                                    node.node_id() == membership.local_node_id() ? " (local)" : "",
                                    node.join_count()));
    for (int i = 0; i < node.addresses_size(); ++i) {
      absl::StrAppend(&out, absl::StrFormat("   LINK: %d (%s)\n", i, node.addresses(i)));
    }
  }
  return out;
}

nlohmann::json NodesJson(const mpb::GetMembershipResponse& membership,
                         const mpb::GetRingsResponse& rings) {
  nlohmann::json out = {{"local_node_id", membership.local_node_id()},
                        {"cluster_name", membership.cluster_name()},
                        {"transport", rings.transport()},
                        {"ring_id", RingIdText(membership.ring_id())},
                        {"ring_rep", membership.ring_id().rep_node_id()},
                        {"ring_seq", membership.ring_id().seq()},
                        {"members", MemberIds(membership)},
                        {"nodes", nlohmann::json::array()}};
  for (const mpb::Node& node : membership.nodes()) {
    out["nodes"].push_back(
        {{"nodeid", node.node_id()},
         {"name", node.name()},
         {"addresses", std::vector<std::string>(node.addresses().begin(), node.addresses().end())},
         {"state", NodeStateText(node.state())},
         {"local", node.node_id() == membership.local_node_id()},
         {"join_count", node.join_count()}});
  }
  return out;
}

std::string FormatCounters(const mpb::GetCountersResponse& counters) {
  // The proto map has no order: sort by name.
  std::map<std::string, uint64_t> sorted(counters.counters().begin(), counters.counters().end());
  std::string out;
  for (const auto& [name, value] : sorted) {
    absl::StrAppend(&out, name, " (u64) = ", value, "\n");
  }
  return out;
}

nlohmann::json CountersJson(const mpb::GetCountersResponse& counters) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : counters.counters()) {
    out[name] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ha-quorumtool

std::vector<uint32_t> MemberIds(const mpb::GetMembershipResponse& membership) {
  std::vector<uint32_t> ids;
  for (const mpb::Node& node : membership.nodes()) {
    if (node.state() == mpb::NODE_MEMBER) {
      ids.push_back(node.node_id());
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> QuorumFlagWords(const mpb::QuorumState& state) {
  std::vector<std::string> words;
  const mpb::QuorumFlags& f = state.flags();
  if (f.two_node()) {
    words.push_back("2Node");
  }
  if (state.quorate()) {
    words.push_back("Quorate");
  }
  if (f.wait_for_all()) {
    words.push_back("WaitForAll");
  }
  if (f.last_man_standing()) {
    words.push_back("LastManStanding");
  }
  if (f.auto_tie_breaker()) {
    words.push_back("AutoTieBreaker");
  }
  if (f.allow_downscale()) {
    words.push_back("AllowDownscale");
  }
  return words;
}

std::string FormatQuorumStatus(const mpb::QuorumState& state,
                               const mpb::GetMembershipResponse& membership,
                               const std::vector<uint32_t>& members,
                               const QuorumDisplayOptions& options,
                               absl::Time now,
                               absl::TimeZone zone) {
  std::string out = "Quorum information\n------------------\n";
  // ctime(3)'s layout.
  absl::StrAppend(
      &out, "Date:             ", absl::FormatTime("%a %b %e %H:%M:%S %Y", now, zone), "\n");
  absl::StrAppend(&out,
                  "Quorum provider:  ",
                  HasQuorumProvider(state) ? state.provider() : "Not configured",
                  "\n");
  absl::StrAppend(&out, "Nodes:            ", members.size(), "\n");
  absl::StrAppend(&out,
                  "Node ID:          ",
                  options.hex_node_ids ? absl::StrFormat("0x%08x", state.local_node_id())
                                       : absl::StrCat(state.local_node_id()),
                  "\n");
  absl::StrAppend(&out, "Ring ID:          ", RingIdText(state.ring_id()), "\n");
  absl::StrAppend(&out, "Quorate:          ", state.quorate() ? "Yes" : "No", "\n");
  if (HasQuorumProvider(state)) {
    absl::StrAppend(&out, "\nVotequorum information\n----------------------\n");
    absl::StrAppend(&out, "Expected votes:   ", state.expected_votes(), "\n");
    absl::StrAppend(&out, "Highest expected: ", state.highest_expected(), "\n");
    absl::StrAppend(&out, "Total votes:      ", state.total_votes(), "\n");
    absl::StrAppend(&out,
                    "Quorum:           ",
                    state.quorum(),
                    " ",
                    state.quorate() ? " " : "Activity blocked",
                    "\n");
    absl::StrAppend(&out, "Flags:            ");
    for (const std::string& word : QuorumFlagWords(state)) {
      absl::StrAppend(&out, word, " ");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, MembershipBlock(state, membership, members, options));
  return out;
}

std::string FormatQuorumNodes(const mpb::QuorumState& state,
                              const mpb::GetMembershipResponse& membership,
                              const std::vector<uint32_t>& members,
                              const QuorumDisplayOptions& options) {
  return MembershipBlock(state, membership, members, options);
}

nlohmann::json QuorumJson(const mpb::QuorumState& state,
                          const mpb::GetMembershipResponse& membership,
                          const std::vector<uint32_t>& members) {
  nlohmann::json out = {{"provider", state.provider()},
                        {"quorate", state.quorate()},
                        {"node_id", state.local_node_id()},
                        {"ring_id", RingIdText(state.ring_id())},
                        {"ring_rep", state.ring_id().rep_node_id()},
                        {"ring_seq", state.ring_id().seq()},
                        {"nodes", members.size()},
                        {"expected_votes", state.expected_votes()},
                        {"highest_expected", state.highest_expected()},
                        {"total_votes", state.total_votes()},
                        {"quorum", state.quorum()},
                        {"flags", QuorumFlagWords(state)},
                        {"wait_for_all_waiting", state.flags().wait_for_all_waiting()},
                        {"since_unix_ms", state.since_unix_ms()},
                        {"members", nlohmann::json::array()},
                        {"vote_nodes", nlohmann::json::array()}};
  for (uint32_t id : members) {
    const mpb::NodeVotes* v = FindVotes(state, id);
    out["members"].push_back({{"nodeid", id},
                              {"votes", v == nullptr ? 0 : v->votes()},
                              {"name", DisplayName(state, membership, id, false)},
                              {"local", id == state.local_node_id()}});
  }
  for (const mpb::NodeVotes& n : state.nodes()) {
    out["vote_nodes"].push_back({{"nodeid", n.node_id()},
                                 {"name", n.name()},
                                 {"votes", n.votes()},
                                 {"expected_votes", n.expected_votes()},
                                 {"state", VoteStateText(n.state())}});
  }
  return out;
}

ToolExit QuorumExit(const mpb::QuorumState& state) {
  return state.quorate() ? ToolExit::kOk : ToolExit::kNotQuorate;
}

}  // namespace ha::membership_tool
