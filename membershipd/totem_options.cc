#include "membershipd/totem_options.h"

#include <algorithm>

namespace ha::membership {

TotemOptions TotemOptionsFromConfig(const config::ClusterConfig& config, uint32_t local_node_id) {
  const config::TotemConfig& t = config.totem;
  const size_t n = config.nodes.size();
  TotemOptions o;
  o.local_id = local_node_id;
  for (const config::NodeConfig& node : config.nodes) {
    o.nodes.push_back(node.nodeid);
  }
  o.token = absl::Milliseconds(t.EffectiveToken(n));
  o.token_retransmit = absl::Milliseconds(std::max(1, t.EffectiveTokenRetransmit(n)));
  // Only the representative holds an idle token, once per rotation. corosync's derived hold
  // (0.8 retransmit - 10 ms) is a few ms with our short retransmit, which would spin an idle ring:
  // hold at least token / 8. The member before the representative may then resend the token
  // once during a hold; the duplicate is dropped.
  o.hold = absl::Milliseconds(
      t.hold.has_value() ? *t.hold : std::max(t.EffectiveHold(n), t.EffectiveToken(n) / 8));
  o.join = absl::Milliseconds(t.join);
  o.send_join = absl::Milliseconds(t.send_join);
  o.consensus = absl::Milliseconds(t.EffectiveConsensus(n));
  o.merge = absl::Milliseconds(t.merge);
  o.fail_recv_const = t.fail_recv_const;
  o.seqno_unchanged_const = t.seqno_unchanged_const;
  o.window_size = t.window_size;
  o.max_messages = t.max_messages;
  return o;
}

}  // namespace ha::membership
