// FencingCluster on a simulated agreed-order bus (cluster_sim.h): three nodes n1..n3 (node ids
// 1..3); n1 holds no device, n2's device fences fake-a, fake-b, n1, n2 and n3, n3's fences fake-b,
// n1 and n2. Over many seeds: every member ends with the same history, each request is executed
// exactly once (by the lowest capable node that is not the target), a request for a target being
// fenced is merged; an executor that fails or leaves hands over to the next capable node, or the
// request fails cleanly everywhere. A node whose fencing succeeds while it runs (the sim's devices
// kill nothing) stops; its old stonithd, back after a heal or a new session, is refused and told;
// a new stack of it is accepted.
#include "stonithd/cluster_sim.h"

#include <catch2/catch.hpp>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/seeded_runs.h"

namespace ha::stonithd {
namespace {

std::string Line(const FenceRecord& r) {
  return absl::StrCat(r.id,
                      " ",
                      r.target,
                      " ",
                      FenceActionName(r.action),
                      " ",
                      FenceStateName(r.state),
                      " device=",
                      r.device,
                      " delegate=",
                      r.delegate,
                      " origin=",
                      r.origin,
                      " client=",
                      r.client,
                      " requested=",
                      absl::ToUnixMillis(r.requested),
                      " completed=",
                      absl::ToUnixMillis(r.completed),
                      " reason=",
                      r.exit_reason,
                      " merged_into=",
                      r.merged_into);
}

std::string Dump(const FencingCluster& c) {
  std::string out;
  for (const FenceRecord& r : c.finished()) {
    absl::StrAppend(&out, Line(r), "\n");
  }
  return out;
}

struct Cluster {
  sim::World world;
  sim::Bus bus;
  std::mt19937_64 rng;
  std::map<std::string, std::unique_ptr<sim::ClusterNode>> nodes;
  std::vector<std::unique_ptr<sim::ClusterNode>> retired;  // restarted: kept for their callbacks
  std::map<std::string, std::vector<FenceDevice>> devices;
  // How an agent run goes, by device (defaults: 0.5-3 s, success).
  std::function<sim::AgentReply(const std::string& node, const RunAgent&)> agent;
  int next_id = 1;

  explicit Cluster(uint64_t seed) : bus(world, seed * 7 + 1), rng(seed) {
    agent = [this](const std::string&, const RunAgent&) {
      sim::AgentReply reply;
      reply.duration = Uniform(500, 3000);
      return reply;
    };
    for (uint32_t i = 1; i <= 3; ++i) {
      FencingClusterOptions options;
      options.core.local_node = absl::StrCat("n", i);
      options.core.seed = seed * 3 + i;
      options.answer_slack = absl::Seconds(5);
      options.incarnation = absl::StrCat("n", i, "-", 100 + i);
      const std::string name = options.core.local_node;
      nodes[name] = std::make_unique<sim::ClusterNode>(
          world, bus, GroupMember{i, 100 + i}, options, [this, name](const RunAgent& run) {
            return agent(name, run);
          });
    }
    Device("n2", "d2", "fake-a,fake-b,n1,n2,n3");
    Device("n3", "d3", "fake-b,n1,n2");
    for (auto& [name, node] : nodes) {
      bus.Join(node.get());
    }
    world.RunFor(absl::Seconds(1));
  }
  absl::Duration Uniform(int64_t lo_ms, int64_t hi_ms) {
    return absl::Milliseconds(std::uniform_int_distribution<int64_t>(lo_ms, hi_ms)(rng));
  }
  // The same topology level on every node (as from the CIB).
  void Level(const std::string& target, int index, std::vector<std::string> devices) {
    FencingLevel level;
    level.target.node = target;
    level.index = index;
    level.devices = std::move(devices);
    REQUIRE(topology.Add(level).ok());
    for (auto& [name, node] : nodes) {
      node->cluster().core().SetTopology(topology);
    }
  }
  FencingTopology topology;
  void Device(const std::string& node, const std::string& id, const std::string& hosts) {
    absl::StatusOr<FenceDevice> d = MakeFenceDevice(id, "fence_dummy", {{"pcmk_host_list", hosts}});
    REQUIRE(d.ok());
    nodes.at(node)->cluster().core().RegisterDevice(*d);
    devices[node].push_back(*d);
  }
  // `node`'s stonithd loses its session of the group after `after` and joins again `away` later,
  // keeping its history.
  void Rejoin(const std::string& node, absl::Duration after, absl::Duration away) {
    world.At(world.now() + after, [this, node, away] {
      sim::ClusterNode* n = nodes.at(node).get();
      if (!n->alive()) {
        return;  // stopped (fenced): its stack is gone
      }
      bus.Leave(n->id());
      n->Feed(GroupLost{"test"});
      world.At(world.now() + away, [this, n] {
        if (n->alive()) {
          bus.Join(n);
        }
      });
    });
  }
  // A new stonithd on `node` (a new pid, an empty history) joins the group after `after`; the
  // old instance, if alive, is killed and leaves first.
  void Restart(const std::string& node, absl::Duration after, uint64_t seed) {
    world.At(world.now() + after, [this, node, seed] {
      sim::ClusterNode* old = nodes.at(node).get();
      if (old->alive()) {
        old->Kill();
        bus.Leave(old->id());
      }
      const uint32_t i = old->id().node_id;
      FencingClusterOptions options;
      options.core.local_node = node;
      options.core.seed = seed;
      options.answer_slack = absl::Seconds(5);
      options.incarnation = absl::StrCat(node, "-", old->id().pid + 100);
      retired.push_back(std::move(nodes.at(node)));
      nodes[node] = std::make_unique<sim::ClusterNode>(
          world,
          bus,
          GroupMember{i, old->id().pid + 100},
          options,
          [this, node](const RunAgent& run) { return agent(node, run); });
      for (const FenceDevice& d : devices[node]) {
        nodes[node]->cluster().core().RegisterDevice(d);
      }
      nodes[node]->cluster().core().SetTopology(topology);
      bus.Join(nodes[node].get());
    });
  }
  // Requests fencing at `node` after `after`; returns the request id.
  std::string Fence(const std::string& node,
                    const std::string& target,
                    absl::Duration after,
                    FenceAction action = FenceAction::kReboot) {
    std::string id = absl::StrCat("req-", next_id++);
    sim::ClusterNode* n = nodes.at(node).get();
    world.At(world.now() + after, [n, id, target, action] {
      RequestFence r;
      r.id = id;
      r.target = target;
      r.action = action;
      r.origin = n->name();
      r.client = "test";
      r.timeout = absl::Seconds(20);
      n->Feed(LocalFence{r});
    });
    return id;
  }
  void Kill(const std::string& node, absl::Duration after, absl::Duration detected) {
    sim::ClusterNode* n = nodes.at(node).get();
    world.At(world.now() + after, [this, n, detected] {
      n->Kill();
      world.At(world.now() + detected, [this, n] { bus.Leave(n->id()); });
    });
  }
  // Executions (attempts that ran an off or reboot, however often the agent was retried) per
  // request id, over all nodes.
  std::map<std::string, int> Executions() const {
    std::set<std::string> attempts;
    auto count = [&attempts](const sim::ClusterNode& node) {
      for (const RunAgent& run : node.runs()) {
        if (run.action == "off" || run.action == "reboot") {
          attempts.insert(run.op_id);
        }
      }
    };
    for (const auto& [name, node] : nodes) {
      count(*node);
    }
    for (const auto& node : retired) {
      count(*node);
    }
    std::map<std::string, int> out;
    for (const std::string& attempt : attempts) {
      ++out[attempt.substr(0, attempt.rfind('/'))];
    }
    return out;
  }
  const FenceRecord* Find(const std::string& node, const std::string& id) {
    for (const FenceRecord& r : nodes.at(node)->cluster().finished()) {
      if (r.id == id) {
        return &r;
      }
    }
    return nullptr;
  }
  // "" when the living nodes' histories are the same.
  std::string SameHistories() {
    std::string first;
    std::string first_name;
    for (const auto& [name, node] : nodes) {
      if (!node->alive()) {
        continue;
      }
      std::string dump = Dump(node->cluster());
      if (first_name.empty()) {
        first = dump;
        first_name = name;
      } else if (dump != first) {
        return absl::StrCat(
            "history of ", first_name, ":\n", first, "history of ", name, ":\n", dump);
      }
    }
    return "";
  }
};

// n1 holds p1 and n2 holds p2, the two power supplies of fake-t: level 1 needs both; level 2 is
// n3's d3t.
void MakeSpread(Cluster& c) {
  c.Device("n1", "p1", "fake-t");
  c.Device("n2", "p2", "fake-t");
  c.Device("n3", "d3t", "fake-t");
  c.Level("fake-t", 1, {"p1", "p2"});
  c.Level("fake-t", 2, {"d3t"});
}

TEST_CASE("cluster wire messages round-trip, escapes included") {
  WireMessage m;
  m.kind = WireMessage::kAnswer;
  m.id = "op-1";
  m.target = "node=2\nx";
  m.action = FenceAction::kOff;
  m.node = "n2";
  m.client = "stonith_admin";
  m.time_ms = 1700000000123;
  m.capable = true;
  m.level = 2;
  m.devices = {"d1", "d2"};
  m.state = FenceState::kDone;
  m.reason = "a \"quoted\" reason";
  absl::StatusOr<WireMessage> back = DecodeWire(EncodeWire(m));
  REQUIRE(back.ok());
  CHECK(back->kind == WireMessage::kAnswer);
  CHECK(back->target == m.target);
  CHECK(back->action == FenceAction::kOff);
  CHECK(back->time_ms == m.time_ms);
  CHECK(back->capable);
  CHECK(back->level == 2);
  CHECK(back->devices == m.devices);
  CHECK(back->state == FenceState::kDone);
  CHECK(back->reason == m.reason);
  CHECK(back->incarnation.empty());
  WireMessage told;
  told.kind = WireMessage::kFenced;
  told.id = "fenced:n3:77-1";
  told.target = "n3";
  told.incarnation = "12-34";
  told.fenced_incarnation = "77-1";
  told.known = "n1=12-34;n3=77-1+78-2";
  told.fenced = "n3=77-1";
  absl::StatusOr<WireMessage> told_back = DecodeWire(EncodeWire(told));
  REQUIRE(told_back.ok());
  CHECK(told_back->kind == WireMessage::kFenced);
  CHECK(told_back->incarnation == told.incarnation);
  CHECK(told_back->fenced_incarnation == told.fenced_incarnation);
  CHECK(told_back->known == told.known);
  CHECK(told_back->fenced == told.fenced);
  CHECK_FALSE(DecodeWire("hello").ok());
  CHECK_FALSE(DecodeWire("stonithd-fencing 1 shout\nid=x\n").ok());
}

TEST_CASE("priority-fencing-delay goes with the requests made in a minority partition") {
  FencingClusterOptions options;
  options.core.local_node = "n1";
  FencingCluster cluster(options);
  FencingOptions cluster_options;
  cluster_options.priority_delay = absl::Seconds(20);
  cluster_options.timeout = absl::Seconds(30);
  cluster.SetClusterOptions(cluster_options);
  cluster.SetNodes({"n1", "n2", "n3", "n4"},
                   {{1, "n1"}, {2, "n2"}, {3, "n3"}, {4, "n4"}},
                   {{"n2", 10}, {"n3", 10}, {"n4", 1}});
  const Now now{absl::UnixEpoch(), absl::UnixEpoch()};
  cluster.Handle(GroupJoined{{1, 11}}, now);
  cluster.Handle(GroupView{{{1, 11}}}, now);  // first in the group: nothing to wait for
  int next = 1;
  auto delay_of = [&](const std::string& target, FenceAction action) {
    RequestFence r;
    r.id = absl::StrCat("r", next++);
    r.target = target;
    r.action = action;
    r.origin = "n1";
    ClusterEffects fx = cluster.Handle(LocalFence{r}, now);
    REQUIRE(fx.multicasts.size() == 1);
    absl::StatusOr<WireMessage> m = DecodeWire(fx.multicasts[0]);
    REQUIRE(m.ok());
    return absl::Milliseconds(m->delay_ms);
  };
  // n1 and n4 against n2 and n3: half the nodes, no majority; n2 and n3 have the top priority.
  cluster.Handle(GroupView{{{1, 11}, {4, 14}}}, now);
  CHECK(delay_of("n2", FenceAction::kReboot) == absl::Seconds(20));
  CHECK(delay_of("n3", FenceAction::kOff) == absl::Seconds(20));
  CHECK(delay_of("n3", FenceAction::kOn) == absl::ZeroDuration());  // unfencing: never
  // A majority partition shoots at once.
  cluster.Handle(GroupView{{{1, 11}, {3, 13}, {4, 14}}}, now);
  CHECK(delay_of("n2", FenceAction::kReboot) == absl::ZeroDuration());
  // The core's default action timeout is stonith-timeout.
  CHECK(cluster.cluster_options().timeout == absl::Seconds(30));
}

TEST_CASE("cluster fencing: one executor, chosen deterministically") {
  Cluster c(1);
  std::string a = c.Fence("n1", "fake-a", absl::ZeroDuration());
  std::string b = c.Fence("n3", "fake-b", absl::Seconds(10));
  std::string n2 = c.Fence("n1", "n2", absl::Seconds(20));
  std::string none = c.Fence("n3", "nobody", absl::Seconds(30));
  c.world.RunFor(absl::Minutes(2));
  REQUIRE(c.SameHistories() == "");
  // n2 survived its own reboot (the sim's devices kill nothing): it learned it and stopped.
  REQUIRE(c.nodes["n2"]->fenced().has_value());
  CHECK_FALSE(c.nodes["n2"]->alive());
  REQUIRE(c.Find("n1", a) != nullptr);
  CHECK(c.Find("n1", a)->state == FenceState::kDone);
  CHECK(c.Find("n1", a)->delegate == "n2");
  CHECK(c.Find("n1", a)->device == "d2");
  CHECK(c.Find("n1", a)->origin == "n1");
  CHECK(c.Find("n1", b)->delegate == "n2");   // the lowest capable node id
  CHECK(c.Find("n1", n2)->delegate == "n3");  // never the target itself
  CHECK(c.Find("n1", n2)->device == "d3");
  CHECK(c.Find("n1", none)->state == FenceState::kFailed);
  CHECK(c.Find("n1", none)->exit_reason == "No fence device");
  auto exec = c.Executions();
  CHECK(exec[a] == 1);
  CHECK(exec[b] == 1);
  CHECK(exec[n2] == 1);
  CHECK(exec[none] == 0);
  // The origin's client saw the final state.
  CHECK(c.nodes["n1"]->Last(a)->state == FenceState::kDone);
  CHECK(c.nodes["n3"]->Last(none)->state == FenceState::kFailed);
}

TEST_CASE("cluster fencing: a request for a target being fenced is merged") {
  Cluster c(2);
  std::string first = c.Fence("n1", "fake-a", absl::ZeroDuration());
  std::string second = c.Fence("n3", "fake-a", absl::Milliseconds(300));
  c.world.RunFor(absl::Minutes(1));
  REQUIRE(c.SameHistories() == "");
  auto exec = c.Executions();
  CHECK(exec[first] + exec[second] == 1);
  REQUIRE(c.Find("n2", second) != nullptr);
  CHECK(c.Find("n2", second)->merged_into == first);
  CHECK(c.Find("n2", second)->state == FenceState::kDone);
  CHECK(c.nodes["n3"]->Last(second)->state == FenceState::kDone);
}

TEST_CASE("cluster fencing: a failing executor hands over to the next capable node") {
  Cluster c(3);
  c.agent = [&c](const std::string& node, const RunAgent&) {
    sim::AgentReply reply;
    reply.duration = c.Uniform(200, 500);
    if (node == "n2") {
      reply.exit_code = 1;
      reply.stderr_reason = "switch unreachable";
    }
    return reply;
  };
  std::string b = c.Fence("n1", "fake-b", absl::ZeroDuration());
  std::string a = c.Fence("n1", "fake-a", absl::ZeroDuration());
  c.world.RunFor(absl::Minutes(1));
  REQUIRE(c.SameHistories() == "");
  CHECK(c.Find("n1", b)->state == FenceState::kDone);
  CHECK(c.Find("n1", b)->delegate == "n3");
  CHECK(c.Find("n1", a)->state == FenceState::kFailed);
  CHECK(c.Find("n1", a)->delegate == "n2");
  CHECK(c.Find("n1", a)->exit_reason == "switch unreachable");
}

TEST_CASE("cluster fencing: the executor leaving fails over, or fails cleanly") {
  Cluster c(4);
  c.agent = [&c](const std::string&, const RunAgent&) {
    sim::AgentReply reply;
    reply.duration = c.Uniform(3000, 4000);
    return reply;
  };
  std::string b = c.Fence("n1", "fake-b", absl::ZeroDuration());
  std::string a = c.Fence("n1", "fake-a", absl::ZeroDuration());
  c.Kill("n2", absl::Seconds(1), absl::Milliseconds(500));
  c.world.RunFor(absl::Minutes(1));
  REQUIRE(c.SameHistories() == "");
  CHECK(c.Find("n3", b)->state == FenceState::kDone);
  CHECK(c.Find("n3", b)->delegate == "n3");
  CHECK(c.Find("n3", a)->state == FenceState::kFailed);
  CHECK(c.Find("n3", a)->exit_reason == "the executing node n2 left");
  CHECK(c.nodes["n1"]->Last(a)->state == FenceState::kFailed);
}

TEST_CASE("cluster fencing: identical histories and one execution per request, many seeds") {
  testing::RunSeeds("HA_STONITH_CLUSTER_SEED", 300, [](uint32_t seed) -> std::string {
    Cluster c(seed);
    std::mt19937_64 rng(seed);
    auto pick = [&rng](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    const std::vector<std::string> targets = {"fake-a", "fake-b", "n1", "n2", "n3", "nobody"};
    const bool kill = pick(3) == 0;
    const bool failures = pick(3) == 0;
    if (failures) {
      c.agent = [&c](const std::string& node, const RunAgent&) {
        sim::AgentReply reply;
        reply.duration = c.Uniform(500, 3000);
        reply.exit_code = node == "n2" && c.Uniform(0, 1) > absl::ZeroDuration() ? 1 : 0;
        return reply;
      };
    }
    std::map<std::string, std::string> origin;  // request id -> origin node
    const int requests = 3 + pick(6);
    for (int i = 0; i < requests; ++i) {
      std::string node = absl::StrCat("n", 1 + pick(3));
      std::string id = c.Fence(node,
                               targets[pick(static_cast<int>(targets.size()))],
                               c.Uniform(0, 8000),
                               pick(4) == 0 ? FenceAction::kOff : FenceAction::kReboot);
      origin[id] = node;
    }
    std::string victim = absl::StrCat("n", 2 + pick(2));
    if (kill) {
      c.Kill(victim, c.Uniform(0, 8000), c.Uniform(100, 1500));
    }
    c.world.RunFor(absl::Minutes(3));
    if (std::string diff = c.SameHistories(); !diff.empty()) {
      return diff;
    }
    std::map<std::string, int> exec = c.Executions();
    // A node fenced while alive (the sim's devices kill nothing) stops, like a killed one: the
    // witness is a node running to the end (it saw every request).
    bool stopped = false;
    std::string witness;
    for (const auto& [name, node] : c.nodes) {
      stopped = stopped || node->fenced().has_value();
      if (witness.empty() && node->alive()) {
        witness = name;
      }
    }
    if (witness.empty()) {
      return "";  // all three fenced one another
    }
    for (const auto& [id, node] : origin) {
      const FenceRecord* r = c.Find(witness, id);
      if (r == nullptr) {
        if (!c.nodes.at(node)->alive()) {
          continue;  // its request may have died with it (killed or fenced)
        }
        return absl::StrCat("request ", id, " from ", node, " missing from the history");
      }
      if (!r->merged_into.empty() || r->within_tolerance) {
        if (exec[id] != 0) {
          return absl::StrCat("merged request ", id, " was executed");
        }
        continue;
      }
      if (r->state == FenceState::kDone && r->delegate == r->target) {
        return absl::StrCat("request ", id, " was executed by its target");
      }
      if (!kill && !failures && !stopped) {
        const bool fenceable = r->target != "nobody";
        if (exec[id] != (fenceable ? 1 : 0) ||
            r->state != (fenceable ? FenceState::kDone : FenceState::kFailed)) {
          return absl::StrCat("request ", id, ": ", exec[id], " executions, ", Line(*r));
        }
      } else if (exec[id] > 2) {
        return absl::StrCat("request ", id, ": ", exec[id], " executions on two capable nodes");
      }
      const FenceRecord* last = c.nodes.at(node)->Last(id);
      if (c.nodes.at(node)->alive() && (last == nullptr || last->state == FenceState::kPending)) {
        return absl::StrCat("the origin of ", id, " was not answered");
      }
    }
    for (const auto& [name, node] : c.nodes) {
      if (node->alive() && node->cluster().running() != 0) {
        return absl::StrCat(name, " still has running operations");
      }
    }
    return "";
  });
}

TEST_CASE("cluster fencing: a node that joins later receives the whole history") {
  Cluster c(5);
  std::string a = c.Fence("n1", "fake-a", absl::ZeroDuration());
  std::string none = c.Fence("n2", "nobody", absl::Seconds(1));
  c.world.RunFor(absl::Seconds(30));
  c.Kill("n3", absl::ZeroDuration(), absl::Milliseconds(500));
  c.world.RunFor(absl::Seconds(2));
  std::string b = c.Fence("n1", "fake-b", absl::ZeroDuration());  // while n3 is away
  c.world.RunFor(absl::Seconds(30));
  c.Restart("n3", absl::ZeroDuration(), 77);
  c.world.RunFor(absl::Seconds(5));
  std::string after = c.Fence("n3", "fake-a", absl::ZeroDuration());
  c.world.RunFor(absl::Seconds(30));
  REQUIRE(c.SameHistories() == "");
  REQUIRE(c.nodes["n3"]->cluster().finished().size() == 4);
  CHECK(c.Find("n3", a)->state == FenceState::kDone);
  CHECK(c.Find("n3", b)->delegate == "n2");
  CHECK(c.Find("n3", none)->exit_reason == "No fence device");
  CHECK(c.Find("n3", after)->state == FenceState::kDone);
  CHECK(c.nodes["n3"]->Last(after)->state == FenceState::kDone);
}

TEST_CASE("cluster fencing: a node joining during operations, many seeds") {
  testing::RunSeeds("HA_STONITH_JOIN_SEED", 300, [](uint32_t seed) -> std::string {
    Cluster c(seed);
    std::mt19937_64 rng(seed);
    auto pick = [&rng](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    std::vector<std::string> targets = {"fake-a", "fake-b", "n1", "n2", "nobody"};
    if (pick(2) == 0) {
      MakeSpread(c);
      targets.push_back("fake-t");
      targets.push_back("fake-t");
    }
    std::map<std::string, std::string> origin;
    const int requests = 4 + pick(8);
    for (int i = 0; i < requests; ++i) {
      std::string node = absl::StrCat("n", 1 + pick(2));  // n1, n2: never restarted
      origin[c.Fence(node,
                     targets[pick(static_cast<int>(targets.size()))],
                     c.Uniform(0, 12000),
                     pick(4) == 0 ? FenceAction::kOff : FenceAction::kReboot)] = node;
    }
    // n3 restarts (a new instance, the old one killed) once or twice while requests run, or
    // loses its session and joins again with its history; or n2 does.
    c.Restart("n3", c.Uniform(0, 6000), seed * 11);
    switch (pick(3)) {
      case 0:
        c.Restart("n3", c.Uniform(6000, 12000), seed * 13);
        break;
      case 1:
        c.Rejoin("n3", c.Uniform(6000, 12000), c.Uniform(100, 8000));
        break;
      default:
        c.Rejoin("n2", c.Uniform(0, 12000), c.Uniform(100, 8000));
        break;
    }
    c.world.RunFor(absl::Minutes(3));
    if (std::string diff = c.SameHistories(); !diff.empty()) {
      return diff;
    }
    for (const auto& [id, node] : origin) {
      const FenceRecord* r = c.Find("n3", id);
      if (r == nullptr) {
        // A request whose origin lost its session before the request was delivered is answered
        // failed there (outcome unknown) and recorded nowhere.
        const FenceRecord* last = c.nodes.at(node)->Last(id);
        if ((last != nullptr && last->state == FenceState::kFailed &&
             absl::StrContains(last->exit_reason, "left the stonithd group")) ||
            !c.nodes.at(node)->alive()) {
          continue;  // (or its origin was fenced and stopped)
        }
        return absl::StrCat("request ", id, " is missing from the history of the new n3");
      }
      const FenceRecord* last = c.nodes.at(node)->Last(id);
      if (c.nodes.at(node)->alive() && (last == nullptr || last->state == FenceState::kPending)) {
        return absl::StrCat("the origin of ", id, " was not answered");
      }
      // (A spread level runs one attempt per device: not counted here.)
      if (r->target != "fake-t" && r->merged_into.empty() && !r->within_tolerance &&
          c.Executions()[id] > 2) {
        return absl::StrCat("request ", id, " executed ", c.Executions()[id], " times");
      }
    }
    for (const auto& [name, node] : c.nodes) {
      if (node->alive() && node->cluster().running() != 0) {
        return absl::StrCat(name, " still has running operations");
      }
    }
    return "";
  });
}

// The parts run for `id`: "action device@node" in order.
std::vector<std::string> Parts(const Cluster& c, const std::string& id) {
  std::vector<std::pair<int64_t, std::string>> runs;
  for (const auto& [name, node] : c.nodes) {
    for (const RunAgent& run : node->runs()) {
      if (run.op_id.substr(0, run.op_id.rfind('/')) == id &&
          (run.action == "off" || run.action == "on" || run.action == "reboot")) {
        runs.emplace_back(std::stoll(run.op_id.substr(run.op_id.rfind('/') + 1)),
                          absl::StrCat(run.action, " ", run.device.id, "@", name));
      }
    }
  }
  std::sort(runs.begin(), runs.end());
  std::vector<std::string> out;
  for (auto& [attempt, text] : runs) {
    out.push_back(text);
  }
  return out;
}

TEST_CASE("cluster fencing: a topology level spread over several nodes") {
  Cluster c(21);
  MakeSpread(c);
  std::string reboot = c.Fence("n3", "fake-t", absl::ZeroDuration());
  c.world.RunFor(absl::Minutes(1));
  std::string off = c.Fence("n3", "fake-t", absl::ZeroDuration(), FenceAction::kOff);
  c.world.RunFor(absl::Minutes(1));
  REQUIRE(c.SameHistories() == "");
  const FenceRecord* r = c.Find("n1", reboot);
  REQUIRE(r != nullptr);
  CHECK(r->state == FenceState::kDone);
  CHECK(r->level == 1);
  CHECK(r->device == "p1,p2");
  CHECK(r->delegate == "n1,n2");
  // Every device off, then every device on, each where it is.
  CHECK(Parts(c, reboot) ==
        std::vector<std::string>{"off p1@n1", "off p2@n2", "on p1@n1", "on p2@n2"});
  CHECK(Parts(c, off) == std::vector<std::string>{"off p1@n1", "off p2@n2"});
  CHECK(c.nodes["n3"]->Last(off)->state == FenceState::kDone);
}

TEST_CASE("cluster fencing: a spread level that fails falls through to the next level") {
  Cluster c(22);
  MakeSpread(c);
  c.agent = [&c](const std::string&, const RunAgent& run) {
    sim::AgentReply reply;
    reply.duration = c.Uniform(200, 800);
    if (run.device.id == "p2") {
      reply.exit_code = 1;
      reply.stderr_reason = "PSU 2 unreachable";
    }
    return reply;
  };
  std::string id = c.Fence("n1", "fake-t", absl::ZeroDuration(), FenceAction::kOff);
  c.world.RunFor(absl::Minutes(1));
  REQUIRE(c.SameHistories() == "");
  const FenceRecord* r = c.Find("n2", id);
  REQUIRE(r != nullptr);
  CHECK(r->state == FenceState::kDone);
  CHECK(r->level == 2);
  CHECK(r->device == "d3t");
  CHECK(r->delegate == "n3");
  std::vector<std::string> parts = Parts(c, id);
  REQUIRE(parts.size() >= 3);
  CHECK(parts.front() == "off p1@n1");
  CHECK(parts.back() == "off d3t@n3");
}

TEST_CASE("cluster fencing: spread levels, many seeds") {
  testing::RunSeeds("HA_STONITH_SPREAD_SEED", 200, [](uint32_t seed) -> std::string {
    Cluster c(seed);
    MakeSpread(c);
    std::mt19937_64 rng(seed);
    auto pick = [&rng](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    const bool failures = pick(2) == 0;
    if (failures) {
      c.agent = [&c](const std::string&, const RunAgent&) {
        sim::AgentReply reply;
        reply.duration = c.Uniform(200, 2000);
        reply.exit_code = c.Uniform(0, 3) == absl::ZeroDuration() ? 1 : 0;
        return reply;
      };
    }
    std::vector<std::string> ids;
    std::map<std::string, std::string> origin;
    const int requests = 1 + pick(4);
    for (int i = 0; i < requests; ++i) {
      const std::string node = absl::StrCat("n", 1 + pick(3));
      ids.push_back(c.Fence(node,
                            pick(3) == 0 ? "fake-a" : "fake-t",
                            c.Uniform(0, 10000),
                            pick(2) == 0 ? FenceAction::kOff : FenceAction::kReboot));
      origin[ids.back()] = node;
    }
    const bool kill = pick(3) == 0;
    if (kill) {
      c.Kill(pick(2) == 0 ? "n1" : "n2", c.Uniform(0, 10000), c.Uniform(100, 1000));
    }
    c.world.RunFor(absl::Minutes(3));
    if (std::string diff = c.SameHistories(); !diff.empty()) {
      return diff;
    }
    for (const std::string& id : ids) {
      const FenceRecord* r = c.Find("n3", id);
      if (r == nullptr) {
        if (!c.nodes.at(origin[id])->alive()) {
          continue;  // its request may have died with it
        }
        return absl::StrCat(id, " missing");
      }
      if (!failures && !kill && r->target == "fake-t" && r->merged_into.empty() &&
          !r->within_tolerance && (r->state != FenceState::kDone || r->level != 1)) {
        return absl::StrCat(id, ": ", Line(*r));
      }
    }
    for (const auto& [name, node] : c.nodes) {
      if (node->alive() && node->cluster().running() != 0) {
        return absl::StrCat(name, " still has running operations");
      }
    }
    return "";
  });
}

// The run ids of `node`'s fencing runs (off, on, reboot) for request `id`.
std::set<int64_t> FenceRuns(const sim::ClusterNode& node, const std::string& id) {
  std::set<int64_t> out;
  for (const RunAgent& run : node.runs()) {
    if (run.op_id.substr(0, run.op_id.rfind('/')) == id && run.action != "list" &&
        run.action != "status") {
      out.insert(run.run_id);
    }
  }
  return out;
}

TEST_CASE("cluster fencing: an executor that loses the group cancels its attempt") {
  Cluster c(31);
  c.agent = [&c](const std::string&, const RunAgent&) {
    sim::AgentReply reply;
    reply.duration = absl::Seconds(6);
    return reply;
  };
  std::string id = c.Fence("n1", "fake-b", absl::ZeroDuration());
  // n2 executes; 1 s later its session ends (it stays alive) and it comes back 3 s later.
  c.Rejoin("n2", absl::Seconds(1), absl::Seconds(3));
  c.world.RunFor(absl::Minutes(1));
  REQUIRE(c.SameHistories() == "");
  const FenceRecord* r = c.Find("n2", id);
  REQUIRE(r != nullptr);
  CHECK(r->state == FenceState::kDone);
  CHECK(r->delegate == "n3");  // failed over; n2's late end did not override it
  // n2's run was killed, not left to complete.
  std::set<int64_t> runs = FenceRuns(*c.nodes["n2"], id);
  REQUIRE(runs.size() == 1);
  const std::vector<int64_t>& cancelled = c.nodes["n2"]->cancelled();
  CHECK(std::find(cancelled.begin(), cancelled.end(), *runs.begin()) != cancelled.end());
  bool attempt_cancelled = false;
  for (const FenceRecord& attempt : c.nodes["n2"]->cluster().core().History("fake-b")) {
    if (attempt.id == id + "/1") {
      attempt_cancelled = attempt.state == FenceState::kFailed &&
                          attempt.exit_reason == "this node left the stonithd group";
    }
  }
  CHECK(attempt_cancelled);
}

TEST_CASE("cluster fencing: a manual confirmation cancels the running attempt") {
  Cluster c(32);
  c.agent = [&c](const std::string&, const RunAgent&) {
    sim::AgentReply reply;
    reply.duration = absl::Seconds(8);
    return reply;
  };
  std::string id = c.Fence("n1", "fake-a", absl::ZeroDuration());
  c.world.At(c.world.now() + absl::Seconds(2), [&c] {
    c.nodes["n3"]->Feed(LocalConfirm{ConfirmFenced{"confirm-1", "fake-a", "n3", "admin"}});
  });
  c.world.RunFor(absl::Minutes(1));
  REQUIRE(c.SameHistories() == "");
  const FenceRecord* r = c.Find("n1", id);
  REQUIRE(r != nullptr);
  CHECK(r->state == FenceState::kDone);
  CHECK(r->device == kManualAck);
  std::set<int64_t> runs = FenceRuns(*c.nodes["n2"], id);
  REQUIRE(runs.size() == 1);
  const std::vector<int64_t>& cancelled = c.nodes["n2"]->cancelled();
  CHECK(std::find(cancelled.begin(), cancelled.end(), *runs.begin()) != cancelled.end());
}

TEST_CASE("cluster fencing: executors losing the group, many seeds") {
  testing::RunSeeds("HA_STONITH_CANCEL_SEED", 200, [](uint32_t seed) -> std::string {
    Cluster c(seed);
    std::mt19937_64 rng(seed);
    auto pick = [&rng](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    c.agent = [&c](const std::string&, const RunAgent&) {
      sim::AgentReply reply;
      reply.duration = c.Uniform(1000, 6000);
      return reply;
    };
    std::vector<std::string> ids;
    for (int i = 0, n = 2 + pick(5); i < n; ++i) {
      ids.push_back(
          c.Fence("n1", pick(2) == 0 ? "fake-a" : "fake-b", c.Uniform(0, 8000), FenceAction::kOff));
    }
    const std::string node = pick(2) == 0 ? "n2" : "n3";
    c.Rejoin(node, c.Uniform(0, 8000), c.Uniform(100, 5000));
    c.world.RunFor(absl::Minutes(3));
    if (std::string diff = c.SameHistories(); !diff.empty()) {
      return diff;
    }
    // Whatever the executors' sessions did, each request ran at most once to completion: a run
    // that was not cancelled and whose attempt was not the recorded one would be a second
    // fencing.
    for (const std::string& id : ids) {
      const FenceRecord* r = c.Find("n1", id);
      if (r == nullptr) {
        return absl::StrCat(id, " missing");
      }
      int completed = 0;
      for (const auto& [name, n] : c.nodes) {
        const std::vector<int64_t>& cancelled = n->cancelled();
        for (int64_t run : FenceRuns(*n, id)) {
          completed += std::find(cancelled.begin(), cancelled.end(), run) == cancelled.end();
        }
      }
      if (completed > 1 || (r->state == FenceState::kDone && r->merged_into.empty() &&
                            !r->within_tolerance && completed != 1)) {
        return absl::StrCat(id, ": ", completed, " completed runs; ", Line(*r));
      }
    }
    return "";
  });
}

TEST_CASE("cluster fencing: a lost node that comes back during the delay is not shot") {
  Cluster c(41);
  for (auto& [name, node] : c.nodes) {
    node->cluster().SetNodes({"n1", "n2", "n3"}, {{1, "n1"}, {2, "n2"}, {3, "n3"}}, {});
  }
  c.Kill("n3", absl::ZeroDuration(), absl::Milliseconds(300));
  c.world.RunFor(absl::Seconds(1));
  const std::string id = "lost-n3";
  c.world.At(c.world.now(), [&c, id] {
    RequestFence r;
    r.id = id;
    r.target = "n3";
    r.action = FenceAction::kReboot;
    r.origin = "n1";
    r.client = "crmd";
    r.delay = absl::Seconds(8);
    r.only_if_lost = true;
    c.nodes["n1"]->Feed(LocalFence{r});
  });
  c.Restart("n3", absl::Seconds(2), 99);  // back, a new stonithd, before the delay ends
  c.world.RunFor(absl::Minutes(1));
  REQUIRE(c.SameHistories() == "");
  const FenceRecord* r = c.Find("n1", id);
  REQUIRE(r != nullptr);
  CHECK(r->state == FenceState::kFailed);
  CHECK(r->exit_reason == "Not fenced: n3 is a member again");
  CHECK(c.Executions()[id] == 0);
}

// ---- Fenced incarnations: a fenced node that still runs stops; its old stack is refused ----

// Whether any living node other than `except` has `id` in its history.
bool Recorded(Cluster& c, const std::string& id, const std::string& except = "") {
  for (const auto& [name, node] : c.nodes) {
    if (name != except && node->alive() && c.Find(name, id) != nullptr) {
      return true;
    }
  }
  return false;
}

TEST_CASE("cluster fencing: a target that survives its fencing learns it and stops") {
  Cluster c(51);
  std::string id = c.Fence("n1", "n3", absl::ZeroDuration(), FenceAction::kOff);
  c.world.RunFor(absl::Seconds(30));
  REQUIRE(c.Find("n1", id) != nullptr);
  CHECK(c.Find("n1", id)->state == FenceState::kDone);
  CHECK(c.Find("n1", id)->delegate == "n2");
  const sim::ClusterNode& n3 = *c.nodes["n3"];
  REQUIRE(n3.fenced().has_value());
  CHECK_FALSE(n3.alive());
  CHECK(n3.fenced()->op_id == id);
  CHECK(n3.fenced()->executor == "n2");
  CHECK(absl::StrContains(n3.fenced()->why, "We were allegedly just fenced by n2 for test@n1"));
  CHECK(n3.cluster().fenced_self());
  // The others go on without it.
  CHECK(c.nodes["n1"]->cluster().members() == 2);
  std::string b = c.Fence("n1", "fake-b", absl::ZeroDuration());
  c.world.RunFor(absl::Seconds(30));
  REQUIRE(c.SameHistories() == "");
  CHECK(c.Find("n1", b)->state == FenceState::kDone);
  CHECK(c.Find("n1", b)->delegate == "n2");
  // Merely being in the history does not stop a node: an unrelated target, and unfencing.
  std::string on = c.Fence("n2", "n1", absl::ZeroDuration(), FenceAction::kOn);
  c.world.RunFor(absl::Seconds(30));
  CHECK(c.nodes["n1"]->alive());
}

TEST_CASE("cluster fencing: the old stack of a fenced node is refused after a heal") {
  Cluster c(52);
  // n3 is cut off; n1 (with n2) fences it; the fence device did nothing, n3 runs on.
  c.world.At(c.world.now(), [&c] { c.bus.Isolate(c.nodes["n3"].get()); });
  c.world.RunFor(absl::Seconds(1));
  std::string id = c.Fence("n1", "n3", absl::ZeroDuration());
  c.world.RunFor(absl::Seconds(30));
  REQUIRE(c.Find("n1", id) != nullptr);
  CHECK(c.Find("n1", id)->state == FenceState::kDone);
  CHECK(c.nodes["n3"]->alive());  // it saw nothing of it
  // The partition heals with n3's old stonithd, which makes a request at once: it is ignored,
  // n3 is told it was fenced and stops.
  const GroupMember old = c.nodes["n3"]->id();
  std::string stale = "stale-request";
  c.world.At(c.world.now(), [&c, stale] {
    c.bus.Heal(c.nodes["n3"].get());
    RequestFence r;
    r.id = stale;
    r.target = "fake-a";
    r.action = FenceAction::kOff;
    r.origin = "n3";
    r.client = "test";
    c.nodes["n3"]->Feed(LocalFence{r});
  });
  c.world.RunFor(absl::Seconds(20));
  const sim::ClusterNode& n3 = *c.nodes["n3"];
  REQUIRE(n3.fenced().has_value());
  CHECK_FALSE(n3.alive());
  CHECK(n3.fenced()->executor == "n1");  // the lowest member told it
  CHECK(absl::StrContains(n3.fenced()->why, "We were allegedly just fenced"));
  CHECK_FALSE(Recorded(c, stale, "n3"));
  CHECK(c.Executions()[stale] == 0);
  CHECK(c.nodes["n1"]->cluster().members() == 2);
  CHECK(c.nodes["n1"]->cluster().refused().count(old) == 0);  // it left
  // A new stack on n3 (a new stonithd) is accepted: it receives the history, and its requests
  // run.
  c.Restart("n3", absl::ZeroDuration(), 5201);
  c.world.RunFor(absl::Seconds(10));
  REQUIRE(c.nodes["n3"]->alive());
  CHECK(c.nodes["n1"]->cluster().members() == 3);
  CHECK(c.nodes["n1"]->cluster().refused().empty());
  std::string fresh = c.Fence("n3", "fake-a", absl::ZeroDuration());
  c.world.RunFor(absl::Seconds(30));
  REQUIRE(c.SameHistories() == "");
  REQUIRE(c.Find("n3", id) != nullptr);  // the fencing of the old stack, synced
  REQUIRE(c.Find("n1", fresh) != nullptr);
  CHECK(c.Find("n1", fresh)->state == FenceState::kDone);
  CHECK(c.nodes["n3"]->Last(fresh)->state == FenceState::kDone);
  CHECK_FALSE(c.nodes["n3"]->fenced().has_value());
}

TEST_CASE("cluster fencing: fenced incarnations, many seeds") {
  testing::RunSeeds("HA_STONITH_FENCED_SEED", 300, [](uint32_t seed) -> std::string {
    Cluster c(seed);
    std::mt19937_64 rng(seed);
    auto pick = [&rng](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    // The target: n3 (fenced by n2's d2) or n2 (by n3's d3); the origin is n1.
    const int how = pick(3);  // 0: in the group; 1: cut off, then healed; 2: cut off, rejoins
    std::vector<std::string> others;  // requests of the nodes that are not fenced
    const std::string target = pick(2) == 0 ? "n3" : "n2";
    const std::string bystander = target == "n3" ? "n2" : "n3";
    for (int i = 0, n = pick(5); i < n; ++i) {
      others.push_back(c.Fence(pick(2) == 0 ? "n1" : bystander,
                               pick(2) == 0 ? "fake-a" : "fake-b",
                               c.Uniform(0, 15000),
                               pick(2) == 0 ? FenceAction::kOff : FenceAction::kReboot));
    }
    sim::ClusterNode* victim = c.nodes.at(target).get();
    const absl::Duration cut = c.Uniform(0, 3000);
    if (how != 0) {
      c.world.At(c.world.now() + cut, [&c, victim] { c.bus.Isolate(victim); });
    }
    const std::string id = c.Fence("n1", target, cut + c.Uniform(500, 3000));
    c.world.RunFor(absl::Seconds(40));
    const FenceRecord* r = c.Find("n1", id);
    if (r == nullptr || r->state != FenceState::kDone) {
      return absl::StrCat("the fencing of ", target, ": ", r == nullptr ? "missing" : Line(*r));
    }
    // Back: the same session (a heal) or a new session of the same stonithd.
    const std::string stale = "stale";
    c.world.At(c.world.now() + c.Uniform(0, 2000), [&c, victim, how, stale] {
      if (how == 1) {
        c.bus.Heal(victim);
      } else if (how == 2) {
        victim->Feed(GroupLost{"test"});
        c.bus.Join(victim);
      }
      RequestFence req;
      req.id = stale;
      req.target = "fake-a";
      req.origin = victim->name();
      req.client = "test";
      victim->Feed(LocalFence{req});
    });
    c.world.RunFor(absl::Seconds(30));
    if (!victim->fenced().has_value() || victim->alive()) {
      return absl::StrCat(target, " (", how, ") did not learn that it was fenced");
    }
    if (Recorded(c, stale, target) || c.Executions()[stale] != 0) {
      return "a request of the fenced stack was accepted";
    }
    // A new stack of the target is accepted.
    c.Restart(target, absl::ZeroDuration(), seed * 17);
    c.world.RunFor(absl::Seconds(10));
    const std::string fresh = c.Fence(target, "fake-b", absl::ZeroDuration());
    c.world.RunFor(absl::Minutes(1));
    if (std::string diff = c.SameHistories(); !diff.empty()) {
      return diff;
    }
    const FenceRecord* f = c.Find("n1", fresh);
    if (f == nullptr || f->state != FenceState::kDone) {
      return absl::StrCat("the new stack's request: ", f == nullptr ? "missing" : Line(*f));
    }
    for (const auto& [name, node] : c.nodes) {
      if (!node->alive() || node->cluster().members() != 3 || !node->cluster().refused().empty()) {
        return absl::StrCat(name, " is not in a group of three");
      }
      if (node->cluster().running() != 0) {
        return absl::StrCat(name, " still has running operations");
      }
    }
    for (const std::string& other : others) {
      if (c.Find("n1", other) == nullptr) {
        return absl::StrCat(other, " missing");
      }
    }
    return "";
  });
}

}  // namespace
}  // namespace ha::stonithd
