// GroupCore on two or three nodes fed a hand-made common delivery sequence: what a ring would
// deliver, without the ring (tests/sim/group_sim_test.cc runs it on the simulated totem ring).
#include "membershipd/group_core.h"

#include <catch2/catch.hpp>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace ha::membership {
namespace {

constexpr size_t kRingLimit = 60000;

// Several nodes' GroupCores and the outboxes of what each submitted to the "ring". The test picks
// what gets delivered, to whom and when; by default everything to every node of the current
// configuration, in a round-robin over the senders.
class Bus {
 public:
  // `base`: the options of every node but its id and the ring's limit.
  explicit Bus(std::vector<NodeId> nodes, GroupOptions base = {}) {
    base.max_ring_payload = kRingLimit;
    for (NodeId id : nodes) {
      base.local_id = id;
      nodes_.emplace(id, Node{GroupCore(base), {}, {}});
    }
  }

  GroupCore& core(NodeId id) { return nodes_.at(id).core; }
  std::deque<RingSend>& outbox(NodeId id) { return nodes_.at(id).outbox; }

  // Every event session `session` got, in order, taken out of the record.
  std::vector<GroupEvent> Take(uint64_t session) {
    std::vector<GroupEvent> out;
    for (auto& [id, node] : nodes_) {
      std::vector<SessionEvent> rest;
      for (SessionEvent& e : node.events) {
        if (e.session_id == session) {
          out.push_back(std::move(e.event));
        } else {
          rest.push_back(std::move(e));
        }
      }
      node.events = std::move(rest);
    }
    return out;
  }

  // A new configuration, announced to `at` (default: its members).
  void Configure(RingId ring,
                 std::vector<NodeId> members,
                 std::vector<NodeId> joined,
                 std::vector<NodeId> left,
                 std::vector<NodeId> at = {}) {
    ring_ = ring;
    seq_ = 0;
    members_ = members;
    if (at.empty()) {
      at = members;
    }
    for (NodeId id : at) {
      Absorb(id, core(id).OnConfigChange(ConfigChange{ring, members, joined, left}));
    }
  }

  // Delivers `payload` from `origin` to `to` (default: the configuration's members) at the next
  // sequence number of the current configuration.
  void DeliverPayload(NodeId origin,
                      const std::string& payload,
                      bool safe,
                      std::vector<NodeId> to = {}) {
    ++seq_;
    if (to.empty()) {
      to = members_;
    }
    for (NodeId id : to) {
      Absorb(id, core(id).OnDelivery(Delivery{ring_, seq_, origin, safe, payload}));
    }
  }

  // Delivers the next frame `origin` submitted.
  void DeliverOne(NodeId origin, std::vector<NodeId> to = {}) {
    RingSend send = std::move(outbox(origin).front());
    outbox(origin).pop_front();
    DeliverPayload(origin, send.payload, send.safe, std::move(to));
  }

  // Delivers everything the members submitted (and submit meanwhile), one frame per sender in
  // turn.
  void Settle() {
    for (bool any = true; any;) {
      any = false;
      for (NodeId id : members_) {
        if (!outbox(id).empty()) {
          DeliverOne(id);
          any = true;
        }
      }
    }
  }

  void Absorb(NodeId id, GroupEffects effects) {
    Node& node = nodes_.at(id);
    for (RingSend& s : effects.submit) {
      CHECK(s.payload.size() <= kRingLimit);
      node.outbox.push_back(std::move(s));
    }
    for (SessionEvent& e : effects.events) {
      node.events.push_back(std::move(e));
    }
  }

  // Calls a local API function and keeps what it submits.
  template <typename F>
  absl::Status Call(NodeId id, F&& f) {
    GroupEffects effects;
    absl::Status status = f(core(id), effects);
    Absorb(id, std::move(effects));
    return status;
  }
  absl::Status Open(NodeId id, uint64_t session, uint32_t pid, const std::string& name = "") {
    return Call(
        id, [&](GroupCore& c, GroupEffects& e) { return c.OpenSession(session, pid, name, e); });
  }
  absl::Status Close(NodeId id, uint64_t session) {
    return Call(id, [&](GroupCore& c, GroupEffects& e) { return c.CloseSession(session, e); });
  }
  absl::Status Join(NodeId id, uint64_t session, const std::string& group) {
    return Call(id, [&](GroupCore& c, GroupEffects& e) { return c.Join(session, group, e); });
  }
  absl::Status Leave(NodeId id, uint64_t session, const std::string& group) {
    return Call(id, [&](GroupCore& c, GroupEffects& e) { return c.Leave(session, group, e); });
  }
  absl::Status Send(NodeId id,
                    uint64_t session,
                    const std::string& group,
                    std::string payload,
                    bool safe = false) {
    return Call(id, [&](GroupCore& c, GroupEffects& e) {
      return c.Multicast(session, group, std::move(payload), safe, e);
    });
  }

 private:
  struct Node {
    GroupCore core;
    std::deque<RingSend> outbox;
    std::vector<SessionEvent> events;
  };
  std::map<NodeId, Node> nodes_;
  RingId ring_;
  uint64_t seq_ = 0;
  std::vector<NodeId> members_;
};

GroupMember M(NodeId node, uint32_t pid, ChangeReason reason = ChangeReason::kUnspecified) {
  return GroupMember{node, pid, reason};
}

// `events` without the initial ring a session gets before its first join (tested on its own).
std::vector<GroupEvent> SkipInitialRing(std::vector<GroupEvent> events) {
  if (!events.empty() && std::holds_alternative<RingChange>(events[0]) &&
      std::get<RingChange>(events[0]).initial) {
    events.erase(events.begin());
  }
  return events;
}

const GroupChange& AsChange(const GroupEvent& e) {
  REQUIRE(std::holds_alternative<GroupChange>(e));
  return std::get<GroupChange>(e);
}

const GroupMessage& AsMessage(const GroupEvent& e) {
  REQUIRE(std::holds_alternative<GroupMessage>(e));
  return std::get<GroupMessage>(e);
}

// Three nodes in one synced configuration, sessions 10, 20, 30 (pids 100, 200, 300) on nodes 1,
// 2, 3, each in group "g".
Bus ThreeInGroup() {
  Bus bus({1, 2, 3});
  bus.Configure(RingId{1, 4}, {1, 2, 3}, {1, 2, 3}, {});
  bus.Settle();
  for (NodeId id : {1, 2, 3}) {
    REQUIRE(bus.core(id).synced());
    REQUIRE(bus.Open(id, id * 10, id * 100, "client" + std::to_string(id)).ok());
    REQUIRE(bus.Join(id, id * 10, "g").ok());
  }
  bus.Settle();
  for (uint64_t s : {10, 20, 30}) {
    bus.Take(s);
  }
  return bus;
}

TEST_CASE("requests are checked against the session's intended memberships") {
  GroupCore core(GroupOptions{1});
  GroupEffects e;
  REQUIRE(core.OpenSession(7, 700, "a", e).ok());
  CHECK(core.OpenSession(7, 700, "a", e).code() == absl::StatusCode::kAlreadyExists);
  CHECK(core.Join(8, "g", e).code() == absl::StatusCode::kNotFound);
  CHECK(core.Join(7, "", e).code() == absl::StatusCode::kInvalidArgument);
  CHECK(core.Join(7, std::string(129, 'x'), e).code() == absl::StatusCode::kInvalidArgument);
  CHECK(core.Join(7, "tab\there", e).code() == absl::StatusCode::kInvalidArgument);
  CHECK(core.Join(7, std::string(128, 'x'), e).ok());
  CHECK(core.Leave(7, "g", e).code() == absl::StatusCode::kNotFound);
  CHECK(core.Multicast(7, "g", "x", false, e).code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(core.Join(7, "g", e).ok());
  CHECK(core.Join(7, "g", e).code() == absl::StatusCode::kAlreadyExists);
  // Another session of the same process.
  REQUIRE(core.OpenSession(9, 700, "b", e).ok());
  CHECK(core.Join(9, "g", e).code() == absl::StatusCode::kAlreadyExists);
  CHECK(core.Leave(9, "g", e).code() == absl::StatusCode::kNotFound);
  CHECK(core.Multicast(9, "g", "x", false, e).code() == absl::StatusCode::kFailedPrecondition);
  // Joined (not delivered yet): may send and leave.
  CHECK(core.Multicast(7, "g", std::string(1 << 20, 'p'), false, e).ok());
  CHECK(core.Multicast(7, "g", std::string((1 << 20) + 1, 'p'), false, e).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(core.Leave(7, "g", e).ok());
  CHECK(core.Leave(7, "g", e).code() == absl::StatusCode::kNotFound);
  // Once session 7 left, session 9 of the same process may join.
  CHECK(core.Join(9, "g", e).ok());
  CHECK(core.CloseSession(7, e).ok());
  CHECK(core.CloseSession(7, e).code() == absl::StatusCode::kNotFound);
  // Nothing reaches the ring before a configuration is synced.
  CHECK(e.submit.empty());
  CHECK(core.pending() == 6);

  GroupCore small(GroupOptions{1, kRingLimit, 100, 1});
  REQUIRE(small.OpenSession(1, 10, "", e).ok());
  REQUIRE(small.Join(1, "g", e).ok());
  CHECK(small.Multicast(1, "g", "a", false, e).code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("operations wait for the configuration's sync, then go out in order") {
  Bus bus({1, 2});
  REQUIRE(bus.Open(1, 10, 100, "a").ok());
  REQUIRE(bus.Join(1, 10, "g").ok());
  REQUIRE(bus.Send(1, 10, "g", "early").ok());
  CHECK(bus.outbox(1).empty());
  bus.Configure(RingId{1, 4}, {1, 2}, {1, 2}, {});
  CHECK(bus.outbox(1).size() == 1);  // the Sync only
  bus.DeliverOne(1);
  CHECK(!bus.core(1).synced());
  CHECK(bus.outbox(1).empty());
  bus.DeliverOne(2);  // the last Sync: synced, the waiting operations go out
  CHECK(bus.core(1).synced());
  CHECK(bus.core(2).synced());
  CHECK(bus.outbox(1).size() == 2);
  bus.Settle();
  const auto events = SkipInitialRing(bus.Take(10));
  REQUIRE(events.size() == 2);
  CHECK(AsChange(events[0]).joined == std::vector{M(1, 100, ChangeReason::kJoin)});
  CHECK(AsChange(events[0]).members == std::vector{M(1, 100)});
  CHECK(AsChange(events[0]).position.ring_id == RingId{1, 4});
  CHECK(AsMessage(events[1]).payload == "early");
  CHECK(AsMessage(events[1]).seq == 1);
  CHECK(bus.core(1).pending() == 0);
}

TEST_CASE("frames of an ended configuration are stale; they are sent again after the next sync") {
  Bus bus({1, 2});
  REQUIRE(bus.Open(1, 10, 100, "a").ok());
  REQUIRE(bus.Join(1, 10, "g").ok());
  bus.Configure(RingId{1, 4}, {1, 2}, {1, 2}, {});
  bus.Settle();
  REQUIRE(bus.Send(1, 10, "g", std::string(3 * kRingLimit, 'x')).ok());  // several frames
  REQUIRE(bus.Send(1, 10, "g", "small").ok());
  const std::deque<RingSend> old_frames = bus.outbox(1);
  REQUIRE(old_frames.size() == 5);
  for (const RingSend& f : old_frames) {
    CHECK(!bus.core(1).IsStaleFrame(f.payload));
  }
  bus.outbox(1).clear();  // still queued for the ring when it changes
  bus.Configure(RingId{1, 8}, {1, 2}, {}, {});
  for (const RingSend& f : old_frames) {
    CHECK(bus.core(1).IsStaleFrame(f.payload));
  }
  REQUIRE(bus.outbox(1).size() == 1);  // the new Sync
  CHECK(!bus.core(1).IsStaleFrame(bus.outbox(1).front().payload));
  bus.Settle();  // the sync completes, both operations go out again in the new configuration
  const auto events = bus.Take(10);
  size_t messages = 0;
  for (const auto& e : events) {
    messages += std::holds_alternative<GroupMessage>(e) ? 1 : 0;
  }
  CHECK(messages == 2);
  CHECK(bus.core(1).counters().frames_stale == 0);
  CHECK(bus.core(1).pending() == 0);
}

TEST_CASE("joins, messages and leaves take effect in delivery order on every node") {
  Bus bus({1, 2});
  bus.Configure(RingId{1, 4}, {1, 2}, {1, 2}, {});
  bus.Settle();
  REQUIRE(bus.Open(1, 10, 100, "alpha").ok());
  REQUIRE(bus.Open(2, 20, 200, "beta").ok());
  REQUIRE(bus.Join(1, 10, "g").ok());
  REQUIRE(bus.Join(2, 20, "g").ok());
  CHECK(bus.Take(10).empty());  // not delivered yet
  bus.Settle();

  auto e10 = SkipInitialRing(bus.Take(10));
  auto e20 = SkipInitialRing(bus.Take(20));
  REQUIRE(e10.size() == 2);
  CHECK(AsChange(e10[0]).members == std::vector{M(1, 100)});
  CHECK(AsChange(e10[1]).members == std::vector{M(1, 100), M(2, 200)});
  CHECK(AsChange(e10[1]).joined == std::vector{M(2, 200, ChangeReason::kJoin)});
  // The first change session 20 sees is the one with its own join.
  REQUIRE(e20.size() == 1);
  CHECK(AsChange(e20[0]).members == AsChange(e10[1]).members);
  CHECK(AsChange(e20[0]).position == AsChange(e10[1]).position);

  REQUIRE(bus.Send(1, 10, "g", "hello").ok());
  REQUIRE(bus.Send(2, 20, "g", "world", true).ok());
  REQUIRE(bus.Send(1, 10, "g", "again").ok());
  bus.Settle();
  e10 = bus.Take(10);
  e20 = bus.Take(20);
  REQUIRE(e10.size() == 3);
  REQUIRE(e20.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(AsMessage(e10[i]).payload == AsMessage(e20[i]).payload);
    CHECK(AsMessage(e10[i]).seq == i + 1);
    CHECK(AsMessage(e20[i]).seq == i + 1);
  }
  CHECK(AsMessage(e10[0]).payload == "hello");
  CHECK(AsMessage(e10[1]).payload == "world");
  CHECK(AsMessage(e10[1]).ordering == Ordering::kSafe);
  CHECK(AsMessage(e10[1]).sender_node == 2);
  CHECK(AsMessage(e10[1]).sender_pid == 200);
  CHECK(AsMessage(e10[2]).ordering == Ordering::kAgreed);

  const auto groups = bus.core(1).ListGroups();
  REQUIRE(groups.size() == 1);
  CHECK(groups[0].group == "g");
  CHECK(groups[0].members == std::vector{M(1, 100), M(2, 200)});
  CHECK(groups[0].local_client_names == std::map<uint32_t, std::string>{{100, "alpha"}});
  CHECK(bus.core(2).ListGroups()[0].local_client_names ==
        std::map<uint32_t, std::string>{{200, "beta"}});

  REQUIRE(bus.Leave(2, 20, "g").ok());
  bus.Settle();
  e10 = bus.Take(10);
  e20 = bus.Take(20);
  REQUIRE(e20.size() == 1);  // its own leave, then nothing
  CHECK(AsChange(e20[0]).left == std::vector{M(2, 200, ChangeReason::kLeave)});
  REQUIRE(e10.size() == 1);
  CHECK(AsChange(e10[0]).members == std::vector{M(1, 100)});
  REQUIRE(bus.Send(1, 10, "g", "alone").ok());
  bus.Settle();
  CHECK(bus.Take(20).empty());
  e10 = bus.Take(10);
  REQUIRE(e10.size() == 1);
  CHECK(AsMessage(e10[0]).seq == 4);

  // Rejoining counts from 1 again.
  REQUIRE(bus.Join(2, 20, "g").ok());
  REQUIRE(bus.Send(2, 20, "g", "back").ok());
  bus.Settle();
  e20 = SkipInitialRing(bus.Take(20));  // in no group meanwhile: it is told the ring again
  REQUIRE(e20.size() == 2);
  CHECK(AsMessage(e20[1]).seq == 1);
  CHECK(bus.core(1).ListGroups()[0].members == bus.core(2).ListGroups()[0].members);
}

TEST_CASE("closing a session leaves its groups with PROCDOWN") {
  Bus bus = ThreeInGroup();
  REQUIRE(bus.Join(2, 20, "h").ok());
  REQUIRE(bus.Close(2, 20).ok());
  bus.Settle();
  CHECK(bus.Take(20).empty());
  const auto e10 = bus.Take(10);
  REQUIRE(e10.size() == 1);
  CHECK(AsChange(e10[0]).left == std::vector{M(2, 200, ChangeReason::kProcDown)});
  CHECK(AsChange(e10[0]).members == std::vector{M(1, 100), M(3, 300)});
  for (NodeId id : {1, 2, 3}) {
    const auto groups = bus.core(id).ListGroups();
    REQUIRE(groups.size() == 1);  // "h" was joined and left
    CHECK(groups[0].members == std::vector{M(1, 100), M(3, 300)});
  }
}

TEST_CASE("a node leaving removes its members at once; merging adds them after the sync") {
  Bus bus = ThreeInGroup();
  // Node 3 is cut off: nodes 1 and 2 form {1,2}, node 3 forms {3}.
  bus.Configure(RingId{1, 8}, {1, 2}, {}, {3});
  auto e10 = bus.Take(10);
  REQUIRE(e10.size() == 2);
  CHECK(std::get<RingChange>(e10[0]).left == std::vector<NodeId>{3});
  CHECK(AsChange(e10[1]).left == std::vector{M(3, 300, ChangeReason::kNodeDown)});
  CHECK(AsChange(e10[1]).members == std::vector{M(1, 100), M(2, 200)});
  CHECK(AsChange(e10[1]).position == Position{RingId{1, 8}, 0});
  bus.Settle();
  REQUIRE(bus.core(1).synced());
  CHECK(bus.Take(10).empty());  // nothing changed at the sync

  bus.Configure(RingId{3, 8}, {3}, {}, {1, 2});
  auto e30 = bus.Take(30);
  REQUIRE(e30.size() == 2);
  CHECK(AsChange(e30[1]).left ==
        std::vector{M(1, 100, ChangeReason::kNodeDown), M(2, 200, ChangeReason::kNodeDown)});
  bus.Settle();
  REQUIRE(bus.core(3).synced());
  // Meanwhile on node 3 its session leaves and another one joins.
  REQUIRE(bus.Leave(3, 30, "g").ok());
  REQUIRE(bus.Open(3, 31, 301).ok());
  REQUIRE(bus.Join(3, 31, "g").ok());
  bus.Settle();
  bus.Take(30);
  bus.Take(31);

  // The merge.
  bus.Configure(RingId{1, 12}, {1, 2, 3}, {3}, {}, {1, 2});
  bus.Configure(RingId{1, 12}, {1, 2, 3}, {1, 2}, {}, {3});
  bus.Settle();
  for (NodeId id : {1, 2, 3}) {
    REQUIRE(bus.core(id).synced());
    CHECK(bus.core(id).ListGroups()[0].members == std::vector{M(1, 100), M(2, 200), M(3, 301)});
  }
  e10 = bus.Take(10);
  REQUIRE(e10.size() == 2);  // the ring change, the sync's change
  CHECK(std::get<RingChange>(e10[0]).joined == std::vector<NodeId>{3});
  CHECK(AsChange(e10[1]).joined == std::vector{M(3, 301, ChangeReason::kNodeUp)});
  CHECK(AsChange(e10[1]).left.empty());
  const auto e31 = bus.Take(31);
  REQUIRE(e31.size() == 2);
  CHECK(AsChange(e31[1]).joined ==
        std::vector{M(1, 100, ChangeReason::kNodeUp), M(2, 200, ChangeReason::kNodeUp)});
  CHECK(AsChange(e31[1]).members == AsChange(e10[1]).members);
  CHECK(AsChange(e31[1]).position == AsChange(e10[1]).position);
  CHECK(bus.Take(30).empty());
}

TEST_CASE("a configuration change during a sync restarts it; stale frames are ignored") {
  Bus bus({1, 2, 3});
  bus.Configure(RingId{1, 4}, {1, 2, 3}, {1, 2, 3}, {});
  bus.DeliverOne(1);
  bus.DeliverOne(2);
  // Node 3's Sync for 1.4 is still queued when the ring changes again.
  bus.Configure(RingId{1, 8}, {1, 2, 3}, {}, {});
  bus.DeliverOne(3);  // its 1.4 Sync, delivered in 1.8: stale
  CHECK(bus.core(1).counters().frames_stale == 1);
  bus.DeliverOne(1);  // 1.8 Syncs
  bus.DeliverOne(2);
  CHECK(!bus.core(1).synced());
  bus.DeliverOne(3);
  CHECK(bus.core(1).synced());
  CHECK(bus.core(3).synced());
}

TEST_CASE("operations the ring did not deliver are sent again after the next sync") {
  Bus bus = ThreeInGroup();
  REQUIRE(bus.Send(1, 10, "g", "m1").ok());
  REQUIRE(bus.Send(1, 10, "g", "m2").ok());
  REQUIRE(bus.Leave(1, 10, "g").ok());
  bus.DeliverOne(1);  // m1 delivered; m2 and the leave are lost in the change
  bus.outbox(1).clear();
  bus.Configure(RingId{1, 8}, {1, 2, 3}, {}, {});
  bus.Settle();
  CHECK(bus.core(1).counters().resent == 2);
  for (uint64_t s : {10, 20, 30}) {
    std::vector<std::string> seen;
    for (const GroupEvent& e : bus.Take(s)) {
      if (const auto* m = std::get_if<GroupMessage>(&e)) {
        seen.push_back(m->payload);
        CHECK(m->seq == seen.size());
      }
    }
    CHECK(seen == std::vector<std::string>{"m1", "m2"});
  }
  CHECK(bus.core(2).ListGroups()[0].members == std::vector{M(2, 200), M(3, 300)});
}

TEST_CASE("big messages travel in fragments; a partial message of a departed sender is dropped") {
  Bus bus = ThreeInGroup();
  std::string big(1 << 20, 'a');
  for (size_t i = 0; i < big.size(); i += 997) {
    big[i] = static_cast<char>('a' + i % 26);
  }
  REQUIRE(bus.Send(2, 20, "g", big).ok());
  CHECK(bus.outbox(2).size() == 18);
  bus.Settle();
  for (uint64_t s : {10, 20, 30}) {
    const auto events = bus.Take(s);
    REQUIRE(events.size() == 1);
    CHECK(AsMessage(events[0]).payload == big);
  }

  REQUIRE(bus.Send(3, 30, "g", std::string(200000, 'z')).ok());
  REQUIRE(bus.outbox(3).size() == 4);
  bus.DeliverOne(3);
  bus.DeliverOne(3);
  bus.outbox(3).clear();
  bus.Configure(RingId{1, 8}, {1, 2}, {}, {3});
  bus.Settle();
  REQUIRE(bus.Send(1, 10, "g", "small").ok());
  bus.Settle();
  for (uint64_t s : {10, 20}) {
    std::vector<std::string> seen;
    for (const GroupEvent& e : bus.Take(s)) {
      if (const auto* m = std::get_if<GroupMessage>(&e)) {
        seen.push_back(m->payload);
      }
    }
    CHECK(seen == std::vector<std::string>{"small"});
  }
}

// Two synced nodes whose cores keep at most `max_pending_bytes` of multicasts pending; session 10
// (pid 100) on node 1 in group "g".
Bus TwoWithByteBound(size_t max_pending_bytes) {
  GroupOptions options;
  options.max_pending_bytes = max_pending_bytes;
  Bus bus({1, 2}, options);
  bus.Configure(RingId{1, 4}, {1, 2}, {1, 2}, {});
  bus.Settle();
  REQUIRE(bus.Open(1, 10, 100).ok());
  REQUIRE(bus.Join(1, 10, "g").ok());
  bus.Settle();
  bus.Take(10);
  return bus;
}

TEST_CASE("pending multicasts are bounded by their payload bytes") {
  Bus bus = TwoWithByteBound(1000);
  REQUIRE(bus.Send(1, 10, "g", std::string(600, 'a')).ok());
  const absl::Status refused = bus.Send(1, 10, "g", std::string(401, 'b'));
  CHECK(refused.code() == absl::StatusCode::kResourceExhausted);
  CHECK(absl::StrContains(refused.message(), "600 bytes"));
  CHECK(absl::StrContains(refused.message(), "limit of 1000"));
  REQUIRE(bus.Send(1, 10, "g", std::string(400, 'c')).ok());  // exactly at the bound
  CHECK(bus.core(1).pending_bytes() == 1000);
  CHECK(bus.Send(1, 10, "g", "d").code() == absl::StatusCode::kResourceExhausted);
  // Joins and leaves are never refused, nor counted.
  REQUIRE(bus.Join(1, 10, "h").ok());
  CHECK(bus.core(1).pending_bytes() == 1000);
  CHECK(bus.core(1).pending() == 3);

  SECTION("delivered back, the bytes are free again") {
    bus.Settle();
    CHECK(bus.core(1).pending() == 0);
    CHECK(bus.core(1).pending_bytes() == 0);
    CHECK(bus.Send(1, 10, "g", std::string(1000, 'e')).ok());
  }
  SECTION("released one operation at a time, as each is delivered") {
    bus.DeliverOne(1);  // the 600 bytes
    CHECK(bus.core(1).pending_bytes() == 400);
    CHECK(bus.Send(1, 10, "g", std::string(600, 'e')).ok());
    CHECK(bus.Send(1, 10, "g", "f").code() == absl::StatusCode::kResourceExhausted);
  }
}

TEST_CASE("with nothing pending, a message over the byte bound is accepted") {
  Bus bus = TwoWithByteBound(1000);
  const std::string big(size_t{1} << 20, 'x');  // max_payload
  REQUIRE(bus.Send(1, 10, "g", big).ok());
  CHECK(bus.core(1).pending_bytes() == big.size());
  CHECK(bus.Send(1, 10, "g", "y").code() == absl::StatusCode::kResourceExhausted);
  bus.Settle();
  CHECK(bus.core(1).pending_bytes() == 0);
  REQUIRE(bus.Send(1, 10, "g", big).ok());
  const auto events = bus.Take(10);
  REQUIRE(events.size() == 1);
  CHECK(AsMessage(events[0]).payload == big);
}

TEST_CASE("the bytes of an ended session's multicasts are released when they are delivered") {
  Bus bus = TwoWithByteBound(1000);
  REQUIRE(bus.Open(1, 11, 101).ok());
  REQUIRE(bus.Join(1, 11, "g").ok());
  bus.Settle();
  REQUIRE(bus.Send(1, 10, "g", std::string(1000, 'a')).ok());
  REQUIRE(bus.Close(1, 10).ok());  // its multicast still goes out, then its PROCDOWN leave
  CHECK(bus.Send(1, 11, "g", "b").code() == absl::StatusCode::kResourceExhausted);
  bus.Settle();
  CHECK(bus.core(1).pending() == 0);
  CHECK(bus.core(1).pending_bytes() == 0);
  CHECK(bus.Send(1, 11, "g", std::string(1000, 'c')).ok());
}

TEST_CASE("dropped stale frames keep their bytes counted once, until sent again and delivered") {
  Bus bus = TwoWithByteBound(1000);
  REQUIRE(bus.Send(1, 10, "g", std::string(300, 'a')).ok());
  REQUIRE(bus.Send(1, 10, "g", std::string(700, 'b')).ok());
  bus.DeliverOne(1);  // the 300 bytes
  CHECK(bus.core(1).pending_bytes() == 700);
  // At the change the 700 bytes' frame is still queued for the ring: the driver drops it
  // (TotemCore::DropQueued), GroupCore sends the message again after the sync.
  bus.Configure(RingId{1, 8}, {1, 2}, {}, {});
  REQUIRE(std::erase_if(bus.outbox(1), [&](const RingSend& f) {
            return bus.core(1).IsStaleFrame(f.payload);
          }) == 1);
  CHECK(bus.core(1).pending_bytes() == 700);
  CHECK(bus.Send(1, 10, "g", std::string(301, 'c')).code() == absl::StatusCode::kResourceExhausted);
  bus.Settle();  // the sync, then the 700 bytes again
  CHECK(bus.core(1).pending_bytes() == 0);
  CHECK(bus.core(1).counters().resent == 1);
  CHECK(bus.core(1).pending() == 0);
  CHECK(bus.core(1).pending_bytes() == 0);
  CHECK(bus.Send(1, 10, "g", std::string(1000, 'd')).ok());
  std::vector<std::string> seen;
  for (const GroupEvent& e : bus.Take(10)) {
    if (const auto* m = std::get_if<GroupMessage>(&e)) {
      seen.push_back(m->payload.substr(0, 1));
    }
  }
  CHECK(seen == std::vector<std::string>{"a", "b"});
}

TEST_CASE("frames that do not parse or do not name their sender are dropped") {
  Bus bus = ThreeInGroup();
  bus.DeliverPayload(1, "\xff\xff garbage", false);
  REQUIRE(bus.Send(2, 20, "g", "x").ok());
  const std::string frame = bus.outbox(2).front().payload;
  bus.DeliverPayload(3, frame, false);  // node 2's frame, delivered as node 3's
  CHECK(bus.core(1).counters().frames_invalid == 2);
  bus.Settle();
  CHECK(bus.Take(10).size() == 1);
}

TEST_CASE("a session's first join tells it the current ring, before its join") {
  Bus bus({1, 2});
  bus.Configure(RingId{1, 4}, {1, 2}, {1, 2}, {});
  bus.Settle();
  REQUIRE(bus.Open(1, 10, 100).ok());
  REQUIRE(bus.Join(1, 10, "g").ok());
  bus.Settle();
  auto e10 = bus.Take(10);
  REQUIRE(e10.size() == 2);
  REQUIRE(std::holds_alternative<RingChange>(e10[0]));
  const RingChange& ring = std::get<RingChange>(e10[0]);
  CHECK(ring.initial);
  CHECK(ring.ring_id == RingId{1, 4});
  CHECK(ring.members == std::vector<NodeId>{1, 2});
  CHECK(ring.joined.empty());
  CHECK(ring.left.empty());
  CHECK(AsChange(e10[1]).joined == std::vector{M(1, 100, ChangeReason::kJoin)});
  // A second group of the same session: the session knows the ring already.
  REQUIRE(bus.Join(1, 10, "h").ok());
  bus.Settle();
  e10 = bus.Take(10);
  REQUIRE(e10.size() == 1);
  CHECK(AsChange(e10[0]).group == "h");
  // The next ring change is not initial.
  bus.Configure(RingId{1, 8}, {1}, {}, {2});
  e10 = bus.Take(10);
  REQUIRE(!e10.empty());
  REQUIRE(std::holds_alternative<RingChange>(e10[0]));
  CHECK_FALSE(std::get<RingChange>(e10[0]).initial);
  CHECK(std::get<RingChange>(e10[0]).left == std::vector<NodeId>{2});
}

}  // namespace
}  // namespace ha::membership
