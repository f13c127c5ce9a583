// The ProcessGroups gRPC service (corosync's CPG) on the daemon: GroupCore driven by the ring's
// agreed order (as membershipd's RingClient for the kGroups payloads), each Subscribe stream a
// session with its own bounded event queue.
//
// Threading: GroupCore and the session table live on the loop; handlers post to it.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/event_loop.h"
#include "common/peer_auth.h"
#include "common/stream_hub.h"
#include "membershipd/group_core.h"
#include "membershipd/membership_daemon.h"
#include "proto/membership.grpc.pb.h"

namespace ha::membership {

class GroupsService final : public v1::ProcessGroups::Service, public RingClient {
 public:
  using PeerLookup = std::function<absl::StatusOr<PeerIdentity>(const grpc::ServerContextBase&)>;
  // REQUIRES: `loop` and `daemon` outlive the service. Registers itself with the daemon.
  GroupsService(EventLoop& loop, MembershipDaemon& daemon, PeerLookup peer_of);
  ~GroupsService() override;

  // Ends every session's stream (the daemon stops). Loop thread only.
  void CloseSessions();

  // RingClient (loop thread).
  void OnRingDelivery(const Delivery& delivery, absl::string_view payload) override;
  void OnRingChange(const ConfigChange& change) override;
  void AddCounters(std::map<std::string, uint64_t>& counters) const override;

  grpc::Status Subscribe(grpc::ServerContext*,
                         const v1::SubscribeRequest*,
                         grpc::ServerWriter<v1::GroupEvent>*) override;
  grpc::Status JoinGroup(grpc::ServerContext*,
                         const v1::JoinGroupRequest*,
                         v1::JoinGroupResponse*) override;
  grpc::Status LeaveGroup(grpc::ServerContext*,
                          const v1::LeaveGroupRequest*,
                          v1::LeaveGroupResponse*) override;
  grpc::Status Multicast(grpc::ServerContext*,
                         const v1::MulticastRequest*,
                         v1::MulticastResponse*) override;
  grpc::Status ListGroups(grpc::ServerContext*,
                          const v1::ListGroupsRequest*,
                          v1::ListGroupsResponse*) override;

 private:
  struct Session {
    std::shared_ptr<StreamHub<v1::GroupEvent>> hub;
    uint32_t pid = 0;
    // JoinGroup callers waiting for the change that contains their join, by group.
    std::multimap<std::string, std::function<void()>> join_waiters;
  };

  void Apply(GroupEffects effects);
  // A session may be used only by the process that opened it (NOT_FOUND, PERMISSION_DENIED).
  absl::Status CheckOwner(uint64_t session, uint32_t caller_pid) const;
  absl::StatusOr<uint32_t> CallerPid(const grpc::ServerContextBase& ctx) const;

  EventLoop& loop_;
  MembershipDaemon& daemon_;
  PeerLookup peer_of_;
  GroupCore core_;
  std::atomic<uint64_t> next_session_{1};

  // Loop thread only.
  std::map<uint64_t, Session> sessions_;
};

}  // namespace ha::membership
