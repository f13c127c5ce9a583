// The totem core in the deterministic simulator: scripted scenarios, then thousands of random
// runs (partitions, loss, duplication, reordering, kills and restarts) with the safety invariants
// checked on every run and convergence after the network heals. A failing seed prints itself and
// replays with HA_TOTEM_SEED=<seed>.
#include "tests/sim/totem_sim.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "config/cluster_config.h"
#include "membershipd/totem_options.h"
#include "tests/seeded_runs.h"
#include "tests/sim/sim_options.h"
#include "tests/sim/totem_invariants.h"

namespace ha::sim {
namespace {

using membership::TotemOptions;
using membership::TotemState;

// How long after the network heals every live node must be in one ring: a token loss, a failed
// consensus round, a merge detect and a clean gather, with slack for a second round.
absl::Duration ConvergenceBound(const TotemOptions& o) {
  return 3 * (o.token + o.consensus + o.merge);
}

std::string DeliveredEverywhere(const TotemSim& sim, const std::vector<std::string>& payloads) {
  for (NodeId id : sim.AliveNodes()) {
    const Incarnation& inc = sim.incarnations()[sim.current_incarnation(id)];
    for (const std::string& p : payloads) {
      bool found = false;
      for (const Recorded& r : inc.history) {
        found = found || (r.kind == Recorded::kDelivery && r.payload == p);
      }
      if (!found) {
        return absl::StrCat(inc.Name(), " never delivered '", p, "'");
      }
    }
  }
  return "";
}

TEST_CASE("three nodes form one ring and deliver in one order") {
  TotemSim sim(3, 1, FastOptions());
  sim.RunFor(absl::Seconds(2));
  REQUIRE(CheckConverged(sim) == "");
  std::vector<std::string> sent;
  for (int i = 0; i < 50; ++i) {
    sent.push_back(sim.Submit(static_cast<NodeId>(1 + i % 3), i % 7 == 0));
    sim.RunFor(absl::Microseconds(300));
  }
  sim.RunFor(absl::Seconds(1));
  CHECK(DeliveredEverywhere(sim, sent) == "");
  CHECK(CheckSafety(sim) == "");
}

TEST_CASE("a killed node leaves the ring within token + consensus") {
  const TotemOptions o = FastOptions();
  TotemSim sim(3, 2, o);
  sim.RunFor(absl::Seconds(2));
  REQUIRE(CheckConverged(sim) == "");
  sim.Kill(3);
  const absl::Time killed = sim.now();
  absl::Time converged_at;
  while (sim.now() - killed < absl::Seconds(5)) {
    sim.RunFor(absl::Milliseconds(5));
    if (CheckConverged(sim) == "") {
      converged_at = sim.now();
      break;
    }
  }
  REQUIRE(CheckConverged(sim) == "");
  CHECK(converged_at - killed <= o.token + o.consensus + absl::Milliseconds(50));
  sim.Restart(3);
  sim.RunFor(ConvergenceBound(o));
  CHECK(CheckConverged(sim) == "");
  CHECK(CheckSafety(sim) == "");
}

TEST_CASE("with the transport's unreachable signal a killed node leaves within a rotation") {
  const TotemOptions o = FastOptions();
  TotemSim sim(3, 5, o);
  NetworkFaults faults;
  faults.unreachable_signal = true;
  sim.SetFaults(faults);
  sim.RunFor(absl::Seconds(2));
  REQUIRE(CheckConverged(sim) == "");
  sim.Kill(2);
  const absl::Time killed = sim.now();
  while (CheckConverged(sim) != "" && sim.now() - killed < absl::Seconds(5)) {
    sim.RunFor(absl::Milliseconds(1));
  }
  CHECK(CheckConverged(sim) == "");
  // An idle rotation is one hold plus a few hops; no token loss, no consensus timeout.
  CHECK(sim.now() - killed < o.hold + o.join + absl::Milliseconds(10));
  CHECK(sim.core(1)->counters().consensus_timeouts == 0);
  CHECK(CheckSafety(sim) == "");
}

TEST_CASE("a partition splits the ring and heals into one, keeping virtual synchrony") {
  const TotemOptions o = FastOptions();
  TotemSim sim(5, 3, o);
  sim.RunFor(absl::Seconds(1));
  REQUIRE(CheckConverged(sim) == "");
  sim.Partition({{1, 2}, {3, 4, 5}});
  for (int i = 0; i < 200; ++i) {
    sim.Submit(static_cast<NodeId>(1 + i % 5));
    sim.RunFor(absl::Milliseconds(5));
  }
  CHECK(sim.core(1)->members() == std::vector<NodeId>{1, 2});
  CHECK(sim.core(4)->members() == std::vector<NodeId>{3, 4, 5});
  sim.Heal();
  sim.RunFor(ConvergenceBound(o));
  CHECK(CheckConverged(sim) == "");
  CHECK(CheckSafety(sim) == "");
}

TEST_CASE("a graceful leave shrinks the ring without waiting for timeouts") {
  const TotemOptions o = FastOptions();
  TotemSim sim(3, 4, o);
  sim.RunFor(absl::Seconds(1));
  REQUIRE(CheckConverged(sim) == "");
  sim.Leave(2);
  const absl::Time left = sim.now();
  while (CheckConverged(sim) != "" && sim.now() - left < absl::Seconds(5)) {
    sim.RunFor(absl::Milliseconds(1));
  }
  CHECK(CheckConverged(sim) == "");
  CHECK(sim.core(1)->members() == std::vector<NodeId>{1, 3});
  // No token loss, no consensus timeout: a couple of join rounds.
  CHECK(sim.now() - left < o.join * 3);
  CHECK(sim.core(1)->counters().operational_token_lost == 0);
}

// The "5% packet loss causes no membership change", with the daemon's default timers
// for each cluster size: after the ring formed, loss alone (no partition, no kill) must not cost
// a token or change the membership, idle or carrying traffic.
TEST_CASE("5% loss changes no membership with the default timers") {
  for (int n : {3, 5, 8, 16}) {
    for (uint32_t seed = 1; seed <= 3; ++seed) {
      config::ClusterConfig config;
      for (int i = 1; i <= n; ++i) {
        config::NodeConfig node;
        node.nodeid = static_cast<uint32_t>(i);
        config.nodes.push_back(node);
      }
      TotemSim sim(n, seed, membership::TotemOptionsFromConfig(config, 1));
      sim.RunFor(absl::Seconds(3));
      REQUIRE(CheckConverged(sim) == "");
      std::map<NodeId, uint64_t> gathers_before;
      for (NodeId id : sim.nodes()) {
        gathers_before[id] = sim.core(id)->counters().gather_entered;
      }
      NetworkFaults faults;
      faults.drop = 0.05;
      sim.SetFaults(faults);
      std::mt19937_64 rng(seed);
      const absl::Time end = sim.now() + absl::Seconds(30);
      while (sim.now() < end) {
        // Half the time idle (the held token), half the time busy.
        if (absl::ToInt64Seconds(end - sim.now()) % 10 < 5) {
          sim.Submit(static_cast<NodeId>(1 + rng() % n));
        }
        sim.RunFor(absl::Milliseconds(5));
      }
      INFO(n << " nodes, seed " << seed);
      for (NodeId id : sim.nodes()) {
        CHECK(sim.core(id)->counters().operational_token_lost == 0);
        CHECK(sim.core(id)->counters().gather_entered == gathers_before[id]);
      }
      CHECK(CheckSafety(sim) == "");
    }
  }
}

std::string RandomRun(uint32_t seed, int min_nodes, int max_nodes, absl::Duration chaos) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const TotemOptions o = FastOptions();
  const int n = pick(min_nodes, max_nodes);
  TotemSim sim(n, seed, o);

  NetworkFaults faults;
  faults.drop = chance(0.3) ? 0.0 : pick(1, 20) / 100.0;
  faults.duplicate = chance(0.5) ? 0.0 : pick(1, 10) / 100.0;
  faults.max_delay = absl::Microseconds(pick(100, chance(0.2) ? 30000 : 2000));
  faults.unreachable_signal = chance(0.5);
  sim.SetFaults(faults);

  const absl::Time chaos_end = sim.now() + chaos;
  while (sim.now() < chaos_end) {
    const int messages = pick(0, 4);
    for (int i = 0; i < messages; ++i) {
      sim.Submit(static_cast<NodeId>(pick(1, n)), chance(0.1));
    }
    if (chance(0.04)) {
      std::vector<std::vector<NodeId>> groups(pick(2, 3));
      for (NodeId id : sim.nodes()) {
        groups[pick(0, static_cast<int>(groups.size()) - 1)].push_back(id);
      }
      sim.Partition(groups);
    }
    if (chance(0.04)) {
      sim.Heal();
    }
    if (chance(0.02) && sim.AliveNodes().size() > 1) {
      const auto alive = sim.AliveNodes();
      sim.Kill(alive[pick(0, static_cast<int>(alive.size()) - 1)]);
    }
    if (chance(0.03)) {
      const NodeId id = static_cast<NodeId>(pick(1, n));
      if (!sim.alive(id)) {
        sim.Restart(id);
      }
    }
    sim.RunFor(absl::Milliseconds(pick(1, 60)));
  }

  sim.Heal();
  sim.SetFaults(NetworkFaults{});
  sim.RunFor(ConvergenceBound(o));
  std::string error = CheckSafety(sim);
  if (!error.empty()) {
    return error;
  }
  error = CheckConverged(sim);
  if (!error.empty()) {
    return absl::StrCat(ConvergenceBound(o) / absl::Milliseconds(1), " ms after healing: ", error);
  }
  std::vector<std::string> after;
  for (NodeId id : sim.AliveNodes()) {
    after.push_back(sim.Submit(id));
  }
  sim.RunFor(absl::Seconds(1));
  error = DeliveredEverywhere(sim, after);
  if (error.empty()) {
    error = CheckSafety(sim);
  }
  return error;
}

TEST_CASE("random runs of 2 to 8 nodes keep the invariants and converge after healing") {
  ha::testing::RunSeeds(
      "HA_TOTEM_SEED", 1000, [](uint32_t seed) { return RandomRun(seed, 2, 8, absl::Seconds(2)); });
}

TEST_CASE("random runs of 9 to 16 nodes", "[.long]") {
  ha::testing::RunSeeds(
      "HA_TOTEM_SEED", 200, [](uint32_t seed) { return RandomRun(seed, 9, 16, absl::Seconds(3)); });
}

}  // namespace
}  // namespace ha::sim
