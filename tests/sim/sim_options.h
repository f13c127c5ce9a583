// The totem timers the simulations run with: short, so that a seed covers many membership
// changes in little simulated time.
#pragma once

#include "membershipd/totem_core.h"

namespace ha::sim {

inline membership::TotemOptions FastOptions() {
  membership::TotemOptions o;
  o.token = absl::Milliseconds(200);
  o.token_retransmit = absl::Milliseconds(45);
  o.hold = absl::Milliseconds(30);
  o.join = absl::Milliseconds(30);
  o.consensus = absl::Milliseconds(240);
  o.merge = absl::Milliseconds(100);
  o.fail_recv_const = 250;
  o.seqno_unchanged_const = 30;
  return o;
}

}  // namespace ha::sim
