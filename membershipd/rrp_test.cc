// The redundant ring layer alone, driven by hand on a fake time line: which rings packets go
// out on in each mode, duplicates, the problem counters with their exact log lines and timings,
// FAULTY, automatic recovery, the administrative re-enable and the options from corosync.conf.
#include "membershipd/rrp.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ha::membership {
namespace {

const absl::Time kT0 = absl::UnixEpoch() + absl::Hours(1);

RrpOptions Options(RrpMode mode) {
  RrpOptions o;
  o.mode = mode;
  o.local_id = 2;
  o.nodes = {1, 2, 3};
  o.ring_addrs = {"10.0.0.2", "10.1.0.2"};
  o.token_expired_timeout = absl::Milliseconds(45);
  o.problem_count_timeout = absl::Milliseconds(2000);
  o.problem_count_threshold = 10;
  o.problem_count_mcast_threshold = 100;
  o.autorecovery_check_timeout = absl::Milliseconds(1000);
  return o;
}

wire::Packet Token(NodeId sender, uint64_t token_seq) {
  wire::Packet p;
  p.set_sender(sender);
  p.mutable_token()->mutable_ring_id()->set_rep(1);
  p.mutable_token()->mutable_ring_id()->set_seq(4);
  p.mutable_token()->set_token_seq(token_seq);
  return p;
}

wire::Packet Message(NodeId sender, uint64_t seq) {
  wire::Packet p;
  p.set_sender(sender);
  p.mutable_message()->set_seq(seq);
  p.mutable_message()->set_origin(sender);
  p.mutable_message()->set_payload("x");
  return p;
}

// Everything the layer said, with the time of each log line.
struct Trace {
  std::vector<std::pair<absl::Duration, std::string>> log;
  std::vector<wire::Packet> delivered;
  std::vector<RrpSend> sent;
  std::vector<RingStateChange> changes;
  void Add(absl::Time now, RrpEffects e) {
    for (std::string& l : e.log)
      log.emplace_back(now - kT0, std::move(l));
    for (auto& p : e.deliver)
      delivered.push_back(std::move(p));
    for (auto& s : e.send)
      sent.push_back(std::move(s));
    for (auto& c : e.changes)
      changes.push_back(std::move(c));
  }
};

// Fires the layer's timers up to `until`.
void RunTimers(RedundantRings& rrp, Trace& trace, absl::Time until) {
  while (rrp.NextDeadline() && *rrp.NextDeadline() <= until) {
    const absl::Time at = *rrp.NextDeadline();
    trace.Add(at, rrp.OnTimer(at));
  }
}

std::vector<int> RingsOf(const RrpEffects& e) {
  std::vector<int> out;
  for (const RrpSend& s : e.send)
    out.push_back(s.ring);
  return out;
}

TEST_CASE("active mode sends on every ring and drops the other ring's copy") {
  RedundantRings rrp(Options(RrpMode::kActive));
  CHECK(RingsOf(rrp.Send(kT0, {Outgoing{{1, 3}, Message(2, 1)}})) == std::vector<int>{0, 1});
  Trace t;
  t.Add(kT0, rrp.OnPacket(kT0, 0, Message(1, 7)));
  t.Add(kT0, rrp.OnPacket(kT0 + absl::Microseconds(300), 1, Message(1, 7)));
  CHECK(t.delivered.size() == 1);
  // Seen again on the ring it came on: a retransmission, it goes up.
  t.Add(kT0, rrp.OnPacket(kT0 + absl::Milliseconds(1), 0, Message(1, 7)));
  CHECK(t.delivered.size() == 2);
  // Past the duplicate window a copy is new.
  t.Add(kT0, rrp.OnPacket(kT0 + absl::Milliseconds(30), 1, Message(1, 7)));
  CHECK(t.delivered.size() == 3);
  CHECK(rrp.Status()[1].rx_duplicates == 1);
}

TEST_CASE("mode none uses ring 0 only") {
  RrpOptions o = Options(RrpMode::kNone);
  RedundantRings rrp(o);
  CHECK(RingsOf(rrp.Send(kT0, {Outgoing{{1}, Token(2, 1)}, Outgoing{{1}, Message(2, 1)}})) ==
        std::vector<int>{0, 0});
}

TEST_CASE("active: a ring that loses every token is FAULTY after exactly threshold tokens") {
  RedundantRings rrp(Options(RrpMode::kActive));
  Trace t;
  const absl::Duration rotation = absl::Milliseconds(50);
  for (int k = 1; k <= 12; ++k) {
    const absl::Time at = kT0 + (k - 1) * rotation;
    RunTimers(rrp, t, at);
    t.Add(at, rrp.OnPacket(at, 0, Token(1, k)));
    if (k <= 10)
      CHECK(rrp.state(1) == RingState::kActive);
  }
  RunTimers(rrp, t, kT0 + absl::Seconds(1));
  CHECK(t.delivered.size() == 12);
  REQUIRE(t.log.size() >= 11);
  for (int k = 1; k <= 10; ++k) {
    CHECK(t.log[k - 1].first == (k - 1) * rotation + absl::Milliseconds(45));
    CHECK(t.log[k - 1].second ==
          absl::StrCat(
              "Incrementing problem counter for seqid ", k, " iface 10.1.0.2 to [", k, " of 10]"));
  }
  CHECK(t.log[10].first == 9 * rotation + absl::Milliseconds(45));
  CHECK(t.log[10].second == "Marking ringid 1 interface 10.1.0.2 FAULTY");
  CHECK(rrp.state(1) == RingState::kFaulty);
  CHECK(rrp.state(0) == RingState::kActive);
  REQUIRE(t.changes.size() == 1);
  CHECK(t.changes[0].ring == 1);
  CHECK(t.changes[0].state == RingState::kFaulty);
  CHECK(rrp.Status()[1].text == "Marking ringid 1 interface 10.1.0.2 FAULTY");
  CHECK(rrp.Status()[0].text == "ring 0 active with no faults");
  // Nothing more goes out on it.
  CHECK(RingsOf(rrp.Send(kT0, {Outgoing{{3}, Token(2, 13)}})) == std::vector<int>{0});
}

TEST_CASE("active: a retransmitted token straddling its watch's expiry is no problem") {
  // The predecessor resends the token after token_retransmit, which is also the default
  // rrp_token_expired_timeout: its copy on ring 0 may be read just before the first watch
  // expires and the copy on ring 1 just after.
  RedundantRings rrp(Options(RrpMode::kActive));
  Trace t;
  const absl::Duration timeout = absl::Milliseconds(45);
  t.Add(kT0, rrp.OnPacket(kT0, 0, Token(1, 7)));
  t.Add(kT0, rrp.OnPacket(kT0, 1, Token(1, 7)));
  t.Add(kT0 + timeout, rrp.OnPacket(kT0 + timeout, 0, Token(1, 7)));
  RunTimers(rrp, t, kT0 + timeout);
  t.Add(kT0 + timeout, rrp.OnPacket(kT0 + timeout, 1, Token(1, 7)));
  RunTimers(rrp, t, kT0 + absl::Seconds(1));
  CHECK(t.log.empty());
  CHECK(rrp.problem_count(0) == 0);
  CHECK(rrp.problem_count(1) == 0);
}

TEST_CASE("active: the problem counter is decremented every rrp_problem_count_timeout") {
  RedundantRings rrp(Options(RrpMode::kActive));
  Trace t;
  t.Add(kT0, rrp.OnPacket(kT0, 0, Token(1, 1)));
  t.Add(kT0, rrp.OnPacket(kT0 + absl::Milliseconds(100), 0, Token(1, 2)));
  // Tokens on both rings from then on: no problems.
  for (int k = 3; k < 100; ++k) {
    const absl::Time at = kT0 + k * absl::Milliseconds(50);
    RunTimers(rrp, t, at);
    t.Add(at, rrp.OnPacket(at, 0, Token(1, k)));
    t.Add(at, rrp.OnPacket(at + absl::Microseconds(200), 1, Token(1, k)));
  }
  RunTimers(rrp, t, kT0 + absl::Seconds(10));
  std::vector<std::pair<absl::Duration, std::string>> want = {
      {absl::Milliseconds(45),
       "Incrementing problem counter for seqid 1 iface 10.1.0.2 to [1 of 10]"},
      {absl::Milliseconds(145),
       "Incrementing problem counter for seqid 2 iface 10.1.0.2 to [2 of 10]"},
      {absl::Milliseconds(2045), "Decrementing problem counter for iface 10.1.0.2 to [1 of 10]"},
      {absl::Milliseconds(4045), "Decrementing problem counter for iface 10.1.0.2 to [0 of 10]"},
  };
  CHECK(t.log == want);
  CHECK(rrp.problem_count(1) == 0);
  CHECK(!rrp.NextDeadline());
  CHECK(t.delivered.size() == 99);  // each token once
}

TEST_CASE("active: a token that arrives on no ring counts nowhere, the last ring stays") {
  RedundantRings rrp(Options(RrpMode::kActive));
  Trace t;
  RunTimers(rrp, t, kT0 + absl::Seconds(10));
  CHECK(t.log.empty());
  // Ring 1 FAULTY, then ring 0 loses tokens that ring 1 carries: ring 0 is kept.
  for (int k = 1; k <= 10; ++k) {
    const absl::Time at = kT0 + absl::Seconds(10) + k * absl::Milliseconds(50);
    RunTimers(rrp, t, at);
    t.Add(at, rrp.OnPacket(at, 0, Token(1, k)));
  }
  RunTimers(rrp, t, kT0 + absl::Seconds(11));
  REQUIRE(rrp.state(1) == RingState::kFaulty);
  for (int k = 11; k <= 30; ++k) {
    const absl::Time at = kT0 + absl::Seconds(11) + k * absl::Milliseconds(50);
    RunTimers(rrp, t, at);
    t.Add(at, rrp.OnPacket(at, 1, Token(1, k)));
  }
  RunTimers(rrp, t, kT0 + absl::Seconds(13));
  CHECK(rrp.state(0) == RingState::kActive);
  CHECK(absl::StrContains(t.log.back().second, "is the last one working: kept"));
}

TEST_CASE("passive mode alternates rings and marks a ring that falls behind") {
  RedundantRings rrp(Options(RrpMode::kPassive));
  CHECK(RingsOf(rrp.Send(kT0,
                         {Outgoing{{3}, Token(2, 1)},
                          Outgoing{{3}, Token(2, 2)},
                          Outgoing{{1, 3}, Message(2, 1)},
                          Outgoing{{3}, Token(2, 3)},
                          Outgoing{{1, 3}, Message(2, 2)}})) == std::vector<int>{0, 1, 0, 0, 1});
  Trace t;
  // Tokens only on ring 0: more than 10 behind marks ring 1.
  for (int k = 1; k <= 10; ++k) {
    t.Add(kT0, rrp.OnPacket(kT0, 0, Token(1, k)));
    CHECK(rrp.problem_count(1) == k);
    CHECK(rrp.state(1) == RingState::kActive);
  }
  t.Add(kT0, rrp.OnPacket(kT0, 0, Token(1, 11)));
  CHECK(rrp.state(1) == RingState::kFaulty);
  CHECK(t.log.back().second == "Marking ringid 1 interface 10.1.0.2 FAULTY");
  CHECK(t.delivered.size() == 11);
  // Every send on ring 0 now.
  CHECK(RingsOf(rrp.Send(kT0, {Outgoing{{3}, Token(2, 4)}, Outgoing{{3}, Token(2, 5)}})) ==
        std::vector<int>{0, 0});
}

TEST_CASE("passive: messages use the mcast threshold") {
  RedundantRings rrp(Options(RrpMode::kPassive));
  Trace t;
  for (int k = 1; k <= 100; ++k)
    t.Add(kT0, rrp.OnPacket(kT0, 0, Message(1, k)));
  CHECK(rrp.state(1) == RingState::kActive);
  t.Add(kT0, rrp.OnPacket(kT0, 0, Message(1, 101)));
  CHECK(rrp.state(1) == RingState::kFaulty);
}

// Makes ring 1 FAULTY in active mode at kT0 + 495 ms.
void MakeFaulty(RedundantRings& rrp, Trace& t) {
  for (int k = 1; k <= 10; ++k) {
    const absl::Time at = kT0 + (k - 1) * absl::Milliseconds(50);
    RunTimers(rrp, t, at);
    t.Add(at, rrp.OnPacket(at, 0, Token(1, k)));
  }
  RunTimers(rrp, t, kT0 + absl::Milliseconds(495));
  REQUIRE(rrp.state(1) == RingState::kFaulty);
}

TEST_CASE("automatic recovery: probes answered by every node heard from, two rounds in a row") {
  RedundantRings rrp(Options(RrpMode::kActive));
  Trace t;
  MakeFaulty(rrp, t);
  t = Trace{};
  const absl::Time first = kT0 + absl::Milliseconds(1495);
  REQUIRE(rrp.NextDeadline() == first);
  t.Add(first, rrp.OnTimer(first));
  REQUIRE(t.sent.size() == 1);
  CHECK(t.sent[0].ring == 1);
  CHECK(t.sent[0].to == std::vector<NodeId>{1, 3});
  const auto probe = std::get<RrpControl>(t.sent[0].packet);
  CHECK(probe.kind == RrpControl::kProbe);
  // Nodes 1 and 3 are alive (traffic on ring 0) but only node 1 answers: not clean.
  auto answer = [&](NodeId from, uint64_t round, absl::Time at) {
    t.Add(at, rrp.OnPacket(at, 0, Message(from, round * 10 + from)));
    t.Add(at, rrp.OnPacket(at, 1, RrpControl{RrpControl::kProbeReply, from, 1, round}));
  };
  answer(1, 1, first + absl::Milliseconds(1));
  t.Add(first, rrp.OnPacket(first, 0, Message(3, 99)));
  RunTimers(rrp, t, first + absl::Seconds(1));
  CHECK(rrp.state(1) == RingState::kFaulty);
  // Two clean rounds (2 and 3): back at the check after round 3.
  answer(1, 2, first + absl::Milliseconds(1001));
  answer(3, 2, first + absl::Milliseconds(1001));
  RunTimers(rrp, t, first + absl::Seconds(2));
  CHECK(rrp.state(1) == RingState::kFaulty);
  answer(1, 3, first + absl::Milliseconds(2001));
  answer(3, 3, first + absl::Milliseconds(2001));
  t.changes.clear();
  t.sent.clear();
  RunTimers(rrp, t, first + absl::Seconds(3));
  CHECK(rrp.state(1) == RingState::kActive);
  CHECK(t.log.back() == std::make_pair(absl::Milliseconds(4495),
                                       std::string("Automatically recovered ring 1 interface "
                                                   "10.1.0.2")));
  REQUIRE(t.changes.size() == 1);
  CHECK(t.changes[0].state == RingState::kActive);
  // The others are told on both rings.
  REQUIRE(t.sent.size() == 2);
  for (const RrpSend& s : t.sent)
    CHECK(std::get<RrpControl>(s.packet).kind == RrpControl::kActivate);
  CHECK(rrp.problem_count(1) == 0);
  CHECK(!rrp.NextDeadline());
}

TEST_CASE("a probe is answered on its ring; an activate puts the ring back") {
  RedundantRings rrp(Options(RrpMode::kActive));
  RrpEffects e = rrp.OnPacket(kT0, 1, RrpControl{RrpControl::kProbe, 3, 1, 7});
  REQUIRE(e.send.size() == 1);
  CHECK(e.send[0].ring == 1);
  CHECK(e.send[0].to == std::vector<NodeId>{3});
  CHECK(std::get<RrpControl>(e.send[0].packet).kind == RrpControl::kProbeReply);
  CHECK(std::get<RrpControl>(e.send[0].packet).round == 7);
  Trace t;
  MakeFaulty(rrp, t);
  e = rrp.OnPacket(kT0 + absl::Seconds(1), 0, RrpControl{RrpControl::kActivate, 1, 1, 0});
  CHECK(rrp.state(1) == RingState::kActive);
  CHECK(e.log == std::vector<std::string>{"ring 1 interface 10.1.0.2 re-enabled by node 1"});
  CHECK(e.changes.size() == 1);
}

TEST_CASE("administrative re-enable, with automatic recovery off") {
  RrpOptions o = Options(RrpMode::kActive);
  o.autorecovery_check_timeout = absl::ZeroDuration();
  RedundantRings rrp(o);
  Trace t;
  MakeFaulty(rrp, t);
  t.sent.clear();
  RunTimers(rrp, t, kT0 + absl::Seconds(5));
  CHECK(t.sent.empty());  // no probes
  CHECK(rrp.state(1) == RingState::kFaulty);
  RrpEffects e = rrp.Reenable(kT0 + absl::Seconds(5));
  CHECK(rrp.state(1) == RingState::kActive);
  CHECK(e.log ==
        std::vector<std::string>{"ring 1 interface 10.1.0.2 re-enabled by the administrator"});
  CHECK(e.send.size() == 2);  // the activate, on both rings
}

TEST_CASE("options from corosync.conf") {
  absl::StatusOr<config::LoadedConfig> loaded = config::ParseClusterConfig(
      "totem {\n version: 2\n rrp_mode: active\n token: 3000\n rrp_problem_count_threshold: 8\n"
      " rrp_autorecovery_check_timeout: 500\n}\n"
      "nodelist {\n node {\n  nodeid: 1\n  ring0_addr: 10.0.0.1\n  ring1_addr: 10.1.0.1\n }\n"
      " node {\n  nodeid: 2\n  ring0_addr: 10.0.0.2\n  ring1_addr: 10.1.0.2\n }\n}\n",
      "t.conf");
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  RrpOptions o = RrpOptionsFromConfig(loaded->config, 2);
  CHECK(o.mode == RrpMode::kActive);
  CHECK(o.ring_addrs == std::vector<std::string>{"10.0.0.2", "10.1.0.2"});
  CHECK(o.nodes == std::vector<NodeId>{1, 2});
  CHECK(o.token_expired_timeout == absl::Milliseconds(294));  // token_retransmit
  CHECK(o.problem_count_threshold == 8);
  CHECK(o.problem_count_mcast_threshold == 80);
  CHECK(o.problem_count_timeout == absl::Milliseconds(2000));
  CHECK(o.autorecovery_check_timeout == absl::Milliseconds(500));
  loaded->config.totem.rrp_mode = "none";
  o = RrpOptionsFromConfig(loaded->config, 2);
  CHECK(o.mode == RrpMode::kNone);
  CHECK(o.ring_addrs == std::vector<std::string>{"10.0.0.2"});
}

}  // namespace
}  // namespace ha::membership
