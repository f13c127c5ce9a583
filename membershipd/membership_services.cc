#include "membershipd/membership_services.h"

#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "common/grpc_status.h"
#include "common/loop_call.h"

namespace ha::membership {
namespace {

// Runs `fn` (returning T) on the loop and copies its answer into `*out`.
template <typename T, typename F>
grpc::Status Answer(EventLoop& loop, grpc::ServerContext* ctx, T* out, F fn) {
  absl::StatusOr<T> answer = RunOnLoop(loop, ctx, std::move(fn));
  if (!answer.ok()) {
    return ToGrpcStatus(answer.status());
  }
  *out = *std::move(answer);
  return grpc::Status::OK;
}

// A quorum change: started on the loop, answered when agreed (or refused).
template <typename Start>
absl::StatusOr<v1::QuorumState> AgreedQuorumChange(EventLoop& loop,
                                                   grpc::ServerContext* ctx,
                                                   Start start) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<v1::QuorumState>>>();
  std::future<absl::StatusOr<v1::QuorumState>> future = promise->get_future();
  loop.Post([promise, start = std::move(start)]() mutable {
    start([promise](absl::StatusOr<v1::QuorumState> state) { promise->set_value(state); });
  });
  absl::StatusOr<absl::StatusOr<v1::QuorumState>> answer = WaitFor(ctx, future);
  if (!answer.ok()) {
    return answer.status();
  }
  return *std::move(answer);
}

}  // namespace

grpc::Status MembershipService::GetMembership(grpc::ServerContext* ctx,
                                              const v1::GetMembershipRequest*,
                                              v1::GetMembershipResponse* response) {
  return Answer(loop_, ctx, response, [this] { return daemon_.Membership(); });
}

grpc::Status MembershipService::WatchMembership(grpc::ServerContext* ctx,
                                                const v1::WatchMembershipRequest*,
                                                grpc::ServerWriter<v1::MembershipChange>* writer) {
  // Subscribed on the loop, where changes are published: the snapshot misses none.
  auto& hub = daemon_.membership_watchers();
  auto sub = RunOnLoop(
      loop_, ctx, [this, &hub] { return hub.Subscribe(nullptr, daemon_.CurrentChange(true)); });
  if (!sub.ok()) {
    return ToGrpcStatus(sub.status());
  }
  return hub.Serve(ctx, writer, *sub);
}

grpc::Status MembershipService::GetRings(grpc::ServerContext* ctx,
                                         const v1::GetRingsRequest*,
                                         v1::GetRingsResponse* response) {
  return Answer(loop_, ctx, response, [this] { return daemon_.Rings(); });
}

grpc::Status MembershipService::ReenableRings(grpc::ServerContext* ctx,
                                              const v1::ReenableRingsRequest*,
                                              v1::ReenableRingsResponse* response) {
  v1::GetRingsResponse rings;
  grpc::Status s = Answer(loop_, ctx, &rings, [this] { return daemon_.ReenableRings(); });
  *response->mutable_rings() = rings.rings();
  return s;
}

grpc::Status MembershipService::WatchRings(grpc::ServerContext* ctx,
                                           const v1::WatchRingsRequest*,
                                           grpc::ServerWriter<v1::RingEvent>* writer) {
  // Subscribed on the loop, where changes are published: the snapshots miss none. The first
  // snapshot opens the queue, the others follow it at once.
  auto& hub = daemon_.ring_watchers();
  auto sub = RunOnLoop(loop_, ctx, [this, &hub] {
    std::vector<v1::RingEvent> snapshots = daemon_.RingSnapshots();
    return std::make_pair(hub.Subscribe(nullptr), std::move(snapshots));
  });
  if (!sub.ok()) {
    return ToGrpcStatus(sub.status());
  }
  for (const v1::RingEvent& event : sub->second) {
    if (sub->first == nullptr) {
      break;  // stopping: Serve says so
    }
    if (!writer->Write(event)) {
      return grpc::Status::OK;
    }
  }
  return hub.Serve(ctx, writer, sub->first);
}

grpc::Status MembershipService::GetCounters(grpc::ServerContext* ctx,
                                            const v1::GetCountersRequest* request,
                                            v1::GetCountersResponse* response) {
  std::map<std::string, uint64_t> counters;
  grpc::Status s = Answer(loop_, ctx, &counters, [this] { return daemon_.Counters(); });
  for (const auto& [name, value] : counters) {
    if (name.starts_with(request->prefix())) {
      (*response->mutable_counters())[name] = value;
    }
  }
  return s;
}

grpc::Status QuorumService::GetQuorum(grpc::ServerContext* ctx,
                                      const v1::GetQuorumRequest*,
                                      v1::GetQuorumResponse* response) {
  return Answer(loop_, ctx, response->mutable_state(), [this] { return daemon_.Quorum(); });
}

grpc::Status QuorumService::WatchQuorum(grpc::ServerContext* ctx,
                                        const v1::WatchQuorumRequest*,
                                        grpc::ServerWriter<v1::QuorumEvent>* writer) {
  auto& hub = daemon_.quorum_watchers();
  auto sub = RunOnLoop(loop_, ctx, [this, &hub] {
    v1::QuorumEvent event;
    *event.mutable_state() = daemon_.Quorum();
    event.set_initial(true);
    return hub.Subscribe(nullptr, event);
  });
  if (!sub.ok()) {
    return ToGrpcStatus(sub.status());
  }
  return hub.Serve(ctx, writer, *sub);
}

grpc::Status QuorumService::SetExpectedVotes(grpc::ServerContext* ctx,
                                             const v1::SetExpectedVotesRequest* request,
                                             v1::SetExpectedVotesResponse* response) {
  const uint32_t expected = request->expected_votes();
  absl::StatusOr<v1::QuorumState> state =
      AgreedQuorumChange(loop_, ctx, [this, expected](auto done) {
        daemon_.SetExpectedVotes(expected, std::move(done));
      });
  if (!state.ok()) {
    return ToGrpcStatus(state.status());
  }
  *response->mutable_state() = *std::move(state);
  return grpc::Status::OK;
}

grpc::Status QuorumService::SetVotes(grpc::ServerContext* ctx,
                                     const v1::SetVotesRequest* request,
                                     v1::SetVotesResponse* response) {
  const uint32_t node = request->node_id();
  const uint32_t votes = request->votes();
  absl::StatusOr<v1::QuorumState> state =
      AgreedQuorumChange(loop_, ctx, [this, node, votes](auto done) {
        daemon_.SetVotes(node, votes, std::move(done));
      });
  if (!state.ok()) {
    return ToGrpcStatus(state.status());
  }
  *response->mutable_state() = *std::move(state);
  return grpc::Status::OK;
}

}  // namespace ha::membership
