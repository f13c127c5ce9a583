// Fault injection in the real daemon's transport, for tests: this kernel has no `tc netem`, so
// delay, duplication, reordering and corruption of totem traffic can only come from here. Off
// unless configured, by the environment variable HA_TOTEM_FAULTS, e.g.
//
//   HA_TOTEM_FAULTS="drop=0.05,dup=0.01,delay=1-20,corrupt=0.01,kinds=token+message,peers=2+3,seed=7"
//
//   drop=P      each datagram to a matching peer is lost with probability P
//   dup=P       ... sent twice with probability P
//   delay=A-B   ... held for a uniform A..B ms (so datagrams overtake each other: reordering)
//   corrupt=P   ... has one random byte flipped with probability P (authentication drops it)
//   kinds=K+K   only these packet kinds (token, message, join, commit, merge_detect,
//               hold_cancel, leave, rrp); default all
//   rings=R+R   only datagrams on these ring numbers; default all
//   peers=N+N   only datagrams to these node ids; default all
//   seed=N      the random seed, so a run can be repeated (default: the start's boot id, which
//               differs from run to run)
#pragma once

#include <cstdint>
#include <random>
#include <set>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/event_loop.h"

namespace ha::membership {

struct FaultSpec {
  double drop = 0;
  double duplicate = 0;
  double corrupt = 0;
  int delay_min_ms = 0;
  int delay_max_ms = 0;
  std::set<std::string> kinds;  // empty: all
  std::set<uint32_t> peers;     // empty: all
  std::set<int> rings;          // empty: all
  uint64_t seed = 0;
  bool active() const { return drop > 0 || duplicate > 0 || corrupt > 0 || delay_max_ms > 0; }
};

// Parses the HA_TOTEM_FAULTS syntax above; errors name the bad item.
absl::StatusOr<FaultSpec> ParseFaultSpec(absl::string_view text);

struct FaultStats {
  uint64_t dropped = 0;
  uint64_t duplicated = 0;
  uint64_t delayed = 0;
  uint64_t corrupted = 0;
};

// Sits between the protocol and the transport. Loop thread only.
class FaultLayer {
 public:
  using SendFn = absl::AnyInvocable<void(int ring, uint32_t node, absl::string_view datagram)>;
  FaultLayer(EventLoop& loop, FaultSpec spec, SendFn send);
  ~FaultLayer();

  void Send(int ring, uint32_t node, absl::string_view kind, absl::string_view datagram);
  const FaultStats& stats() const { return stats_; }
  const FaultSpec& spec() const { return spec_; }

 private:
  bool Chance(double p);

  EventLoop& loop_;
  FaultSpec spec_;
  SendFn send_;
  std::mt19937_64 random_;
  FaultStats stats_;
  std::set<EventLoop::TimerId> pending_;
};

}  // namespace ha::membership
