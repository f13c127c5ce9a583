// The ProcessGroups gRPC service (corosync's CPG) on the daemon: a front end of the node's
// GroupHost (group_host.h), each Subscribe stream a session with its own bounded event queue.
//
// Threading: the host and the session table live on the loop; handlers post to it.
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
#include "membershipd/group_host.h"
#include "proto/membership.grpc.pb.h"

namespace ha::membership {

class GroupsService final : public v1::ProcessGroups::Service {
 public:
  using PeerLookup = std::function<absl::StatusOr<PeerIdentity>(const grpc::ServerContextBase&)>;
  // REQUIRES: `loop` and `host` outlive the service.
  GroupsService(EventLoop& loop, GroupHost& host, PeerLookup peer_of);
  ~GroupsService() override;

  // Ends every session's stream (the daemon stops). Loop thread only.
  void CloseSessions();

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
  // A Subscribe stream's session: publishes its events and answers JoinGroup callers.
  class Session final : public GroupSessionSink {
   public:
    Session(std::shared_ptr<StreamHub<v1::GroupEvent>> hub, uint32_t pid, uint32_t local_node)
        : hub_(std::move(hub)), pid_(pid), local_node_(local_node) {}
    void OnGroupEvent(const GroupEvent& event) override;

    std::shared_ptr<StreamHub<v1::GroupEvent>> hub_;
    uint32_t pid_ = 0;
    uint32_t local_node_ = 0;
    // JoinGroup callers waiting for the change that contains their join, by group.
    std::multimap<std::string, std::function<void()>> join_waiters_;
  };

  // A session may be used only by the process that opened it (NOT_FOUND, PERMISSION_DENIED).
  absl::Status CheckOwner(uint64_t session, uint32_t caller_pid) const;
  absl::StatusOr<uint32_t> CallerPid(const grpc::ServerContextBase& ctx) const;

  EventLoop& loop_;
  GroupHost& host_;
  PeerLookup peer_of_;

  // Loop thread only.
  std::map<uint64_t, std::unique_ptr<Session>> sessions_;
};

}  // namespace ha::membership
