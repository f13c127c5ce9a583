// Process groups on the simulated totem ring: scripted scenarios, then random runs (clients
// joining, leaving and multicasting, some messages big enough to be fragmented, through
// partitions, kills, restarts, loss, duplication and reordering) with the group-level invariants
// checked on every run and the views checked after the network heals. A failing seed prints
// itself and replays with HA_GROUP_SEED=<seed>.
#include "tests/sim/group_sim.h"

#include <catch2/catch.hpp>
#include <random>

#include "absl/strings/str_cat.h"
#include "tests/seeded_runs.h"
#include "tests/sim/sim_options.h"
#include "tests/sim/totem_invariants.h"

namespace ha::sim {
namespace {

using membership::TotemOptions;

// Runs until the groups converged (the ring formed, synced, every operation delivered), at most
// `limit`.
std::string Settle(GroupSim& sim, absl::Duration limit) {
  const absl::Time end = sim.totem().now() + limit;
  std::string error = CheckGroupsConverged(sim);
  while (!error.empty() && sim.totem().now() < end) {
    sim.totem().RunFor(absl::Milliseconds(20));
    error = CheckGroupsConverged(sim);
  }
  return error;
}

TEST_CASE("three nodes: members join, multicast and leave in one order") {
  GroupSim sim(3, 1, FastOptions());
  REQUIRE(Settle(sim, absl::Seconds(3)) == "");
  std::vector<uint64_t> s;
  for (NodeId id : {1, 2, 3}) {
    s.push_back(sim.Open(id));
    REQUIRE(sim.Join(s.back(), "g").ok());
  }
  for (int i = 0; i < 30; ++i) {
    REQUIRE(sim.Multicast(s[i % 3], "g", i == 7 ? 300000 : 20, i % 5 == 0).ok());
    sim.totem().RunFor(absl::Microseconds(700));
  }
  REQUIRE(sim.Leave(s[1], "g").ok());
  REQUIRE(sim.Close(s[2]).ok());
  REQUIRE(Settle(sim, absl::Seconds(3)) == "");
  CHECK(CheckGroupSafety(sim) == "");
  const auto& first = sim.sessions().at(s[0]);
  size_t messages = 0;
  for (const auto& e : first.events) {
    messages += std::holds_alternative<membership::GroupMessage>(e) ? 1 : 0;
  }
  CHECK(messages == 30);
  CHECK(sim.core(1)->ListGroups().at(0).members.size() == 1);
}

TEST_CASE("a partition keeps each side's groups going and the heal merges them") {
  const TotemOptions o = FastOptions();
  GroupSim sim(5, 2, o);
  REQUIRE(Settle(sim, absl::Seconds(3)) == "");
  std::vector<uint64_t> s;
  for (NodeId id = 1; id <= 5; ++id) {
    s.push_back(sim.Open(id));
    REQUIRE(sim.Join(s.back(), "g").ok());
  }
  REQUIRE(Settle(sim, absl::Seconds(3)) == "");
  sim.totem().Partition({{1, 2}, {3, 4, 5}});
  for (int i = 0; i < 100; ++i) {
    (void)sim.Multicast(s[i % 5], "g", 30, false);
    if (i == 50) {
      REQUIRE(sim.Leave(s[4], "g").ok());
      s[4] = sim.Open(5);
      REQUIRE(sim.Join(s[4], "g").ok());
    }
    sim.totem().RunFor(absl::Milliseconds(10));
  }
  // Each side sees only its own members.
  CHECK(sim.core(1)->ListGroups().at(0).members.size() == 2);
  CHECK(sim.core(3)->ListGroups().at(0).members.size() == 3);
  sim.totem().Heal();
  REQUIRE(Settle(sim, absl::Seconds(5)) == "");
  CHECK(CheckGroupSafety(sim) == "");
  CHECK(sim.core(1)->ListGroups().at(0).members.size() == 5);
}

TEST_CASE("a killed node's members leave with NODEDOWN, its restart comes back empty") {
  GroupSim sim(3, 3, FastOptions());
  REQUIRE(Settle(sim, absl::Seconds(3)) == "");
  const uint64_t a = sim.Open(1);
  const uint64_t c = sim.Open(3);
  REQUIRE(sim.Join(a, "g").ok());
  REQUIRE(sim.Join(c, "g").ok());
  REQUIRE(Settle(sim, absl::Seconds(1)) == "");
  REQUIRE(sim.Multicast(c, "g", 200000, false).ok());
  sim.totem().RunFor(absl::Microseconds(400));  // the big message is on its way
  sim.Kill(3);
  REQUIRE(Settle(sim, absl::Seconds(3)) == "");
  sim.Restart(3);
  REQUIRE(Settle(sim, absl::Seconds(3)) == "");
  CHECK(CheckGroupSafety(sim) == "");
  bool nodedown = false;
  for (const auto& e : sim.sessions().at(a).events) {
    if (const auto* change = std::get_if<membership::GroupChange>(&e)) {
      for (const auto& m : change->left) {
        nodedown = nodedown || (m.node == 3 && m.reason == membership::ChangeReason::kNodeDown);
      }
    }
  }
  CHECK(nodedown);
}

// A busy sender's frames wait in the ring's send queue (flow control) when a node dies: they are
// of the ended configuration, and every node would drop them as stale after the change.
struct StaleCount {
  uint64_t stale = 0;
  uint64_t dropped_unsent = 0;
  std::string error;
};

StaleCount BusySenderThroughAChange(bool drop_stale_frames) {
  GroupSim sim(3, 21, FastOptions());
  sim.set_drop_stale_frames(drop_stale_frames);
  StaleCount out;
  out.error = Settle(sim, absl::Seconds(3));
  if (!out.error.empty()) {
    return out;
  }
  const uint64_t a = sim.Open(1);
  const uint64_t b = sim.Open(2);
  (void)sim.Open(3);
  (void)sim.Join(a, "g");
  (void)sim.Join(b, "g");
  out.error = Settle(sim, absl::Seconds(1));
  for (int i = 0; i < 400 && out.error.empty(); ++i) {
    if (!sim.Multicast(i % 2 == 0 ? a : b, "g", 100, false).ok()) {
      out.error = "a multicast was refused";
    }
  }
  sim.totem().RunFor(absl::Milliseconds(2));
  sim.Kill(3);
  if (out.error.empty()) {
    out.error = Settle(sim, absl::Seconds(3));
  }
  if (out.error.empty()) {
    out.error = CheckGroupSafety(sim);
  }
  out.stale = sim.frames_stale();
  out.dropped_unsent = sim.frames_dropped_unsent();
  return out;
}

TEST_CASE("frames of an ended configuration still queued for the ring are dropped, not sent") {
  const StaleCount kept = BusySenderThroughAChange(false);
  const StaleCount dropped = BusySenderThroughAChange(true);
  INFO("kept: " << kept.stale << " stale deliveries; dropped: " << dropped.stale
                << " stale deliveries, " << dropped.dropped_unsent << " frames dropped unsent");
  CHECK(kept.error == "");
  CHECK(dropped.error == "");
  CHECK(kept.stale > 100);  // both senders' queued frames, at each of the two nodes left
  CHECK(dropped.stale == 0);
  CHECK(dropped.dropped_unsent > 50);
}

std::string RandomRun(uint32_t seed, int min_nodes, int max_nodes, absl::Duration chaos) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const TotemOptions o = FastOptions();
  const int n = pick(min_nodes, max_nodes);
  GroupSim sim(n, seed, o);

  NetworkFaults faults;
  faults.drop = chance(0.3) ? 0.0 : pick(1, 20) / 100.0;
  faults.duplicate = chance(0.5) ? 0.0 : pick(1, 10) / 100.0;
  faults.max_delay = absl::Microseconds(pick(100, chance(0.2) ? 30000 : 2000));
  sim.totem().SetFaults(faults);

  const std::vector<std::string> groups = {"alpha", "beta", "gamma"};
  auto random_group = [&]() { return groups[pick(0, static_cast<int>(groups.size()) - 1)]; };
  auto open_sessions = [&]() {
    std::vector<uint64_t> out;
    for (const auto& [id, s] : sim.sessions()) {
      if (s.open) {
        out.push_back(id);
      }
    }
    return out;
  };
  auto random_session = [&]() -> uint64_t {
    const auto open = open_sessions();
    return open.empty() ? 0 : open[pick(0, static_cast<int>(open.size()) - 1)];
  };

  const absl::Time chaos_end = sim.totem().now() + chaos;
  while (sim.totem().now() < chaos_end) {
    if (chance(0.2) && open_sessions().size() < static_cast<size_t>(3 * n)) {
      const NodeId node = static_cast<NodeId>(pick(1, n));
      uint32_t pid = 0;
      if (chance(0.2)) {  // another session of a process that has one
        for (const auto& [id, s] : sim.sessions()) {
          if (s.open && s.node == node) {
            pid = s.pid;
          }
        }
      }
      sim.Open(node, pid);
    }
    if (chance(0.03)) {
      if (const uint64_t s = random_session()) {
        (void)sim.Close(s);
      }
    }
    if (chance(0.2)) {
      if (const uint64_t s = random_session()) {
        (void)sim.Join(s, random_group());
      }
    }
    if (chance(0.08)) {
      if (const uint64_t s = random_session()) {
        (void)sim.Leave(s, random_group());
      }
    }
    const int messages = pick(0, 3);
    for (int i = 0; i < messages; ++i) {
      const uint64_t s = random_session();
      if (s == 0) {
        break;
      }
      const auto& joined = sim.sessions().at(s).groups;
      std::string group = random_group();
      if (!joined.empty() && chance(0.9)) {
        group = *std::next(joined.begin(), pick(0, static_cast<int>(joined.size()) - 1));
      }
      const size_t size = chance(0.01) ? static_cast<size_t>(pick(60000, 250000))
                                       : static_cast<size_t>(pick(0, 200));
      (void)sim.Multicast(s, group, size, chance(0.1));
    }
    if (chance(0.03)) {
      std::vector<std::vector<NodeId>> parts(pick(2, 3));
      for (NodeId id : sim.totem().nodes()) {
        parts[pick(0, static_cast<int>(parts.size()) - 1)].push_back(id);
      }
      sim.totem().Partition(parts);
    }
    if (chance(0.04)) {
      sim.totem().Heal();
    }
    if (chance(0.015) && sim.totem().AliveNodes().size() > 1) {
      const auto alive = sim.totem().AliveNodes();
      sim.Kill(alive[pick(0, static_cast<int>(alive.size()) - 1)]);
    }
    if (chance(0.03)) {
      const NodeId id = static_cast<NodeId>(pick(1, n));
      if (!sim.totem().alive(id)) {
        sim.Restart(id);
      }
    }
    sim.totem().RunFor(absl::Milliseconds(pick(1, 25)));
  }

  sim.totem().Heal();
  sim.totem().SetFaults(NetworkFaults{});
  const absl::Duration bound = 3 * (o.token + o.consensus + o.merge) + absl::Seconds(2);
  std::string error = Settle(sim, bound);
  if (!error.empty()) {
    return absl::StrCat(bound / absl::Milliseconds(1), " ms after healing: ", error);
  }
  // Every open session that is in a group speaks once more; all of it must arrive.
  for (uint64_t s : open_sessions()) {
    const auto& joined = sim.sessions().at(s).groups;
    if (!joined.empty()) {
      (void)sim.Multicast(s, *joined.begin(), 10, false);
    }
  }
  error = Settle(sim, absl::Seconds(2));
  if (error.empty()) {
    sim.totem().RunFor(absl::Milliseconds(200));
    error = CheckGroupSafety(sim);
  }
  if (error.empty() && sim.frames_stale() != 0) {
    // Frames of an ended configuration are dropped before they go out (GroupCore::IsStaleFrame).
    error = absl::StrCat(sim.frames_stale(), " frames were delivered stale");
  }
  return error;
}

TEST_CASE("random runs of 2 to 6 nodes keep the group invariants and converge after healing") {
  ha::testing::RunSeeds("HA_GROUP_SEED", 500, [](uint32_t seed) {
    return RandomRun(seed, 2, 6, absl::Milliseconds(1500));
  });
}

TEST_CASE("random runs of 5 to 12 nodes, longer", "[.long]") {
  ha::testing::RunSeeds(
      "HA_GROUP_SEED", 300, [](uint32_t seed) { return RandomRun(seed, 5, 12, absl::Seconds(4)); });
}

}  // namespace
}  // namespace ha::sim
