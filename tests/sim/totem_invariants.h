// The invariants every simulated totem run must keep (Totem's and extended virtual synchrony's
// safety properties), checked on the histories TotemSim recorded.
#pragma once

#include <string>

#include "tests/sim/totem_sim.h"

namespace ha::sim {

// "" when all hold, else the first violation found, naming the nodes and the ring:
//  1. no message is delivered twice to one node incarnation, and none is invented;
//  2. a message is delivered in the configuration installed last before it;
//  3. every node that installs a configuration sees the same member list, and is in it;
//  4. agreed order: in one configuration, what two nodes delivered is one the prefix of the other;
//  5. virtual synchrony: two nodes that install the same next configuration delivered exactly
//     the same messages in the previous one;
//  6. per-sender FIFO: a node delivers one sender incarnation's messages in the order sent;
//  7. safe order: a message one node delivered as safe while a ring ran (not in the old ring's
//     remainder handed up at a change, totem_core.h deviation 3) is delivered in that ring by
//     every member that goes on to another configuration.
std::string CheckSafety(const TotemSim& sim);

// "" when every live node incarnation delivered every message it submitted (TotemSim::Submit),
// except those it multicast in a ring whose end discarded old-ring messages at it (totem_core.h,
// deviation 3: after a hole nobody of the group can fill). A message still queued, or sent in a
// ring left without a discard, is never lost. Check it once the ring has settled.
std::string CheckOwnMessagesDelivered(const TotemSim& sim);

// "" when every live node is operational in one ring whose members are exactly the live nodes.
std::string CheckConverged(const TotemSim& sim);

}  // namespace ha::sim
