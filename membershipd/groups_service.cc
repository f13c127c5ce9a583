#include "membershipd/groups_service.h"

#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/loop_call.h"
#include "common/status_macros.h"

namespace ha::membership {
namespace {

constexpr size_t kSessionQueueLimit = 10000;

v1::GroupMember MemberProto(const GroupMember& m) {
  v1::GroupMember out;
  out.set_node_id(m.node);
  out.set_pid(m.pid);
  out.set_reason(static_cast<v1::GroupChangeReason>(static_cast<int>(m.reason)));
  return out;
}

v1::GroupEvent EventProto(const GroupEvent& event) {
  v1::GroupEvent out;
  if (const auto* m = std::get_if<GroupMessage>(&event)) {
    v1::GroupMessage* p = out.mutable_message();
    p->set_group(m->group);
    p->set_sender_node_id(m->sender_node);
    p->set_sender_pid(m->sender_pid);
    p->set_seq(m->seq);
    p->set_payload(m->payload);
    p->set_ordering(m->ordering == Ordering::kSafe ? v1::SAFE : v1::AGREED);
  } else if (const auto* c = std::get_if<GroupChange>(&event)) {
    v1::GroupChange* p = out.mutable_change();
    p->set_group(c->group);
    for (const auto& m : c->members) {
      *p->add_members() = MemberProto(m);
    }
    for (const auto& m : c->joined) {
      *p->add_joined() = MemberProto(m);
    }
    for (const auto& m : c->left) {
      *p->add_left() = MemberProto(m);
    }
    *p->mutable_ring_id() = RingIdProto(c->position.ring_id);
  } else {
    const auto& r = std::get<RingChange>(event);
    v1::MembershipChange* p = out.mutable_ring_change();
    *p->mutable_ring_id() = RingIdProto(r.ring_id);
    for (NodeId id : r.members) {
      p->add_members()->set_node_id(id);
    }
    for (NodeId id : r.joined) {
      p->add_joined()->set_node_id(id);
    }
    for (NodeId id : r.left) {
      p->add_left()->set_node_id(id);
    }
    p->set_initial(r.initial);
  }
  return out;
}

}  // namespace

GroupsService::GroupsService(EventLoop& loop, GroupHost& host, PeerLookup peer_of)
    : loop_(loop), host_(host), peer_of_(std::move(peer_of)) {}

GroupsService::~GroupsService() {
  CloseSessions();
}

void GroupsService::CloseSessions() {
  for (auto& [id, session] : sessions_) {
    session->hub_->Close();
  }
}

void GroupsService::Session::OnGroupEvent(const GroupEvent& event) {
  hub_->Publish(EventProto(event));
  // A JoinGroup caller is answered with the change that contains its own join.
  const auto* change = std::get_if<GroupChange>(&event);
  if (change == nullptr)
    return;
  for (const GroupMember& m : change->joined) {
    if (m.node == local_node_ && m.pid == pid_ && m.reason == ChangeReason::kJoin) {
      auto [first, last] = join_waiters_.equal_range(change->group);
      for (auto w = first; w != last; ++w) {
        w->second();
      }
      join_waiters_.erase(first, last);
    }
  }
}

absl::Status GroupsService::CheckOwner(uint64_t session, uint32_t caller_pid) const {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) {
    return absl::NotFoundError(absl::StrCat("no session ", session));
  }
  if (it->second->pid_ != caller_pid) {
    return absl::PermissionDeniedError(
        absl::StrCat("session ", session, " belongs to pid ", it->second->pid_));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> GroupsService::CallerPid(const grpc::ServerContextBase& ctx) const {
  absl::StatusOr<PeerIdentity> peer = peer_of_(ctx);
  if (!peer.ok()) {
    return peer.status();
  }
  return static_cast<uint32_t>(peer->pid);
}

grpc::Status GroupsService::Subscribe(grpc::ServerContext* ctx,
                                      const v1::SubscribeRequest* request,
                                      grpc::ServerWriter<v1::GroupEvent>* writer) {
  absl::StatusOr<uint32_t> caller = CallerPid(*ctx);
  if (!caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  const uint32_t pid = *caller;
  auto hub = std::make_shared<StreamHub<v1::GroupEvent>>(kSessionQueueLimit, "group events");
  struct Opened {
    uint64_t id = 0;
    std::shared_ptr<StreamHub<v1::GroupEvent>::Subscriber> subscriber;
  };
  auto opened = RunOnLoopFlat(
      loop_, ctx, [this, pid, hub, name = request->client_name()]() -> absl::StatusOr<Opened> {
        auto session = std::make_unique<Session>(hub, pid, host_.local_node_id());
        absl::StatusOr<uint64_t> id = host_.OpenSession(pid, name, session.get());
        if (!id.ok())
          return id.status();
        v1::GroupEvent started;
        started.mutable_session_started()->set_session_id(*id);
        started.mutable_session_started()->set_local_node_id(host_.local_node_id());
        started.mutable_session_started()->set_pid(pid);
        Opened out{*id, hub->Subscribe(nullptr, started)};
        sessions_[*id] = std::move(session);
        return out;
      });
  if (!opened.ok()) {
    return ToGrpcStatus(opened.status());
  }
  grpc::Status status = hub->Serve(ctx, writer, opened->subscriber);
  // The stream ended: the session leaves its groups (PROCDOWN for the others).
  loop_.Post([this, id = opened->id] {
    host_.CloseSession(id);
    sessions_.erase(id);
  });
  return status;
}

grpc::Status GroupsService::JoinGroup(grpc::ServerContext* ctx,
                                      const v1::JoinGroupRequest* request,
                                      v1::JoinGroupResponse*) {
  absl::StatusOr<uint32_t> caller = CallerPid(*ctx);
  if (!caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  auto joined = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> done = joined->get_future();
  absl::Status queued = RunOnLoopFlat(
      loop_,
      ctx,
      [this, session = request->session_id(), group = request->group(), joined, caller = *caller]()
          -> absl::Status {
        HA_RETURN_IF_ERROR(CheckOwner(session, caller));
        Session& s = *sessions_.at(session);
        // Waiting first: on a one-node ring the join may be delivered before Join returns.
        auto waiter =
            s.join_waiters_.emplace(group, [joined] { joined->set_value(absl::OkStatus()); });
        if (absl::Status status = host_.Join(session, group); !status.ok()) {
          if (auto it = sessions_.find(session); it != sessions_.end())
            it->second->join_waiters_.erase(waiter);
          return status;
        }
        return absl::OkStatus();
      });
  if (!queued.ok()) {
    return ToGrpcStatus(queued);
  }
  absl::StatusOr<absl::Status> agreed = WaitFor(ctx, done);
  if (!agreed.ok()) {
    return ToGrpcStatus(agreed.status());
  }
  return ToGrpcStatus(*agreed);
}

grpc::Status GroupsService::LeaveGroup(grpc::ServerContext* ctx,
                                       const v1::LeaveGroupRequest* request,
                                       v1::LeaveGroupResponse*) {
  absl::StatusOr<uint32_t> caller = CallerPid(*ctx);
  if (!caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  absl::Status done = RunOnLoopFlat(loop_,
                                    ctx,
                                    [this,
                                     session = request->session_id(),
                                     group = request->group(),
                                     caller = *caller]() -> absl::Status {
                                      HA_RETURN_IF_ERROR(CheckOwner(session, caller));
                                      return host_.Leave(session, group);
                                    });
  return ToGrpcStatus(done);
}

grpc::Status GroupsService::Multicast(grpc::ServerContext* ctx,
                                      const v1::MulticastRequest* request,
                                      v1::MulticastResponse*) {
  absl::StatusOr<uint32_t> caller = CallerPid(*ctx);
  if (!caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  absl::Status done = RunOnLoopFlat(loop_,
                                    ctx,
                                    [this,
                                     session = request->session_id(),
                                     group = request->group(),
                                     payload = request->payload(),
                                     safe = request->ordering() == v1::SAFE,
                                     caller = *caller]() -> absl::Status {
                                      HA_RETURN_IF_ERROR(CheckOwner(session, caller));
                                      return host_.Multicast(session, group, payload, safe);
                                    });
  return ToGrpcStatus(done);
}

grpc::Status GroupsService::ListGroups(grpc::ServerContext* ctx,
                                       const v1::ListGroupsRequest* request,
                                       v1::ListGroupsResponse* response) {
  auto groups = RunOnLoop(loop_, ctx, [this] { return host_.ListGroups(); });
  if (!groups.ok()) {
    return ToGrpcStatus(groups.status());
  }
  for (const GroupInfo& info : *groups) {
    if (!request->group().empty() && info.group != request->group()) {
      continue;
    }
    v1::GroupInfo* out = response->add_groups();
    out->set_group(info.group);
    for (const GroupMember& m : info.members) {
      *out->add_members() = MemberProto(m);
    }
    for (const auto& [pid, name] : info.local_client_names) {
      (*out->mutable_local_client_names())[pid] = name;
    }
  }
  return grpc::Status::OK;
}

}  // namespace ha::membership
