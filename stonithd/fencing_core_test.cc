// The fencing core's decisions, on a simulated clock (fencing_sim.h): device choice, topology
// fallthrough, retries, timeouts, reboot as off+on, delays, merging, self-fencing, manual
// confirmation, tolerance.
#include "stonithd/fencing_core.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "stonithd/fencing_sim.h"

namespace ha::stonithd {
namespace {

using sim::AgentReply;

FenceDevice Device(const std::string& id,
                   std::map<std::string, std::string> params,
                   AgentCapabilities caps = {}) {
  absl::StatusOr<FenceDevice> device = MakeFenceDevice(id, "fence_sim", std::move(params), caps);
  REQUIRE(device.ok());
  return *device;
}

struct Fixture {
  sim::World world;
  // device id -> how its runs go (default: succeed after 1 s)
  std::map<std::string, std::function<AgentReply(const RunAgent&)>> behaviour;
  sim::Node node;

  explicit Fixture(uint64_t seed = 1)
      : node(world, Options(seed), [this](const RunAgent& run) {
          auto it = behaviour.find(run.device.id);
          return it == behaviour.end() ? AgentReply{} : it->second(run);
        }) {}

  static FencingCoreOptions Options(uint64_t seed) {
    FencingCoreOptions options;
    options.local_node = "n1";
    options.seed = seed;
    return options;
  }

  FenceRecord Fence(const std::string& target,
                    FenceAction action = FenceAction::kReboot,
                    absl::Duration delay = absl::ZeroDuration(),
                    const std::string& id = "op1") {
    node.Feed(RequestFence{.id = id,
                           .target = target,
                           .action = action,
                           .origin = "n1",
                           .client = "test",
                           .delay = delay});
    world.RunFor(absl::Minutes(30));
    const FenceRecord* record = node.Last(id);
    REQUIRE(record != nullptr);
    return *record;
  }

  std::vector<std::string> RunSummary() const {
    std::vector<std::string> out;
    for (const RunAgent& run : node.runs()) {
      out.push_back(run.device.id + ":" + run.action);
    }
    return out;
  }
};

AgentReply Fail(const RunAgent&) {
  AgentReply r;
  r.exit_code = 1;
  r.stderr_reason = "Failed: Unable to connect";
  return r;
}

TEST_CASE("no capable device: failed at once") {
  Fixture f;
  f.node.core().RegisterDevice(Device("d1", {{"pcmk_host_list", "n3"}}));
  FenceRecord r = f.Fence("n2");
  CHECK(r.state == FenceState::kFailed);
  CHECK(r.exit_reason == "No fence device");
  CHECK(f.node.runs().empty());
}

TEST_CASE("topology: level 1 fails, level 2 succeeds") {
  Fixture f;
  f.node.core().RegisterDevice(Device("ipmi", {{"pcmk_host_list", "n2"}}));
  f.node.core().RegisterDevice(Device("pdu1", {{"pcmk_host_list", "n2"}}));
  f.node.core().RegisterDevice(Device("pdu2", {{"pcmk_host_map", "n2:7"}}));
  FencingTopology topology;
  LevelTarget n2{.kind = LevelTarget::kNode, .node = "n2"};
  REQUIRE(topology.Add(FencingLevel{"l1", n2, 1, {"ipmi"}}).ok());
  REQUIRE(topology.Add(FencingLevel{"l2", n2, 2, {"pdu1", "pdu2"}}).ok());
  f.node.core().SetTopology(topology);
  f.behaviour["ipmi"] = Fail;

  FenceRecord r = f.Fence("n2", FenceAction::kReboot);
  CHECK(r.state == FenceState::kDone);
  CHECK(r.level == 2);
  CHECK(r.device == "pdu2");
  // ipmi tried twice (pcmk_reboot_retries' default), then level 2's reboot as every device off,
  // then every device on.
  CHECK(f.RunSummary() ==
        std::vector<std::string>{
            "ipmi:reboot", "ipmi:reboot", "pdu1:off", "pdu2:off", "pdu1:on", "pdu2:on"});
  CHECK(f.node.runs()[3].target == "n2");
  auto history = f.node.core().History("n2");
  REQUIRE(history.size() == 1);
  CHECK(history[0].state == FenceState::kDone);
  CHECK(history[0].completed > history[0].requested);
}

TEST_CASE("a failing agent is retried, then the operation is reported failed") {
  Fixture f;
  f.node.core().RegisterDevice(Device("d1", {{"pcmk_host_list", "n2"}, {"pcmk_off_retries", "3"}}));
  f.behaviour["d1"] = Fail;
  FenceRecord r = f.Fence("n2", FenceAction::kOff);
  CHECK(r.state == FenceState::kFailed);
  CHECK(r.device == "d1");
  CHECK(r.exit_reason == "Failed: Unable to connect");
  REQUIRE(f.node.runs().size() == 3);
  // Each try ran 1 s, then a 1 s pause; the later tries get what is left of the timeout.
  CHECK(f.node.run_times[1] - f.node.run_times[0] == absl::Seconds(2));
  CHECK(f.node.runs()[0].timeout == absl::Seconds(60));
  CHECK(f.node.runs()[2].timeout == absl::Seconds(56));
}

TEST_CASE("a hanging agent times out and is not retried") {
  Fixture f;
  f.node.core().RegisterDevice(
      Device("hang", {{"pcmk_host_list", "n2"}, {"pcmk_off_timeout", "5s"}}));
  f.behaviour["hang"] = [](const RunAgent&) {
    return AgentReply{.duration = absl::InfiniteDuration()};
  };
  absl::Time start = f.world.now();
  f.node.Feed(RequestFence{.id = "op1", .target = "n2", .action = FenceAction::kOff});
  f.world.RunFor(absl::Seconds(4));
  CHECK(f.node.Last("op1")->state == FenceState::kPending);
  f.world.RunFor(absl::Minutes(5));
  const FenceRecord* r = f.node.Last("op1");
  CHECK(r->state == FenceState::kFailed);
  CHECK(absl::StrContains(r->exit_reason, "timed out"));
  CHECK(r->completed - start == absl::Seconds(5));
  CHECK(f.node.runs().size() == 1);
}

TEST_CASE("the operation's deadline ends it even while agents keep hanging") {
  Fixture f;
  f.node.core().RegisterDevice(Device("hang", {{"pcmk_host_list", "n2"}}));
  f.behaviour["hang"] = [](const RunAgent&) {
    return AgentReply{.duration = absl::InfiniteDuration()};
  };
  f.node.Feed(RequestFence{
      .id = "op1", .target = "n2", .action = FenceAction::kOff, .timeout = absl::Seconds(20)});
  f.world.RunFor(absl::Minutes(5));
  const FenceRecord* r = f.node.Last("op1");
  CHECK(r->state == FenceState::kFailed);
  CHECK(r->exit_reason == "Timed out after 20s");
}

TEST_CASE("reboot: the device's own reboot, or off then on when it has none") {
  Fixture with;
  with.node.core().RegisterDevice(Device("d", {{"pcmk_host_list", "n2"}}));
  CHECK(with.Fence("n2").state == FenceState::kDone);
  CHECK(with.RunSummary() == std::vector<std::string>{"d:reboot"});

  Fixture without;
  AgentCapabilities no_reboot{.known = true, .supports_status = true, .supports_on = true};
  without.node.core().RegisterDevice(Device("d", {{"pcmk_host_list", "n2"}}, no_reboot));
  CHECK(without.Fence("n2").state == FenceState::kDone);
  CHECK(without.RunSummary() == std::vector<std::string>{"d:off", "d:on"});

  // A failed "on" after a successful "off" still leaves the target safely off: done.
  Fixture on_fails;
  on_fails.node.core().RegisterDevice(Device("d", {{"pcmk_host_list", "n2"}}, no_reboot));
  on_fails.behaviour["d"] = [](const RunAgent& run) {
    return run.action == "on" ? Fail(run) : AgentReply{};
  };
  CHECK(on_fails.Fence("n2").state == FenceState::kDone);
}

TEST_CASE("delays: pcmk_delay_base plus a random part up to pcmk_delay_max, in simulated time") {
  std::set<int64_t> seen;
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    Fixture f(seed);
    f.node.core().RegisterDevice(Device(
        "d", {{"pcmk_host_list", "n2"}, {"pcmk_delay_base", "3s"}, {"pcmk_delay_max", "8s"}}));
    absl::Time start = f.world.now();
    CHECK(f.Fence("n2", FenceAction::kOff).state == FenceState::kDone);
    REQUIRE(f.node.run_times.size() == 1);
    absl::Duration waited = f.node.run_times[0] - start;
    CHECK(waited >= absl::Seconds(3));
    CHECK(waited <= absl::Seconds(8));
    seen.insert(absl::ToInt64Milliseconds(waited));
  }
  CHECK(seen.size() > 40);  // random, not fixed

  // The request's own delay (priority-fencing-delay) comes on top, before the first device;
  // "on" gets no device delay.
  Fixture f;
  f.node.core().RegisterDevice(Device("d", {{"pcmk_host_list", "n2"}, {"pcmk_delay_base", "2s"}}));
  absl::Time start = f.world.now();
  f.Fence("n2", FenceAction::kOff, absl::Seconds(10));
  CHECK(f.node.run_times[0] - start == absl::Seconds(12));
  start = f.world.now();
  f.Fence("n2", FenceAction::kOn, absl::ZeroDuration(), "op2");
  CHECK(f.node.run_times[1] - start == absl::ZeroDuration());
}

TEST_CASE("a request for a target being fenced is merged, not repeated") {
  Fixture f;
  f.node.core().RegisterDevice(Device("d", {{"pcmk_host_list", "n2"}}));
  f.node.Feed(RequestFence{.id = "a", .target = "n2", .client = "crmd"});
  f.node.Feed(RequestFence{.id = "b", .target = "n2", .client = "stonith_admin"});
  f.node.Feed(RequestFence{.id = "c", .target = "n2", .action = FenceAction::kOff});
  f.world.RunFor(absl::Minutes(1));
  CHECK(f.RunSummary() == std::vector<std::string>{"d:reboot", "d:off"});  // c is another action
  CHECK(f.node.Last("a")->state == FenceState::kDone);
  CHECK(f.node.Last("b")->state == FenceState::kDone);
  CHECK(f.node.Last("b")->merged_into == "a");
  CHECK(f.node.Last("b")->device == "d");
  CHECK(f.node.core().History("n2").size() == 3);
}

TEST_CASE("never fences the local node unless told to") {
  Fixture f;
  f.node.core().RegisterDevice(Device("d", {{"pcmk_host_check", "none"}}));
  FenceRecord r = f.Fence("n1");
  CHECK(r.state == FenceState::kFailed);
  CHECK(r.exit_reason == "Refusing to fence the local node");
  CHECK(f.node.runs().empty());
  f.node.Feed(RequestFence{.id = "self", .target = "n1", .allow_self = true});
  f.world.RunFor(absl::Minutes(1));
  CHECK(f.node.Last("self")->state == FenceState::kDone);
}

TEST_CASE("manual confirmation completes the pending operations, loudly") {
  Fixture f;
  f.node.core().RegisterDevice(Device("hang", {{"pcmk_host_list", "n2"}}));
  f.behaviour["hang"] = [](const RunAgent&) {
    return AgentReply{.duration = absl::InfiniteDuration()};
  };
  f.node.Feed(RequestFence{.id = "op1", .target = "n2"});
  f.world.RunFor(absl::Seconds(5));
  f.node.Feed(ConfirmFenced{.id = "ack", .target = "n2", .origin = "n1", .client = "admin"});
  f.world.RunFor(absl::Minutes(5));
  CHECK(f.node.Last("ack")->device == kManualAck);
  CHECK(f.node.Last("ack")->state == FenceState::kDone);
  CHECK(f.node.Last("op1")->state == FenceState::kDone);
  CHECK(f.node.Last("op1")->device == kManualAck);
  CHECK(f.node.core().running() == 0);
  bool loud = false;
  for (const LogLine& line : f.node.logs()) {
    loud = loud || (line.level == LogLine::kCrit && absl::StrContains(line.text, "MANUAL"));
  }
  CHECK(loud);
}

TEST_CASE("dynamic-list and status: the agent says which nodes it can fence") {
  Fixture f;
  f.node.core().RegisterDevice(Device("lister", {{"pcmk_host_check", "dynamic-list"}}));
  f.behaviour["lister"] = [](const RunAgent& run) {
    AgentReply r;
    if (run.action == "list") {
      r.stdout_text = "n2,alias\nn3\n";
    }
    return r;
  };
  f.node.Feed(RequestFence{.id = "op1", .target = "n2"});
  f.world.RunFor(absl::Seconds(10));
  f.node.Feed(RequestFence{.id = "op2", .target = "n4"});
  f.world.RunFor(absl::Seconds(10));
  CHECK(f.node.Last("op1")->device == "lister");
  CHECK(f.node.Last("op2")->exit_reason == "No fence device");
  // The list was run once and then reused from the cache (60 s), then run again.
  CHECK(f.RunSummary() == std::vector<std::string>{"lister:list", "lister:reboot"});
  f.world.RunFor(absl::Seconds(60));
  CHECK(f.Fence("n3", FenceAction::kOff, absl::ZeroDuration(), "op3").device == "lister");
  CHECK(f.RunSummary() ==
        std::vector<std::string>{"lister:list", "lister:reboot", "lister:list", "lister:off"});

  Fixture s;
  s.node.core().RegisterDevice(Device("st", {{"pcmk_host_check", "status"}}));
  s.behaviour["st"] = [](const RunAgent& run) {
    AgentReply r;
    if (run.action == "status") {
      r.exit_code = run.target == "n2" ? 2 : 1;  // n2 is off (known), others unknown
    }
    return r;
  };
  CHECK(s.Fence("n2").state == FenceState::kDone);
  CHECK(s.Fence("n3", FenceAction::kReboot, absl::ZeroDuration(), "op2").state ==
        FenceState::kFailed);
}

TEST_CASE("without topology, devices are tried by priority; a success within tolerance") {
  Fixture f;
  FenceDevice low = Device("a-low", {{"pcmk_host_list", "n2"}});
  FenceDevice high = Device("b-high", {{"pcmk_host_list", "n2"}});
  high.priority = 10;
  f.node.core().RegisterDevice(low);
  f.node.core().RegisterDevice(high);
  f.behaviour["b-high"] = Fail;
  FenceRecord r = f.Fence("n2");
  CHECK(r.device == "a-low");
  CHECK(f.RunSummary() ==
        std::vector<std::string>{"b-high:reboot", "b-high:reboot", "a-low:reboot"});
  f.node.Feed(RequestFence{.id = "again", .target = "n2", .tolerance = absl::Minutes(60)});
  CHECK(f.node.Last("again")->within_tolerance);
  CHECK(f.node.Last("again")->state == FenceState::kDone);
  CHECK(f.node.runs().size() == 3);
}

TEST_CASE("monitoring: a device that fails its monitor is tried after the healthy ones") {
  Fixture f;
  FenceDevice hi = Device("hi", {{"pcmk_host_list", "n2"}});
  hi.priority = 10;
  hi.monitor_interval = absl::Seconds(60);
  FenceDevice lo = Device("lo", {{"pcmk_host_list", "n2"}});
  lo.priority = 1;
  FenceDevice quiet = Device("quiet", {{"pcmk_host_list", "n9"}});
  quiet.monitor_interval = absl::ZeroDuration();  // not monitored
  f.node.core().RegisterDevice(hi);
  f.node.core().RegisterDevice(lo);
  f.node.core().RegisterDevice(quiet);
  bool hi_broken = true;
  f.behaviour["hi"] = [&hi_broken](const RunAgent& run) {
    AgentReply r;
    if (run.action == "monitor" && hi_broken) {
      r.exit_code = 1;
      r.stderr_reason = "Failed: Unable to connect/login to fencing device";
    }
    return r;
  };
  CHECK(f.node.core().Health("hi").state == DeviceHealth::kUnknown);
  f.node.Feed(MonitorTick{});
  f.world.RunFor(absl::Seconds(5));
  CHECK(f.node.core().Health("hi").state == DeviceHealth::kFailed);
  CHECK(f.node.core().Health("hi").reason == "Failed: Unable to connect/login to fencing device");
  CHECK(f.node.core().Health("hi").last_check == f.world.now() - absl::Seconds(4));
  CHECK(f.node.core().Health("lo").state == DeviceHealth::kOk);
  CHECK(f.node.core().Health("quiet").state == DeviceHealth::kUnknown);
  CHECK(f.RunSummary() == std::vector<std::string>{"hi:monitor", "lo:monitor"});
  // Not due yet: nothing runs.
  f.node.Feed(MonitorTick{});
  CHECK(f.RunSummary().size() == 2);

  FenceRecord r = f.Fence("n2", FenceAction::kOff);
  CHECK(r.state == FenceState::kDone);
  CHECK(r.device == "lo");  // despite its lower priority

  // Repaired: the next monitor, an interval later, finds it healthy; it is first again.
  hi_broken = false;
  f.node.Feed(MonitorTick{});
  f.world.RunFor(absl::Seconds(5));
  CHECK(f.node.core().Health("hi").state == DeviceHealth::kOk);
  r = f.Fence("n2", FenceAction::kOff, absl::ZeroDuration(), "op2");
  CHECK(r.device == "hi");

  // A failed device is still used when it is the only one.
  hi_broken = true;
  f.node.Feed(MonitorDevice{"hi"});
  f.world.RunFor(absl::Seconds(5));
  CHECK(f.node.core().Health("hi").state == DeviceHealth::kFailed);
  f.node.core().UnregisterDevice("lo");
  r = f.Fence("n2", FenceAction::kOff, absl::ZeroDuration(), "op3");
  CHECK(r.state == FenceState::kDone);
  CHECK(r.device == "hi");
}

TEST_CASE("unfencing runs \"on\" through every device that provides unfencing") {
  Fixture f;
  f.node.core().RegisterDevice(Device("u1", {{"pcmk_host_list", "n2"}, {"provides", "unfencing"}}));
  f.node.core().RegisterDevice(Device("u2", {{"pcmk_host_list", "n2"}, {"provides", "unfencing"}}));
  f.node.core().RegisterDevice(Device("plain", {{"pcmk_host_list", "n2"}}));
  FenceRecord r = f.Fence("n2", FenceAction::kOn);
  CHECK(r.state == FenceState::kDone);
  CHECK(f.RunSummary() == std::vector<std::string>{"u1:on", "u2:on"});
  // Fencing still takes one device at a time.
  r = f.Fence("n2", FenceAction::kOff, absl::ZeroDuration(), "op2");
  CHECK(r.state == FenceState::kDone);
  CHECK(f.RunSummary().size() == 3);
}

TEST_CASE("only-if-lost requests check after their delay whether to still shoot") {
  Fixture f;
  f.node.core().RegisterDevice(Device("d1", {{"pcmk_host_list", "n2 n3 n4"}}));
  auto lost = [&f](const std::string& target, const std::string& id) {
    f.node.Feed(RequestFence{.id = id,
                             .target = target,
                             .action = FenceAction::kOff,
                             .origin = "n1",
                             .client = "crmd",
                             .delay = absl::Seconds(10),
                             .only_if_lost = true});
  };
  f.node.core().SetMembership({"n1"}, true);
  lost("n2", "a");
  lost("n3", "b");
  lost("n4", "c");
  f.world.RunFor(absl::Seconds(5));
  // Meanwhile: n2 comes back; n3 is fenced by another node's operation.
  f.node.core().SetMembership({"n1", "n2"}, true);
  f.node.core().NoteFenced("n3", "elsewhere-1", f.world.now());
  f.world.RunFor(absl::Minutes(5));
  CHECK(f.node.Last("a")->state == FenceState::kFailed);
  CHECK(f.node.Last("a")->exit_reason == "Not fenced: n2 is a member again");
  CHECK(f.node.Last("b")->state == FenceState::kDone);
  CHECK(f.node.Last("b")->merged_into == "elsewhere-1");
  CHECK(f.node.Last("c")->state == FenceState::kDone);  // still lost: shot
  CHECK(f.RunSummary() == std::vector<std::string>{"d1:off"});
  // Quorum lost while waiting: not shot either.
  lost("n4", "d");
  f.world.RunFor(absl::Seconds(5));
  f.node.core().SetMembership({"n1"}, false);
  f.world.RunFor(absl::Minutes(5));
  CHECK(f.node.Last("d")->exit_reason == "Not fenced: this node lost quorum");
  CHECK(f.RunSummary().size() == 1);
  // An earlier fencing (before the request) does not count.
  f.node.core().SetMembership({"n1"}, true);
  f.node.core().NoteFenced("n4", "long-ago", f.world.now() - absl::Hours(1));
  lost("n4", "e");
  f.world.RunFor(absl::Minutes(5));
  CHECK(f.node.Last("e")->state == FenceState::kDone);
  CHECK(f.node.Last("e")->merged_into.empty());
}

}  // namespace
}  // namespace ha::stonithd
