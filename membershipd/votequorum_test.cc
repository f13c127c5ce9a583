#include "membershipd/votequorum.h"

#include <syslog.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "proto/membership.pb.h"
#include "tests/seeded_runs.h"

namespace ha::membership {
namespace {

using Ids = std::vector<uint32_t>;

config::NodeConfig NodeCfg(uint32_t id, int votes = 1) {
  config::NodeConfig n;
  n.nodeid = id;
  n.name = absl::StrCat("node", id);
  n.ring_addrs = {absl::StrCat("10.0.0.", id)};
  n.quorum_votes = votes;
  return n;
}

std::vector<config::NodeConfig> Nodelist(int count) {
  std::vector<config::NodeConfig> nodes;
  for (int i = 1; i <= count; ++i) {
    nodes.push_back(NodeCfg(static_cast<uint32_t>(i)));
  }
  return nodes;
}

config::QuorumConfig Votequorum() {
  config::QuorumConfig q;
  q.provider = "corosync_votequorum";
  return q;
}

std::string Describe(const QuorumState& s) {
  std::vector<std::string> nodes;
  for (const NodeVotes& n : s.nodes) {
    const char* st = n.state == VoteNodeState::kMember    ? "M"
                     : n.state == VoteNodeState::kLeaving ? "L"
                                                          : "D";
    nodes.push_back(absl::StrFormat("%u:%s/v%u/e%u", n.node_id, st, n.votes, n.expected_votes));
  }
  return absl::StrFormat(
      "node %u ring %u.%u quorate=%d expected=%u highest=%u total=%u quorum=%u wfa_waiting=%d [%s]",
      s.local_node_id,
      s.ring_id.rep_node_id,
      s.ring_id.seq,
      s.quorate,
      s.expected_votes,
      s.highest_expected,
      s.total_votes,
      s.quorum,
      s.flags.wait_for_all_waiting,
      absl::StrJoin(nodes, " "));
}

// Running instances on a simulated ring: every group of nodes is one configuration with its own
// agreed-order log of multicasts, which each member delivers at its own pace. A new partitioning
// delivers (or, in the randomized test, cuts) the old logs first, then installs the new
// configurations, as extended virtual synchrony does.
class Cluster {
 public:
  struct Group {
    QuorumRingId ring;
    Ids members;
    std::vector<std::pair<uint32_t, vqwire::Message>> log;
    std::map<uint32_t, size_t> cursor;
  };

  Cluster(config::QuorumConfig quorum, std::vector<config::NodeConfig> nodelist)
      : quorum_(std::move(quorum)), nodelist_(std::move(nodelist)) {}

  // Starts a node alone in a configuration of its own (as totem does), with the common
  // configuration or `own`.
  void Start(uint32_t id, std::optional<config::QuorumConfig> own = std::nullopt) {
    absl::StatusOr<VoteQuorum> vq = VoteQuorum::Create(own ? *own : quorum_, nodelist_, id);
    REQUIRE(vq.ok());
    nodes_.erase(id);
    nodes_.emplace(id, std::move(*vq));
    timer_[id] = false;
    Install({id});
  }
  void StartAll(const Ids& ids) {
    for (uint32_t id : ids) {
      Start(id);
    }
  }

  // The node's process dies: its configuration re-forms without it, after its members delivered
  // the whole log (`deliver_all`) or only up to what the most advanced one had delivered.
  void Stop(uint32_t id, bool deliver_all = true) {
    Group* g = GroupOf(id);
    REQUIRE(g != nullptr);
    size_t cut = g->log.size();
    if (!deliver_all) {
      cut = 0;
      for (const auto& [m, at] : g->cursor) {
        cut = std::max(cut, at);
      }
    }
    Flush(*g, cut);
    Ids rest;
    for (uint32_t m : g->members) {
      if (m != id) {
        rest.push_back(m);
      }
    }
    nodes_.erase(id);
    timer_.erase(id);
    RemoveGroup(g);
    if (!rest.empty()) {
      Install(rest);
    }
  }

  // Re-partitions the running nodes into `parts` (each node in exactly one). Groups whose members
  // do not change keep their configuration; the others deliver their log up to `cut(group)`.
  void Partition(const std::vector<Ids>& parts,
                 const std::function<size_t(const Group&)>& cut = nullptr) {
    std::vector<Ids> sorted = parts;
    for (Ids& p : sorted) {
      std::sort(p.begin(), p.end());
    }
    std::vector<Ids> to_install;
    std::set<QuorumRingId> keep;
    for (const Ids& p : sorted) {
      bool kept = false;
      for (const Group& g : groups_) {
        if (g.members == p) {
          keep.insert(g.ring);
          kept = true;
        }
      }
      if (!kept) {
        to_install.push_back(p);
      }
    }
    for (Group& g : groups_) {
      if (!keep.contains(g.ring)) {
        Flush(g, cut ? cut(g) : g.log.size());
      }
    }
    std::erase_if(groups_, [&](const Group& g) { return !keep.contains(g.ring); });
    for (const Ids& p : to_install) {
      Install(p);
    }
  }
  // Partition, then deliver everything.
  void Form(const std::vector<Ids>& parts) {
    Partition(parts);
    Settle();
  }

  // Delivers the next message of its configuration to `id`; false when there is none.
  bool DeliverOne(uint32_t id) {
    Group* g = GroupOf(id);
    if (g == nullptr || g->cursor[id] >= g->log.size()) {
      return false;
    }
    const auto [sender, message] = g->log[g->cursor[id]++];
    Apply(id, nodes_.at(id).OnMessage(sender, message, now_));
    return true;
  }
  // Delivers every pending message everywhere.
  void Settle() {
    for (bool progress = true; progress;) {
      progress = false;
      for (auto& [id, vq] : nodes_) {
        while (DeliverOne(id)) {
          progress = true;
        }
      }
    }
  }

  // Lets every armed timer fire (time moves past the window), then delivers what they sent.
  void FireTimers(absl::Duration advance = absl::Seconds(11)) {
    now_ += advance;
    for (auto& [id, armed] : timer_) {
      if (armed) {
        armed = false;
        Apply(id, nodes_.at(id).OnTimer(now_));
      }
    }
    Settle();
  }
  void FireTimer(uint32_t id) {
    REQUIRE(timer_.at(id));
    timer_.at(id) = false;
    Apply(id, nodes_.at(id).OnTimer(now_));
  }

  // Runs an administrator's request on `id` and multicasts it if it validates.
  absl::Status SetExpectedVotes(uint32_t id, uint32_t expected) {
    absl::StatusOr<VoteQuorum::Effects> fx = nodes_.at(id).SetExpectedVotes(expected);
    if (fx.ok()) {
      Apply(id, *fx);
    }
    return fx.status();
  }
  absl::Status SetVotes(uint32_t id, uint32_t node, uint32_t votes) {
    absl::StatusOr<VoteQuorum::Effects> fx = nodes_.at(id).SetVotes(node, votes);
    if (fx.ok()) {
      Apply(id, *fx);
    }
    return fx.status();
  }
  void Leave(uint32_t id) { Apply(id, nodes_.at(id).Leave()); }

  VoteQuorum& node(uint32_t id) { return nodes_.at(id); }
  const QuorumState& state(uint32_t id) const { return nodes_.at(id).state(); }
  bool quorate(uint32_t id) const { return state(id).quorate; }
  bool running(uint32_t id) const { return nodes_.contains(id); }
  bool timer_armed(uint32_t id) const { return timer_.at(id); }
  const std::map<uint32_t, VoteQuorum>& nodes() const { return nodes_; }
  std::vector<Group>& groups() { return groups_; }
  Group* GroupOf(uint32_t id) {
    for (Group& g : groups_) {
      if (std::binary_search(g.members.begin(), g.members.end(), id)) {
        return &g;
      }
    }
    return nullptr;
  }
  std::vector<std::string>& trace() { return trace_; }
  absl::Time now() const { return now_; }

 private:
  void Install(Ids members) {
    std::sort(members.begin(), members.end());
    Group g;
    g.ring = QuorumRingId{.rep_node_id = members.front(), .seq = ++seq_};
    g.members = members;
    for (uint32_t m : members) {
      g.cursor[m] = 0;
    }
    groups_.push_back(std::move(g));
    trace_.push_back(
        absl::StrFormat("ring %u.%u {%s}", members.front(), seq_, absl::StrJoin(members, ",")));
    for (uint32_t m : members) {
      Apply(m, nodes_.at(m).OnConfigChange(groups_.back().ring, members, now_));
    }
  }
  void Flush(Group& g, size_t cut) {
    for (uint32_t m : g.members) {
      while (g.cursor[m] < cut && nodes_.contains(m)) {
        const auto [sender, message] = g.log[g.cursor[m]++];
        Apply(m, nodes_.at(m).OnMessage(sender, message, now_));
      }
    }
  }
  void RemoveGroup(Group* g) {
    const QuorumRingId ring = g->ring;
    std::erase_if(groups_, [&](const Group& x) { return x.ring == ring; });
  }
  void Apply(uint32_t id, const VoteQuorum::Effects& fx) {
    Group* g = GroupOf(id);
    for (const vqwire::Message& m : fx.multicast) {
      // Through the wire form, as the daemon sends it.
      absl::StatusOr<vqwire::Message> decoded = DecodeVoteQuorumMessage(EncodeVoteQuorumMessage(m));
      REQUIRE(decoded.ok());
      REQUIRE(g != nullptr);
      g->log.emplace_back(id, *decoded);
    }
    if (fx.cancel_timer) {
      timer_[id] = false;
    }
    if (fx.arm_timer) {
      timer_[id] = true;
    }
  }

  config::QuorumConfig quorum_;
  std::vector<config::NodeConfig> nodelist_;
  std::map<uint32_t, VoteQuorum> nodes_;
  std::map<uint32_t, bool> timer_;
  std::vector<Group> groups_;
  uint64_t seq_ = 0;
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
  std::vector<std::string> trace_;
};

// The fields every member of a synced configuration agrees on.
std::string Agreed(const QuorumState& s) {
  return absl::StrFormat("ring=%u.%u quorate=%d expected=%u highest=%u total=%u quorum=%u wfa=%d",
                         s.ring_id.rep_node_id,
                         s.ring_id.seq,
                         s.quorate,
                         s.expected_votes,
                         s.highest_expected,
                         s.total_votes,
                         s.quorum,
                         s.flags.wait_for_all_waiting);
}

// Every member of every configuration is synced and agrees with the others.
void CheckAgreement(Cluster& c) {
  for (const Cluster::Group& g : c.groups()) {
    const std::string first = Agreed(c.state(g.members.front()));
    for (uint32_t m : g.members) {
      INFO(Describe(c.state(m)));
      CHECK(c.node(m).synced());
      CHECK(Agreed(c.state(m)) == first);
    }
  }
}

const NodeVotes& NodeOf(const QuorumState& s, uint32_t id) {
  for (const NodeVotes& n : s.nodes) {
    if (n.node_id == id) {
      return n;
    }
  }
  FAIL("node " << id << " not in the state");
  return s.nodes.front();
}

// ---------------------------------------------------------------------------------------------
// The basic vote count
// ---------------------------------------------------------------------------------------------

TEST_CASE("votequorum: majority of the expected votes, three nodes") {
  struct Case {
    std::vector<Ids> partition;
    std::vector<bool> quorate;  // per part
    uint32_t quorum;
  };
  const std::vector<Case> cases = {
      {{{1}, {2}, {3}}, {false, false, false}, 2},
      {{{1, 2}, {3}}, {true, false}, 2},
      {{{1}, {2, 3}}, {false, true}, 2},
      {{{1, 2, 3}}, {true}, 2},
  };
  for (const Case& tc : cases) {
    Cluster c(Votequorum(), Nodelist(3));
    c.StartAll({1, 2, 3});
    c.Form(tc.partition);
    CheckAgreement(c);
    for (size_t i = 0; i < tc.partition.size(); ++i) {
      for (uint32_t id : tc.partition[i]) {
        INFO(Describe(c.state(id)));
        CHECK(c.quorate(id) == tc.quorate[i]);
        CHECK(c.state(id).expected_votes == 3);
        CHECK(c.state(id).quorum == tc.quorum);
        CHECK(c.state(id).total_votes == tc.partition[i].size());
      }
    }
  }
}

TEST_CASE("votequorum: weighted votes and quorum.expected_votes") {
  std::vector<config::NodeConfig> nodes = {NodeCfg(1, 3), NodeCfg(2, 1), NodeCfg(3, 1)};
  Cluster c(Votequorum(), nodes);
  c.StartAll({1, 2, 3});
  c.Form({{1}, {2, 3}});
  CHECK(c.state(1).expected_votes == 5);  // the nodelist's votes
  CHECK(c.state(1).quorum == 3);
  CHECK(c.quorate(1));  // 3 of 5
  CHECK_FALSE(c.quorate(2));

  // quorum.expected_votes overrides the nodelist's sum (but the votes present still raise it).
  config::QuorumConfig q = Votequorum();
  q.expected_votes = 9;
  Cluster d(q, Nodelist(3));
  d.StartAll({1, 2, 3});
  d.Form({{1, 2, 3}});
  CHECK(d.state(1).expected_votes == 9);
  CHECK(d.state(1).quorum == 5);
  CHECK_FALSE(d.quorate(1));
}

TEST_CASE("votequorum: a joining node counts once its node info is delivered") {
  Cluster c(Votequorum(), Nodelist(3));
  c.StartAll({1, 2, 3});
  c.Form({{1, 2}, {3}});
  REQUIRE(c.quorate(1));
  c.Partition({{1, 2, 3}});
  // Nothing delivered yet: 1 and 2 still count each other (survivors), 3 is not counted.
  CHECK(c.quorate(1));
  CHECK(c.state(1).total_votes == 2);
  CHECK(NodeOf(c.state(1), 3).state == VoteNodeState::kDead);
  CHECK_FALSE(c.node(1).synced());
  CHECK_FALSE(c.quorate(3));  // 3 counts only itself so far
  c.Settle();
  CheckAgreement(c);
  CHECK(c.state(1).total_votes == 3);
  CHECK(NodeOf(c.state(1), 3).state == VoteNodeState::kMember);
  CHECK(c.quorate(3));
}

TEST_CASE("votequorum: a node not in the nodelist counts with 1 vote") {
  Cluster c(Votequorum(), Nodelist(3));
  c.StartAll({1, 2, 7});
  c.Form({{1, 2, 7}});
  CheckAgreement(c);
  CHECK(c.state(1).total_votes == 3);
  CHECK(NodeOf(c.state(1), 7).votes == 1);
  CHECK(NodeOf(c.state(1), 7).name.empty());
  CHECK(NodeOf(c.state(1), 3).state == VoteNodeState::kDead);
  CHECK(c.state(1).expected_votes == 3);
}

TEST_CASE("votequorum: a node joining with higher expected votes raises them everywhere") {
  // Nodes 1-3 run the 3-node configuration; node 4 (not in their nodelist) was configured with
  // expected_votes 5.
  Cluster c(Votequorum(), Nodelist(3));
  c.StartAll({1, 2, 3});
  config::QuorumConfig four = Votequorum();
  four.expected_votes = 5;
  c.Start(4, four);
  c.Form({{1, 2, 3}, {4}});
  CHECK(c.state(1).expected_votes == 3);
  CHECK_FALSE(c.quorate(4));  // 1 of 5
  c.Form({{1, 2, 3, 4}});
  CheckAgreement(c);
  for (uint32_t id : {1, 2, 3, 4}) {
    CHECK(c.state(id).expected_votes == 5);
    CHECK(c.state(id).highest_expected == 5);
    CHECK(c.state(id).quorum == 3);
    CHECK(c.state(id).total_votes == 4);
    CHECK(c.quorate(id));
  }
  // Expected votes do not go down when that node leaves: 3 of 5 is still quorate, 2 is not.
  c.Stop(4);
  c.Settle();
  CHECK(c.state(1).expected_votes == 5);
  CHECK(c.quorate(1));
  c.Stop(3);
  c.Settle();
  CHECK(c.state(1).expected_votes == 5);
  CHECK_FALSE(c.quorate(1));
}

TEST_CASE("votequorum: total votes above the expected votes raise them") {
  Cluster c(Votequorum(), Nodelist(3));
  c.StartAll({1, 2, 3, 8, 9});  // 8 and 9 are not in the nodelist
  c.Form({{1, 2, 3, 8, 9}});
  CheckAgreement(c);
  CHECK(c.state(1).expected_votes == 5);
  CHECK(c.state(1).quorum == 3);
  c.Partition({{1, 2}, {3, 8, 9}});
  // Before the new node infos arrive, the survivors' own reports (3) must not lower them either.
  CHECK(c.state(1).expected_votes == 5);
  CHECK_FALSE(c.quorate(1));
  c.Settle();
  CHECK(c.state(1).expected_votes == 5);  // sticky
  CHECK_FALSE(c.quorate(1));
  CHECK(c.quorate(3));
}

// ---------------------------------------------------------------------------------------------
// auto_tie_breaker
// ---------------------------------------------------------------------------------------------

TEST_CASE("votequorum: four nodes split in half, with and without auto_tie_breaker") {
  struct Case {
    std::string atb;     // "0" or the auto_tie_breaker_node value
    bool left_quorate;   // {1,2}
    bool right_quorate;  // {3,4}
  };
  const std::vector<Case> cases = {
      {"0", false, false},
      {"lowest", true, false},
      {"highest", false, true},
      {"3 1", false, true},  // 3 first; 1 is second and 3 was in the previous configuration
      {"1 3", true, false},
      {"2", true, false},
  };
  for (const Case& tc : cases) {
    INFO("auto_tie_breaker_node " << tc.atb);
    config::QuorumConfig q = Votequorum();
    if (tc.atb != "0") {
      q.auto_tie_breaker = "1";
      q.auto_tie_breaker_node = tc.atb;
    }
    Cluster c(q, Nodelist(4));
    c.StartAll({1, 2, 3, 4});
    c.Form({{1, 2, 3, 4}});
    REQUIRE(c.quorate(1));
    CHECK(c.state(1).flags.auto_tie_breaker == (tc.atb != "0"));
    c.Form({{1, 2}, {3, 4}});
    CheckAgreement(c);
    CHECK(c.quorate(1) == tc.left_quorate);
    CHECK(c.quorate(3) == tc.right_quorate);
    CHECK(c.state(1).quorum == 3);
  }
}

TEST_CASE("votequorum: auto_tie_breaker needs exactly half, and a list skips absent nodes") {
  config::QuorumConfig q = Votequorum();
  q.auto_tie_breaker = "1";
  q.auto_tie_breaker_node = "3 1";
  Cluster c(q, Nodelist(4));
  c.StartAll({1, 2, 4});  // node 3 never started
  c.Form({{1, 2, 4}});
  REQUIRE(c.quorate(1));
  c.Form({{1, 2}, {4}});
  // 3 was in no member's previous configuration: it cannot be in the other half, so 1 decides.
  CHECK(c.quorate(1));
  CHECK_FALSE(c.quorate(4));  // 1 of 4 is not half
  c.Form({{1}, {2}, {4}});
  CHECK_FALSE(c.quorate(1));
}

TEST_CASE("votequorum: auto_tie_breaker with an odd number of votes needs wait_for_all") {
  config::QuorumConfig q = Votequorum();
  q.auto_tie_breaker = "1";
  absl::StatusOr<VoteQuorum> vq = VoteQuorum::Create(q, Nodelist(5), 1);
  REQUIRE(vq.ok());
  CHECK(vq->options().tie_breaker == VoteQuorum::TieBreaker::kNone);
  CHECK(vq->config_notes().size() == 1);

  q.wait_for_all = true;
  vq = VoteQuorum::Create(q, Nodelist(5), 1);
  REQUIRE(vq.ok());
  CHECK(vq->options().tie_breaker == VoteQuorum::TieBreaker::kLowest);

  q.wait_for_all = false;
  q.last_man_standing = true;
  CHECK(VoteQuorum::Create(q, Nodelist(5), 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// two_node and wait_for_all
// ---------------------------------------------------------------------------------------------

TEST_CASE("votequorum: two_node with wait_for_all") {
  config::QuorumConfig q = Votequorum();
  q.two_node = true;  // implies wait_for_all
  Cluster c(q, Nodelist(2));
  c.Start(1);
  c.Settle();
  CHECK(c.state(1).flags.two_node);
  CHECK(c.state(1).flags.wait_for_all);
  CHECK(c.state(1).flags.wait_for_all_waiting);
  CHECK(c.state(1).quorum == 1);
  CHECK_FALSE(c.quorate(1));  // never saw node 2

  c.Start(2);
  c.Form({{1, 2}});
  CheckAgreement(c);
  CHECK(c.quorate(1));
  CHECK_FALSE(c.state(1).flags.wait_for_all_waiting);
  CHECK(c.state(1).expected_votes == 2);
  CHECK(c.state(1).quorum == 1);

  // A split: each side keeps quorum with 1 vote (fencing decides).
  c.Form({{1}, {2}});
  CHECK(c.quorate(1));
  CHECK(c.quorate(2));

  // Node 2 restarts: it waits again until it meets node 1, which has seen all.
  c.Stop(2);
  c.Start(2);
  c.Settle();
  CHECK(c.quorate(1));
  CHECK_FALSE(c.quorate(2));
  CHECK(c.state(2).flags.wait_for_all_waiting);
  c.Form({{1, 2}});
  CHECK(c.quorate(2));
  CHECK_FALSE(c.state(2).flags.wait_for_all_waiting);
}

TEST_CASE("votequorum: two_node without wait_for_all is quorate alone") {
  config::QuorumConfig q = Votequorum();
  q.two_node = true;
  q.wait_for_all = false;
  Cluster c(q, Nodelist(2));
  c.Start(1);
  c.Settle();
  CHECK(c.quorate(1));
  CHECK(c.state(1).quorum == 1);
  CHECK_FALSE(c.state(1).flags.wait_for_all);
}

TEST_CASE("votequorum: two_node needs a two-node nodelist") {
  config::QuorumConfig q = Votequorum();
  q.two_node = true;
  Cluster c(q, Nodelist(3));
  c.StartAll({1, 2, 3});
  c.Form({{1, 2, 3}});
  CHECK_FALSE(c.state(1).flags.two_node);
  c.Form({{1}, {2, 3}});
  CHECK_FALSE(c.quorate(1));
  CHECK(c.quorate(2));
  CHECK(c.state(2).quorum == 2);
  CHECK(c.node(1).config_notes().size() == 1);
}

TEST_CASE("votequorum: wait_for_all waits until all nodes were seen together once") {
  config::QuorumConfig q = Votequorum();
  q.wait_for_all = true;
  Cluster c(q, Nodelist(3));
  c.StartAll({1, 2, 3});
  c.Form({{1, 2}, {3}});
  CHECK_FALSE(c.quorate(1));  // 2 of 3, but node 3 was never seen
  CHECK(c.state(1).flags.wait_for_all_waiting);
  c.Form({{1, 2, 3}});
  CheckAgreement(c);
  CHECK(c.quorate(1));
  CHECK_FALSE(c.state(1).flags.wait_for_all_waiting);
  // Afterwards it behaves normally.
  c.Form({{1, 2}, {3}});
  CHECK(c.quorate(1));
  CHECK_FALSE(c.quorate(3));
  // A restarted node joining a member that has seen all stops waiting too.
  c.Stop(3);
  c.Start(3);
  c.Settle();
  CHECK(c.state(3).flags.wait_for_all_waiting);
  c.Form({{1}, {2, 3}});
  CheckAgreement(c);
  CHECK(c.quorate(2));
  CHECK(c.quorate(3));
  CHECK_FALSE(c.state(3).flags.wait_for_all_waiting);
}

// ---------------------------------------------------------------------------------------------
// last_man_standing
// ---------------------------------------------------------------------------------------------

TEST_CASE("votequorum: last_man_standing steps down 5 -> 4 -> 3 -> 2") {
  config::QuorumConfig q = Votequorum();
  q.last_man_standing = true;
  q.last_man_standing_window = 10000;
  Cluster c(q, Nodelist(5));
  c.StartAll({1, 2, 3, 4, 5});
  c.Form({{1, 2, 3, 4, 5}});
  CHECK(c.state(1).expected_votes == 5);

  struct Step {
    uint32_t stop;
    uint32_t expected_before;  // right after the node left
    bool quorate_before;
    uint32_t expected_after;  // after the window
    bool quorate_after;
  };
  const std::vector<Step> steps = {
      {5, 5, true, 4, true},
      {4, 4, true, 3, true},
      {3, 3, true, 2, true},
      {2, 2, false, 2, false},  // 1 of 2: no quorum, and nothing lowers it without a tie-breaker
  };
  for (const Step& s : steps) {
    INFO("stopping node " << s.stop);
    c.Stop(s.stop);
    c.Settle();
    CHECK(c.state(1).expected_votes == s.expected_before);
    CHECK(c.quorate(1) == s.quorate_before);
    CHECK(c.timer_armed(1));
    c.FireTimers();
    CheckAgreement(c);
    CHECK(c.state(1).expected_votes == s.expected_after);
    CHECK(c.state(1).quorum == s.expected_after / 2 + 1);
    CHECK(c.quorate(1) == s.quorate_after);
  }
}

TEST_CASE("votequorum: last_man_standing acts only in a synced, stable configuration") {
  config::QuorumConfig q = Votequorum();
  q.last_man_standing = true;
  Cluster c(q, Nodelist(5));
  c.StartAll({1, 2, 3, 4, 5});
  c.Form({{1, 2, 3, 4, 5}});
  CHECK_FALSE(c.timer_armed(1));  // nobody left yet
  c.Stop(5);
  REQUIRE(c.timer_armed(1));
  // The window runs out before the node info of the new configuration is delivered: not synced,
  // nothing is sent.
  c.FireTimer(1);
  c.Settle();
  CHECK(c.node(1).synced());
  CHECK(c.state(1).expected_votes == 5);
  // A LastManStanding of an older configuration changes nothing.
  vqwire::Message stale;
  stale.mutable_last_man_standing()->mutable_ring_id()->set_rep(1);
  stale.mutable_last_man_standing()->mutable_ring_id()->set_seq(1);
  CHECK_FALSE(c.node(1).OnMessage(2, stale, c.now()).state_changed);
  CHECK(c.state(1).expected_votes == 5);
  // The other members' timers still run.
  c.FireTimers();
  CheckAgreement(c);
  CHECK(c.state(1).expected_votes == 4);
}

TEST_CASE("votequorum: last_man_standing with auto_tie_breaker goes down to one node") {
  config::QuorumConfig q = Votequorum();
  q.last_man_standing = true;
  q.auto_tie_breaker = "1";
  Cluster c(q, Nodelist(4));
  c.StartAll({1, 2, 3, 4});
  c.Form({{1, 2, 3, 4}});
  const std::vector<std::pair<uint32_t, uint32_t>> steps = {{4, 3}, {3, 2}, {2, 1}};
  for (const auto& [stop, expected] : steps) {
    INFO("stopping node " << stop);
    c.Stop(stop);
    c.Settle();
    CHECK(c.quorate(1));  // 3 of 4, 2 of 3, then 1 of 2 (half, with the tie-breaker node 1)
    c.FireTimers();
    CHECK(c.state(1).expected_votes == expected);
    CHECK(c.quorate(1));
  }
  CHECK(c.state(1).quorum == 1);
}

// ---------------------------------------------------------------------------------------------
// allow_downscale and Leave
// ---------------------------------------------------------------------------------------------

TEST_CASE("votequorum: allow_downscale lowers expected votes on a clean leave") {
  config::QuorumConfig q = Votequorum();
  q.expected_votes = 3;
  q.allow_downscale = true;
  Cluster c(q, Nodelist(5));
  c.StartAll({1, 2, 3, 4, 5});
  c.Form({{1, 2, 3, 4, 5}});
  CHECK(c.state(1).expected_votes == 5);  // raised by the votes present
  const std::vector<std::pair<uint32_t, uint32_t>> steps = {{5, 4}, {4, 3}, {3, 3}};
  for (const auto& [leaver, expected] : steps) {
    INFO("node " << leaver << " leaves");
    c.Leave(leaver);
    c.Settle();
    CHECK(NodeOf(c.state(1), leaver).state == VoteNodeState::kLeaving);
    CHECK(c.state(1).expected_votes == expected);  // not below quorum.expected_votes
    c.Stop(leaver);
    c.Settle();
    CheckAgreement(c);
    CHECK(c.state(1).expected_votes == expected);
  }
  CHECK(c.quorate(1));  // 2 of 3
}

TEST_CASE("votequorum: a clean leave without allow_downscale keeps expected votes") {
  Cluster c(Votequorum(), Nodelist(5));
  c.StartAll({1, 2, 3, 4, 5});
  c.Form({{1, 2, 3, 4, 5}});
  c.Leave(5);
  c.Settle();
  CHECK(NodeOf(c.state(1), 5).state == VoteNodeState::kLeaving);
  CHECK(c.state(1).total_votes == 4);
  CHECK(c.state(1).expected_votes == 5);
  c.Stop(5);
  c.Stop(4);
  c.Stop(3);
  c.Settle();
  CHECK_FALSE(c.quorate(1));
}

// ---------------------------------------------------------------------------------------------
// SetExpectedVotes and SetVotes
// ---------------------------------------------------------------------------------------------

TEST_CASE("votequorum: SetExpectedVotes validation") {
  Cluster c(Votequorum(), Nodelist(5));
  c.StartAll({1, 2, 3, 4, 5});
  c.Form({{1, 2, 3}, {4, 5}});  // total 3 of 5 here
  struct Case {
    uint32_t value;
    absl::StatusCode code;
  };
  const std::vector<Case> cases = {
      {0, absl::StatusCode::kInvalidArgument},
      {2, absl::StatusCode::kInvalidArgument},  // below the total votes
      {6, absl::StatusCode::kInvalidArgument},  // quorum 4 > 3 votes
      {100, absl::StatusCode::kInvalidArgument},
      {3, absl::StatusCode::kOk},
      {4, absl::StatusCode::kOk},
      {5, absl::StatusCode::kOk},
  };
  for (const Case& tc : cases) {
    INFO("expected votes " << tc.value);
    absl::StatusOr<VoteQuorum::Effects> fx = c.node(1).SetExpectedVotes(tc.value);
    CHECK(fx.status().code() == tc.code);
    if (fx.ok()) {
      CHECK(fx->multicast.size() == 1);
      CHECK(c.state(1).expected_votes == 5);  // applied only when delivered
    }
  }
  // Applied on delivery, on every member; the other partition is untouched.
  REQUIRE(c.SetExpectedVotes(2, 3).ok());
  CHECK(c.state(1).expected_votes == 5);
  c.Settle();
  CheckAgreement(c);
  for (uint32_t id : {1, 2, 3}) {
    CHECK(c.state(id).expected_votes == 3);
    CHECK(c.state(id).quorum == 2);
    CHECK(NodeOf(c.state(id), id).expected_votes == 3);
  }
  CHECK(c.state(4).expected_votes == 5);
  // The inquorate side may make itself quorate: 2 votes, expected 2 or 3.
  CHECK(c.node(4).SetExpectedVotes(4).status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(c.SetExpectedVotes(4, 3).ok());
  c.Settle();
  CHECK(c.quorate(4));
  CHECK(c.quorate(5));
  CHECK(c.state(5).expected_votes == 3);
}

TEST_CASE("votequorum: SetVotes validation and effect") {
  Cluster c(Votequorum(), Nodelist(3));
  c.StartAll({1, 2, 3});
  c.Form({{1, 2, 3}});
  CHECK(c.node(1).SetVotes(9, 1).status().code() == absl::StatusCode::kNotFound);
  REQUIRE(c.SetVotes(1, 3, 4).ok());
  c.Settle();
  CheckAgreement(c);
  CHECK(NodeOf(c.state(1), 3).votes == 4);
  CHECK(c.state(1).total_votes == 6);
  CHECK(c.state(1).expected_votes == 6);  // raised by the total
  CHECK(c.state(1).quorum == 4);
  // Node 0 is the local node; the node keeps its votes in its next node info.
  REQUIRE(c.SetVotes(2, 0, 2).ok());
  c.Settle();
  CHECK(NodeOf(c.state(1), 2).votes == 2);
  c.Form({{1, 2}, {3}});
  CHECK(NodeOf(c.state(1), 2).votes == 2);
  CHECK(c.state(1).total_votes == 3);
  CHECK_FALSE(c.quorate(1));  // 3 of 7
  CHECK(c.quorate(3));        // 4 of 7
  c.Form({{1, 2, 3}});
  CHECK(c.state(3).total_votes == 7);
  CHECK(c.quorate(3));
}

// ---------------------------------------------------------------------------------------------
// Without a quorum provider
// ---------------------------------------------------------------------------------------------

TEST_CASE("votequorum: without a provider the node is always quorate") {
  config::QuorumConfig q;  // provider ""
  absl::StatusOr<VoteQuorum> vq = VoteQuorum::Create(q, Nodelist(3), 2);
  REQUIRE(vq.ok());
  CHECK(vq->state().quorate);
  CHECK(vq->state().provider.empty());
  VoteQuorum::Effects fx =
      vq->OnConfigChange(QuorumRingId{.rep_node_id = 2, .seq = 4}, {2}, absl::UnixEpoch());
  CHECK(fx.multicast.empty());
  CHECK(fx.state_changed);
  CHECK(vq->state().quorate);
  CHECK(vq->state().ring_id.seq == 4);
  CHECK(vq->SetExpectedVotes(2).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(vq->SetVotes(1, 2).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(vq->Leave().multicast.empty());
}

TEST_CASE("votequorum: Create refuses bad input") {
  CHECK(VoteQuorum::Create(Votequorum(), Nodelist(3), 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  config::QuorumConfig q = Votequorum();
  q.provider = "corosync_quorum_device";
  CHECK(VoteQuorum::Create(q, Nodelist(3), 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  q = Votequorum();
  q.auto_tie_breaker = "1";
  q.auto_tie_breaker_node = "1 x";
  CHECK(VoteQuorum::Create(q, Nodelist(4), 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

TEST_CASE("votequorum: node info that is stale or names another node is ignored") {
  Cluster c(Votequorum(), Nodelist(3));
  c.StartAll({1, 2, 3});
  c.Form({{1, 2}, {3}});
  const QuorumState before = c.state(1);

  vqwire::Message forged;
  forged.mutable_node_info()->set_node_id(3);
  forged.mutable_node_info()->set_votes(5);
  *forged.mutable_node_info()->mutable_ring_id() = vqwire::RingId();
  forged.mutable_node_info()->mutable_ring_id()->set_rep(before.ring_id.rep_node_id);
  forged.mutable_node_info()->mutable_ring_id()->set_seq(before.ring_id.seq);
  VoteQuorum::Effects fx = c.node(1).OnMessage(2, forged, c.now());
  CHECK_FALSE(fx.state_changed);
  CHECK(fx.log.size() == 1);
  CHECK(fx.log[0].priority == LOG_WARNING);

  vqwire::Message stale;
  stale.mutable_node_info()->set_node_id(2);
  stale.mutable_node_info()->set_votes(5);
  stale.mutable_node_info()->mutable_ring_id()->set_rep(1);
  stale.mutable_node_info()->mutable_ring_id()->set_seq(1);
  fx = c.node(1).OnMessage(2, stale, c.now());
  CHECK_FALSE(fx.state_changed);
  CHECK(c.state(1) == before);
}

TEST_CASE("votequorum: wire encoding") {
  vqwire::Message m;
  m.mutable_set_votes()->set_node_id(3);
  m.mutable_set_votes()->set_votes(2);
  absl::StatusOr<vqwire::Message> back = DecodeVoteQuorumMessage(EncodeVoteQuorumMessage(m));
  REQUIRE(back.ok());
  CHECK(back->set_votes().node_id() == 3);
  CHECK(back->set_votes().votes() == 2);

  CHECK_FALSE(DecodeVoteQuorumMessage("").ok());  // no body
  CHECK_FALSE(DecodeVoteQuorumMessage("\xff\xff\xff").ok());
  vqwire::Message big;
  for (size_t i = 0; i <= kMaxVoteQuorumMembers; ++i) {
    big.mutable_node_info()->add_previous_members(static_cast<uint32_t>(i));
  }
  CHECK_FALSE(DecodeVoteQuorumMessage(EncodeVoteQuorumMessage(big)).ok());
}

TEST_CASE("votequorum: ToProto") {
  config::QuorumConfig q = Votequorum();
  q.wait_for_all = true;
  q.allow_downscale = true;
  Cluster c(q, Nodelist(3));
  c.StartAll({1, 2, 3});
  c.Form({{1, 2, 3}});
  const QuorumState& s = c.state(2);
  v1::QuorumState p;
  p.set_total_votes(99);  // cleared first
  ToProto(s, &p);
  CHECK(p.quorate());
  CHECK(p.ring_id().rep_node_id() == s.ring_id.rep_node_id);
  CHECK(p.ring_id().seq() == s.ring_id.seq);
  CHECK(p.expected_votes() == 3);
  CHECK(p.highest_expected() == 3);
  CHECK(p.total_votes() == 3);
  CHECK(p.quorum() == 2);
  REQUIRE(p.nodes_size() == 3);
  CHECK(p.nodes(1).node_id() == 2);
  CHECK(p.nodes(1).name() == "node2");
  CHECK(p.nodes(1).votes() == 1);
  CHECK(p.nodes(1).expected_votes() == 3);
  CHECK(p.nodes(1).state() == v1::VOTE_MEMBER);
  CHECK(p.flags().wait_for_all());
  CHECK_FALSE(p.flags().wait_for_all_waiting());
  CHECK(p.flags().allow_downscale());
  CHECK_FALSE(p.flags().two_node());
  CHECK(p.local_node_id() == 2);
  CHECK(p.provider() == "corosync_votequorum");
  CHECK(p.since_unix_ms() == absl::ToUnixMillis(c.now()));
}

TEST_CASE("votequorum: the same messages in the same order give every member the same state") {
  config::QuorumConfig q = Votequorum();
  q.wait_for_all = true;
  q.auto_tie_breaker = "1";
  q.allow_downscale = true;
  Cluster c(q, Nodelist(6));
  c.StartAll({1, 2, 3, 4, 5, 6});
  c.Form({{1, 2, 3, 4, 5, 6}});
  c.Form({{1, 2, 3}, {4, 5, 6}});
  CheckAgreement(c);
  CHECK(c.quorate(1));
  CHECK_FALSE(c.quorate(4));
  REQUIRE(c.SetVotes(1, 2, 2).ok());
  c.Leave(3);
  c.Form({{1, 2, 3, 4}, {5, 6}});
  CheckAgreement(c);
  // Members deliver at their own pace; those at the same point agree.
  c.Stop(3);
  c.Partition({{1, 2, 4, 5, 6}});
  Cluster::Group* g = c.GroupOf(1);
  while (c.DeliverOne(1)) {
  }
  for (uint32_t id : {2, 4, 5, 6}) {
    while (c.DeliverOne(id)) {
    }
    CHECK(Agreed(c.state(id)) == Agreed(c.state(1)));
    CHECK(g->cursor[id] == g->cursor[1]);
  }
  CHECK(c.state(1).total_votes == 6);
}

// ---------------------------------------------------------------------------------------------
// Randomized runs
// ---------------------------------------------------------------------------------------------

// Drives 3-7 instances (2-7 in the chaos mode) through random partitions, merges, crashes,
// restarts, clean leaves, timers and message interleavings, and checks after every step:
//  - safety (without last_man_standing, two_node, SetExpectedVotes and SetVotes; with or without
//    auto_tie_breaker lowest/highest, wait_for_all and allow_downscale): no two configurations
//    have a quorate node each;
//  - agreement: members of a configuration that are synced and have delivered the same messages
//    report the same quorum state.
class RandomRun {
 public:
  explicit RandomRun(uint32_t seed) : rng_(seed) {}

  std::string Run() {
    chaos_ = Pick(4) == 0;
    const int n = chaos_ ? 2 + Pick(6) : 3 + Pick(5);
    config::QuorumConfig q = Votequorum();
    q.wait_for_all = Pick(2) == 0;
    q.allow_downscale = Pick(3) == 0;
    const int atb = Pick(chaos_ ? 4 : 3);
    if (atb > 0) {
      q.auto_tie_breaker = "1";
      q.auto_tie_breaker_node = atb == 1 ? "lowest" : atb == 2 ? "highest" : "";
      if (atb == 3) {
        std::vector<std::string> list;
        for (int i = 0; i < 1 + Pick(3); ++i) {
          list.push_back(absl::StrCat(1 + Pick(n)));
        }
        q.auto_tie_breaker_node = absl::StrJoin(list, " ");
      }
    }
    std::vector<config::NodeConfig> nodelist;
    for (int i = 1; i <= n; ++i) {
      nodelist.push_back(NodeCfg(static_cast<uint32_t>(i), Pick(4) == 0 ? 2 : 1));
    }
    if (chaos_) {
      q.last_man_standing = Pick(2) == 0;
      q.two_node = n == 2 && Pick(2) == 0;
      if (q.last_man_standing) {
        for (config::NodeConfig& node : nodelist) {
          node.quorum_votes = 1;
        }
        q.wait_for_all = *q.wait_for_all || q.auto_tie_breaker == "1";
      }
    }
    description_ = absl::StrFormat("%s n=%d wfa=%d downscale=%d atb=%s/%s lms=%d two_node=%d",
                                   chaos_ ? "chaos" : "safety",
                                   n,
                                   q.wait_for_all.value_or(false),
                                   q.allow_downscale,
                                   q.auto_tie_breaker,
                                   q.auto_tie_breaker_node,
                                   q.last_man_standing,
                                   q.two_node);
    quorum_ = q;
    cluster_.emplace(q, nodelist);
    for (int i = 1; i <= n; ++i) {
      ids_.push_back(static_cast<uint32_t>(i));
      if (Pick(5) != 0) {
        StartNode(static_cast<uint32_t>(i));
      }
    }
    for (int step = 0; step < 150; ++step) {
      Step();
      if (std::string error = Check(); !error.empty()) {
        return absl::StrFormat("%s, step %d: %s\n  %s",
                               description_,
                               step,
                               error,
                               absl::StrJoin(cluster_->trace(), "\n  "));
      }
    }
    return "";
  }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  void StartNode(uint32_t id) {
    std::optional<config::QuorumConfig> own;
    if (chaos_ && Pick(6) == 0) {
      own = quorum_;
      own->expected_votes = 1 + Pick(static_cast<int>(ids_.size()) + 3);
    }
    cluster_->Start(id, own);
    cluster_->trace().push_back(absl::StrFormat("start %u", id));
    leaving_.erase(id);
  }

  std::vector<uint32_t> Running() const {
    std::vector<uint32_t> out;
    for (const auto& [id, vq] : cluster_->nodes()) {
      out.push_back(id);
    }
    return out;
  }

  std::vector<Ids> CurrentParts() {
    std::vector<Ids> parts;
    for (const Cluster::Group& g : cluster_->groups()) {
      parts.push_back(g.members);
    }
    return parts;
  }

  // A partition change: split a group, merge two, or move one node.
  void Repartition() {
    std::vector<Ids> parts = CurrentParts();
    if (parts.empty()) {
      return;
    }
    const int kind = Pick(3);
    if (kind == 0) {
      Ids& g = parts[Pick(static_cast<int>(parts.size()))];
      if (g.size() < 2) {
        return;
      }
      Ids a, b;
      for (uint32_t id : g) {
        (Pick(2) == 0 ? a : b).push_back(id);
      }
      if (a.empty() || b.empty()) {
        return;
      }
      g = a;
      parts.push_back(b);
    } else if (kind == 1) {
      if (parts.size() < 2) {
        return;
      }
      const int i = Pick(static_cast<int>(parts.size()));
      int j = Pick(static_cast<int>(parts.size()) - 1);
      if (j >= i) {
        ++j;
      }
      parts[i].insert(parts[i].end(), parts[j].begin(), parts[j].end());
      parts.erase(parts.begin() + j);
    } else {
      if (parts.size() < 2) {
        return;
      }
      const int i = Pick(static_cast<int>(parts.size()));
      int j = Pick(static_cast<int>(parts.size()) - 1);
      if (j >= i) {
        ++j;
      }
      const int k = Pick(static_cast<int>(parts[i].size()));
      parts[j].push_back(parts[i][k]);
      parts[i].erase(parts[i].begin() + k);
      if (parts[i].empty()) {
        parts.erase(parts.begin() + i);
      }
    }
    // The old configurations deliver the same prefix of their logs to all their members.
    cluster_->Partition(parts, [this](const Cluster::Group& g) {
      size_t delivered = 0;
      for (const auto& [id, at] : g.cursor) {
        delivered = std::max(delivered, at);
      }
      return delivered + static_cast<size_t>(Pick(static_cast<int>(g.log.size() - delivered) + 1));
    });
  }

  void Step() {
    const std::vector<uint32_t> running = Running();
    const int what = Pick(100);
    if (running.empty() || what < 5) {
      std::vector<uint32_t> stopped;
      for (uint32_t id : ids_) {
        if (!cluster_->running(id)) {
          stopped.push_back(id);
        }
      }
      if (!stopped.empty()) {
        StartNode(stopped[Pick(static_cast<int>(stopped.size()))]);
      }
      return;
    }
    const uint32_t node = running[Pick(static_cast<int>(running.size()))];
    if (what < 55) {
      cluster_->DeliverOne(node);
    } else if (what < 60) {
      cluster_->Settle();
    } else if (what < 72) {
      Repartition();
    } else if (what < 77) {
      cluster_->trace().push_back(absl::StrFormat("crash %u", node));
      cluster_->Stop(node, Pick(2) == 0);
    } else if (what < 80) {
      if (!leaving_.contains(node)) {
        cluster_->trace().push_back(absl::StrFormat("leave %u", node));
        cluster_->Leave(node);
        leaving_.insert(node);
      } else {
        cluster_->trace().push_back(absl::StrFormat("stop %u after leaving", node));
        cluster_->Stop(node, true);
      }
    } else if (what < 88) {
      if (cluster_->timer_armed(node)) {
        cluster_->trace().push_back(absl::StrFormat("timer %u", node));
        cluster_->FireTimer(node);
      }
    } else if (chaos_ && what < 94) {
      const uint32_t value = static_cast<uint32_t>(Pick(static_cast<int>(ids_.size()) + 4));
      const absl::Status s = cluster_->SetExpectedVotes(node, value);
      cluster_->trace().push_back(
          absl::StrFormat("set expected %u on %u: %s", value, node, s.ToString()));
    } else if (chaos_) {
      const uint32_t target = static_cast<uint32_t>(Pick(static_cast<int>(ids_.size()) + 1));
      const uint32_t votes = static_cast<uint32_t>(Pick(4));
      const absl::Status s = cluster_->SetVotes(node, target, votes);
      cluster_->trace().push_back(
          absl::StrFormat("set votes of %u to %u on %u: %s", target, votes, node, s.ToString()));
    } else {
      cluster_->DeliverOne(node);
    }
  }

  std::string Check() {
    std::vector<Cluster::Group>& groups = cluster_->groups();
    if (!chaos_) {
      std::vector<uint32_t> quorate_in;  // one quorate node per group that has one
      for (const Cluster::Group& g : groups) {
        for (uint32_t m : g.members) {
          if (cluster_->quorate(m)) {
            quorate_in.push_back(m);
            break;
          }
        }
      }
      if (quorate_in.size() > 1) {
        std::vector<std::string> states;
        for (uint32_t m : quorate_in) {
          states.push_back(Describe(cluster_->state(m)));
        }
        return "two disjoint partitions are quorate:\n    " + absl::StrJoin(states, "\n    ");
      }
    }
    for (const Cluster::Group& g : groups) {
      std::map<size_t, std::pair<uint32_t, std::string>> at;  // cursor -> first member, state
      for (uint32_t m : g.members) {
        const QuorumState& s = cluster_->state(m);
        if (s.ring_id != g.ring) {
          return absl::StrFormat("node %u reports ring %u.%u in ring %u.%u",
                                 m,
                                 s.ring_id.rep_node_id,
                                 s.ring_id.seq,
                                 g.ring.rep_node_id,
                                 g.ring.seq);
        }
        if (!cluster_->node(m).synced()) {
          continue;
        }
        std::string agreed = Agreed(s);
        for (uint32_t other : g.members) {
          const NodeVotes& nv = NodeOf(s, other);
          agreed += absl::StrFormat(
              " %u:%d/%u/%u", other, static_cast<int>(nv.state), nv.votes, nv.expected_votes);
        }
        const size_t cursor = g.cursor.at(m);
        auto [it, inserted] = at.try_emplace(cursor, m, agreed);
        if (!inserted && it->second.second != agreed) {
          return absl::StrFormat(
              "members disagree after the same %u messages:\n    %s\n    %s\n    %s\n    %s",
              cursor,
              Describe(cluster_->state(it->second.first)),
              it->second.second,
              Describe(s),
              agreed);
        }
      }
    }
    return "";
  }

  std::mt19937 rng_;
  bool chaos_ = false;
  std::string description_;
  config::QuorumConfig quorum_;
  std::optional<Cluster> cluster_;
  std::vector<uint32_t> ids_;
  std::set<uint32_t> leaving_;
};

TEST_CASE("votequorum: randomized partitions keep safety and agreement") {
  ha::testing::RunSeeds(
      "HA_VOTEQUORUM_SEED", 2000, [](uint32_t seed) { return RandomRun(seed).Run(); });
}

}  // namespace
}  // namespace ha::membership
