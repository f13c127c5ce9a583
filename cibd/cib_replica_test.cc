// CibReplica on a simulated agreed-order group bus: N nodes, each a CibCore in memory and a
// replica, one global order of configuration changes and messages that every member delivers
// in sequence, each at its own pace (so writes race). One seed per run; a failing seed is
// printed and replays exactly.
#include "cibd/cib_replica.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cibd/cib_test_util.h"

namespace ha::cib {
namespace {

// One event of the group's agreed order.
struct BusEvent {
  bool is_view = false;
  uint64_t view_id = 0;
  std::vector<MemberId> members;  // after the change (is_view)
  MemberId sender;                // a message
  std::string payload;
};

struct SimNode {
  MemberId id;
  FakeClock clock;
  std::unique_ptr<CibCore> core;
  std::unique_ptr<CibReplica> replica;
  size_t cursor = 0;  // next event of the bus to deliver
  bool alive = false;
  std::map<uint64_t, std::optional<absl::Status>> requests;  // answered or not
  std::map<uint64_t, std::string> created;                   // request -> id it creates
  std::vector<std::string> logs;
};

class Bus {
 public:
  explicit Bus(uint32_t seed) : rng_(seed) {}

  SimNode& AddNode(uint32_t node_id, CibDocument doc) {
    auto& n = nodes_[node_id];
    n = std::make_unique<SimNode>();
    n->id = MemberId{node_id, 1000 + node_id + 100 * restarts_++};
    n->core =
        std::make_unique<CibCore>(std::move(doc), nullptr, n->clock, absl::StrCat("node", node_id));
    n->replica = std::make_unique<CibReplica>(*n->core, n->id);
    n->alive = true;
    return *n;
  }

  // A configuration change: the live nodes are the members; joiners start delivering here.
  void ViewChange() {
    BusEvent e;
    e.is_view = true;
    e.view_id = ++view_id_;
    for (auto& [id, n] : nodes_) {
      if (n->alive) {
        e.members.push_back(n->id);
      }
    }
    for (auto& [id, n] : nodes_) {
      if (n->alive && !members_.contains(n->id)) {
        n->cursor = log_.size();
      }
    }
    members_ = std::set<MemberId>(e.members.begin(), e.members.end());
    log_.push_back(std::move(e));
  }

  void Kill(uint32_t node_id) {
    nodes_[node_id]->alive = false;
    ViewChange();
  }

  void Apply(SimNode& n, const ReplicaEffects& effects) {
    for (const ReplicaEffect& e : effects) {
      if (const auto* m = std::get_if<Multicast>(&e)) {
        if (members_.contains(n.id)) {  // a node out of the group sends nothing
          BusEvent ev;
          ev.sender = n.id;
          ev.payload = m->payload;
          log_.push_back(std::move(ev));
        }
      } else if (const auto* r = std::get_if<Reply>(&e)) {
        REQUIRE(n.requests.contains(r->request_id));
        REQUIRE_FALSE(n.requests[r->request_id].has_value());  // answered once
        n.requests[r->request_id] = r->answer.status();
      } else if (const auto* l = std::get_if<ReplicaLog>(&e)) {
        n.logs.push_back(l->text);
      }
    }
  }

  // Delivers the next event to `n`; false when it has none.
  bool DeliverOne(SimNode& n) {
    if (!n.alive || n.cursor >= log_.size()) {
      return false;
    }
    const BusEvent& e = log_[n.cursor++];
    if (e.is_view) {
      bool in = false;
      for (const MemberId& m : e.members) {
        in = in || m == n.id;
      }
      if (in) {
        BusEvent copy = e;
        Apply(n, n.replica->OnViewChange(copy.view_id, copy.members));
      }
      return true;
    }
    const std::string payload = e.payload;
    const MemberId sender = e.sender;
    Apply(n, n.replica->OnMessage(sender, payload));
    return true;
  }

  // Delivers one event to a random live node that has one.
  bool Step() {
    std::vector<SimNode*> ready;
    for (auto& [id, n] : nodes_) {
      if (n->alive && n->cursor < log_.size()) {
        ready.push_back(n.get());
      }
    }
    if (ready.empty()) {
      return false;
    }
    DeliverOne(*ready[rng_() % ready.size()]);
    return true;
  }

  void Drain() {
    for (int i = 0; i < 1000000 && Step(); ++i) {
    }
  }

  // A random write at `n`.
  void RandomWrite(SimNode& n) {
    const uint64_t request = ++next_request_;
    n.requests[request] = std::nullopt;
    std::vector<WriteOp> ops;
    const int kind = static_cast<int>(rng_() % 10);
    WriteOptions options;
    options.client_name = "sim";
    if (kind < 4) {
      const std::string id = absl::StrCat("r", n.id.node_id, "-", request);
      n.created[request] = id;
      ops.push_back(CreateOp{
          {.scope = "resources"},
          absl::StrCat(
              "<primitive id=\"", id, "\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"/>")});
    } else if (kind < 7) {
      ops.push_back(ModifyOp{
          {}, absl::StrCat("<primitive id=\"shared\" description=\"", rng_() % 1000, "\"/>")});
    } else if (kind < 9) {
      ops.push_back(ModifyOp{{.scope = "status"},
                             absl::StrCat("<node_state id=\"",
                                          n.id.node_id,
                                          "\" uname=\"node",
                                          n.id.node_id,
                                          "\" seen=\"",
                                          request,
                                          "\"/>"),
                             true});
    } else {
      ops.push_back(BumpOp{});
    }
    Apply(n, n.replica->Submit(request, PrivilegedRequester(), std::move(ops), false, options));
  }

  SimNode& node(uint32_t id) { return *nodes_.at(id); }
  std::mt19937& rng() { return rng_; }
  std::vector<SimNode*> Live() {
    std::vector<SimNode*> out;
    for (auto& [id, n] : nodes_) {
      if (n->alive) {
        out.push_back(n.get());
      }
    }
    return out;
  }

 private:
  std::mt19937 rng_;
  std::vector<BusEvent> log_;
  std::map<uint32_t, std::unique_ptr<SimNode>> nodes_;
  std::set<MemberId> members_;
  uint64_t view_id_ = 0;
  uint64_t next_request_ = 0;
  int restarts_ = 0;
};

CibDocument BaseCib() {
  CibDocument doc;
  auto r = ApplyWrite(
      doc,
      CreateOp{{.scope = "resources"},
               R"(<primitive id="shared" class="ocf" provider="pacemaker" type="Dummy"/>)"});
  REQUIRE(r.ok());
  return std::move(r->document);
}

// Runs writes at random live nodes, interleaved with deliveries.
void RunWrites(Bus& bus, int writes) {
  for (int i = 0; i < writes; ++i) {
    std::vector<SimNode*> live = bus.Live();
    bus.RandomWrite(*live[bus.rng()() % live.size()]);
    const int steps = static_cast<int>(bus.rng()() % 6);
    for (int s = 0; s < steps; ++s) {
      bus.Step();
    }
  }
}

// Every live node synced, nothing pending, every request answered, same digest; every
// acknowledged create is in the CIB.
void CheckConverged(Bus& bus) {
  std::vector<SimNode*> live = bus.Live();
  REQUIRE_FALSE(live.empty());
  const std::string digest = live.front()->core->document().Digest();
  for (SimNode* n : live) {
    INFO("node " << n->id.node_id);
    REQUIRE(n->replica->state() == CibReplica::State::kSynced);
    REQUIRE(n->replica->pending() == 0);
    REQUIRE(n->core->document().Digest() == digest);
    REQUIRE(n->core->document().Version() == live.front()->core->document().Version());
    for (const auto& [request, answer] : n->requests) {
      REQUIRE(answer.has_value());
      if (answer->ok() && n->created.contains(request)) {
        const std::string xpath = "//primitive[@id='" + n->created.at(request) + "']";
        REQUIRE(n->core->document().Root().select_node(xpath.c_str()));
      }
    }
  }
}

TEST_CASE("replica: concurrent writes from three nodes end identical, over many seeds") {
  int ok_writes = 0;
  for (uint32_t seed = 1; seed <= 150; ++seed) {
    INFO("seed " << seed);
    Bus bus(seed);
    for (uint32_t id = 1; id <= 3; ++id) {
      bus.AddNode(id, BaseCib());
    }
    bus.ViewChange();
    RunWrites(bus, 30);
    bus.Drain();
    CheckConverged(bus);
    for (SimNode* n : bus.Live()) {
      for (const auto& [r, a] : n->requests) {
        ok_writes += a->ok() ? 1 : 0;
      }
    }
  }
  CHECK(ok_writes > 150 * 25);  // races are retried, not lost
}

TEST_CASE("replica: a node restarted with an older CIB is brought forward") {
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    INFO("seed " << seed);
    Bus bus(seed);
    for (uint32_t id = 1; id <= 3; ++id) {
      bus.AddNode(id, BaseCib());
    }
    bus.ViewChange();
    RunWrites(bus, 10);
    bus.Drain();
    CibDocument old = bus.node(3).core->document().Clone();
    bus.Kill(3);
    RunWrites(bus, 10);
    bus.Drain();
    const CibVersion newest = bus.node(1).core->document().Version();
    REQUIRE(old.Version() < newest);
    bus.AddNode(3, std::move(old));
    bus.ViewChange();
    RunWrites(bus, 10);  // writes race with the sync, at all three
    bus.Drain();
    CheckConverged(bus);
    CHECK(bus.node(3).core->document().Version() >= newest);
  }
}

TEST_CASE("replica: a node with a newer admin_epoch wins the sync") {
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    INFO("seed " << seed);
    Bus bus(seed);
    for (uint32_t id = 1; id <= 3; ++id) {
      bus.AddNode(id, BaseCib());
    }
    bus.ViewChange();
    RunWrites(bus, 10);
    bus.Drain();
    CibDocument edited = bus.node(2).core->document().Clone();
    bus.Kill(2);
    RunWrites(bus, 10);
    bus.Drain();
    // An administrator raised admin_epoch on node 2's copy while it was down.
    auto marked = ApplyWrite(
        edited,
        CreateOp{
            {.scope = "resources"},
            R"(<primitive id="admin-marker" class="ocf" provider="pacemaker" type="Dummy"/>)"});
    REQUIRE(marked.ok());
    CibDocument newer = std::move(marked->document);
    CibVersion v = newer.Version();
    v.admin_epoch += 1;
    newer.SetVersion(v);
    // Its copy replaces what the others wrote meanwhile: those writes are expected to be lost.
    for (SimNode* n : bus.Live()) {
      n->created.clear();
    }
    bus.AddNode(2, std::move(newer));
    bus.ViewChange();
    bus.Drain();
    CheckConverged(bus);
    CHECK(bus.node(1).core->document().Version().admin_epoch == v.admin_epoch);
    CHECK(bus.node(1).core->document().Root().select_node("//primitive[@id='admin-marker']"));
    // The merge is logged at every member, naming the copy kept and the ones replaced.
    for (SimNode* n : bus.Live()) {
      bool logged = false;
      for (const std::string& line : n->logs) {
        logged = logged || (line.find("CIB copies differed in the group; kept the newest") !=
                                std::string::npos &&
                            line.find(absl::StrCat("kept=", ToString(v))) != std::string::npos);
      }
      CHECK(logged);
    }
    RunWrites(bus, 10);
    bus.Drain();
    CheckConverged(bus);
  }
}

TEST_CASE("replica: a burst of concurrent writes on every node all succeed") {
  // Each origin has one write in flight: its own writes do not race each other, so none runs
  // out of tries even when 20 arrive at once on each of three nodes (60 sent together from one
  // version made the last ones fail with ABORTED).
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    INFO("seed " << seed);
    Bus bus(seed);
    for (uint32_t id = 1; id <= 3; ++id) {
      bus.AddNode(id, BaseCib());
    }
    bus.ViewChange();
    bus.Drain();
    for (int i = 0; i < 20; ++i) {
      for (SimNode* n : bus.Live()) {
        bus.RandomWrite(*n);
      }
    }
    bus.Drain();
    CheckConverged(bus);
    for (SimNode* n : bus.Live()) {
      for (const auto& [request, answer] : n->requests) {
        INFO("node " << n->id.node_id << " request " << request);
        REQUIRE(answer.has_value());
        CHECK(answer->ok());
      }
    }
  }
}

TEST_CASE("replica: a node whose digest differs after applying takes a full copy") {
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    INFO("seed " << seed);
    Bus bus(seed);
    for (uint32_t id = 1; id <= 3; ++id) {
      bus.AddNode(id, BaseCib());
    }
    bus.ViewChange();
    RunWrites(bus, 5);
    bus.Drain();
    // Node 3's copy silently differs at the same version (a bug, a bad disk).
    CibDocument bad = bus.node(3).core->document().Clone();
    bad.Section("resources").append_child("primitive").append_attribute("id") = "ghost";
    REQUIRE(bus.node(3).core->Install(std::move(bad), ChangeInfo{"test"}).ok());
    RunWrites(bus, 15);
    bus.Drain();
    CheckConverged(bus);
    CHECK_FALSE(bus.node(3).core->document().Root().select_node("//primitive[@id='ghost']"));
  }
}

TEST_CASE("replica: without quorum configuration writes are refused unless forced") {
  Bus bus(7);
  SimNode& n = bus.AddNode(1, BaseCib());
  bus.ViewChange();
  bus.Drain();
  n.core->SetQuorum(false);
  n.requests[100] = std::nullopt;
  bus.Apply(n, n.replica->Submit(100, PrivilegedRequester(), {BumpOp{}}, false, {}));
  REQUIRE(n.requests[100].has_value());
  CHECK(absl::IsFailedPrecondition(*n.requests[100]));
  WriteOptions force;
  force.force = true;
  n.requests[101] = std::nullopt;
  bus.Apply(n, n.replica->Submit(101, PrivilegedRequester(), {BumpOp{}}, false, force));
  bus.Drain();
  REQUIRE(n.requests[101].has_value());
  CHECK(n.requests[101]->ok());
}

}  // namespace
}  // namespace ha::cib
