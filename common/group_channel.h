// A daemon's seat in one process group of the cluster: the seam between the daemons that talk to
// their peers (cibd's group "cib", stonithd's "stonithd") and the membership layer under them.
// Two providers, chosen by `system { membership_provider }` in the configuration:
//  - membershipd (ours, common/group_link.h): the ProcessGroups and Quorum gRPC services;
//  - corosync (common/corosync_group_channel.h): a running Corosync 3 through libcpg and libquorum,
//    so the stack's daemons can run on top of an existing Corosync cluster.
// Both give the same contract: one session per generation; `joined`, then group changes and
// messages in agreed order (the same order at every member), then `lost` when the session ends,
// after which a new generation starts by itself. All handlers run on the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/event_loop.h"
#include "config/cluster_config.h"
#include "proto/membership.pb.h"

namespace ha {

class GroupChannel {
 public:
  struct Options {
    std::string socket_path;  // membershipd: <run_dir>/membershipd.sock; unused by corosync
    std::string group;
    std::string client_name;
    std::string log_subsystem = "main";
    absl::Duration min_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(2);
  };
  // Each runs on the loop.
  struct Handlers {
    // A session joined the group as (node_id, pid).
    std::function<void(uint64_t generation, uint32_t node_id, uint32_t pid)> joined;
    std::function<void(uint64_t generation, const membership::v1::GroupChange& change)> change;
    std::function<void(
        uint64_t generation, uint32_t sender_node_id, uint32_t sender_pid, std::string payload)>
        message;
    // The session ended (before or after joining).
    std::function<void(uint64_t generation, std::string why)> lost;
    // Optional: quorum as the provider reports it (false while it cannot be reached; true when
    // no quorum provider is configured).
    std::function<void(bool quorate)> quorum;
    // Optional: the ring's nodes (the cluster membership), once per session as soon as it is
    // known (`initial`, joined and left empty) and at every ring change of the session (joined
    // and left against the previous one). Before the group changes the ring change causes.
    // Members carry node ids, and names from the configuration's nodelist.
    std::function<void(uint64_t generation, const membership::v1::MembershipChange& ring)> ring;
  };

  virtual ~GroupChannel() = default;
  virtual void Start() = 0;
  // Ends the session; no handler runs afterwards. Call it on the loop thread or after the loop
  // has stopped.
  virtual void Stop() = 0;
  // Queues `payload` for the session `generation` (dropped if that session has ended).
  // Thread-safe.
  virtual void Multicast(uint64_t generation, std::string payload) = 0;
};

// The channel of the provider `config` names. `options.socket_path` is filled in for membershipd
// when empty.
std::unique_ptr<GroupChannel> MakeGroupChannel(const config::ClusterConfig& config,
                                               EventLoop& loop,
                                               GroupChannel::Options options,
                                               GroupChannel::Handlers handlers);

}  // namespace ha
