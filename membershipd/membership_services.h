// The Membership and Quorum gRPC services of membershipd: thin adapters that run each call on
// the daemon's loop (common/loop_call.h) and stream watchers from its StreamHubs.
#pragma once

#include "common/event_loop.h"
#include "membershipd/membership_daemon.h"
#include "proto/membership.grpc.pb.h"

namespace ha::membership {

class MembershipService final : public v1::Membership::Service {
 public:
  // REQUIRES: `loop` and `daemon` outlive the service.
  MembershipService(EventLoop& loop, MembershipDaemon& daemon) : loop_(loop), daemon_(daemon) {}

  grpc::Status GetMembership(grpc::ServerContext*,
                             const v1::GetMembershipRequest*,
                             v1::GetMembershipResponse*) override;
  grpc::Status WatchMembership(grpc::ServerContext*,
                               const v1::WatchMembershipRequest*,
                               grpc::ServerWriter<v1::MembershipChange>*) override;
  grpc::Status GetRings(grpc::ServerContext*,
                        const v1::GetRingsRequest*,
                        v1::GetRingsResponse*) override;
  grpc::Status ReenableRings(grpc::ServerContext*,
                             const v1::ReenableRingsRequest*,
                             v1::ReenableRingsResponse*) override;
  grpc::Status WatchRings(grpc::ServerContext*,
                          const v1::WatchRingsRequest*,
                          grpc::ServerWriter<v1::RingEvent>*) override;
  grpc::Status GetCounters(grpc::ServerContext*,
                           const v1::GetCountersRequest*,
                           v1::GetCountersResponse*) override;

 private:
  EventLoop& loop_;
  MembershipDaemon& daemon_;
};

class QuorumService final : public v1::Quorum::Service {
 public:
  QuorumService(EventLoop& loop, MembershipDaemon& daemon) : loop_(loop), daemon_(daemon) {}

  grpc::Status GetQuorum(grpc::ServerContext*,
                         const v1::GetQuorumRequest*,
                         v1::GetQuorumResponse*) override;
  grpc::Status WatchQuorum(grpc::ServerContext*,
                           const v1::WatchQuorumRequest*,
                           grpc::ServerWriter<v1::QuorumEvent>*) override;
  grpc::Status SetExpectedVotes(grpc::ServerContext*,
                                const v1::SetExpectedVotesRequest*,
                                v1::SetExpectedVotesResponse*) override;
  grpc::Status SetVotes(grpc::ServerContext*,
                        const v1::SetVotesRequest*,
                        v1::SetVotesResponse*) override;

 private:
  EventLoop& loop_;
  MembershipDaemon& daemon_;
};

}  // namespace ha::membership
