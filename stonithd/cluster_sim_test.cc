// FencingCluster on a simulated agreed-order bus (cluster_sim.h): three nodes n1..n3 (node ids
// 1..3); n1 holds no device, n2's device fences fake-a, fake-b, n1, n2 and n3, n3's fences fake-b,
// n1 and n2. Over many seeds: every member ends with the same history, each request is executed
// exactly once (by the lowest capable node that is not the target), a request for a target being
// fenced is merged; an executor that fails or leaves hands over to the next capable node, or the
// request fails cleanly everywhere.
#include "stonithd/cluster_sim.h"

#include <catch2/catch.hpp>
#include <random>

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
  void Device(const std::string& node, const std::string& id, const std::string& hosts) {
    absl::StatusOr<FenceDevice> d = MakeFenceDevice(id, "fence_dummy", {{"pcmk_host_list", hosts}});
    REQUIRE(d.ok());
    nodes.at(node)->cluster().core().RegisterDevice(*d);
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
    for (const auto& [name, node] : nodes) {
      for (const RunAgent& run : node->runs()) {
        if (run.action == "off" || run.action == "reboot") {
          attempts.insert(run.op_id);
        }
      }
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
  CHECK_FALSE(DecodeWire("hello").ok());
  CHECK_FALSE(DecodeWire("stonithd-fencing 1 shout\nid=x\n").ok());
}

TEST_CASE("cluster fencing: one executor, chosen deterministically") {
  Cluster c(1);
  std::string a = c.Fence("n1", "fake-a", absl::ZeroDuration());
  std::string b = c.Fence("n3", "fake-b", absl::Seconds(10));
  std::string n2 = c.Fence("n1", "n2", absl::Seconds(20));
  std::string none = c.Fence("n2", "nobody", absl::Seconds(30));
  c.world.RunFor(absl::Minutes(2));
  REQUIRE(c.SameHistories() == "");
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
  CHECK(c.nodes["n2"]->Last(none)->state == FenceState::kFailed);
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
    const std::string witness = "n1";  // never killed
    for (const auto& [id, node] : origin) {
      const FenceRecord* r = c.Find(witness, id);
      if (r == nullptr) {
        if (kill && node == victim) {
          continue;  // its request may have died with it
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
      if (!kill && !failures) {
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

}  // namespace
}  // namespace ha::stonithd
