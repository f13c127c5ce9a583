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
  }
  return out;
}

GroupOptions OptionsFor(const MembershipDaemon& daemon) {
  GroupOptions options;
  options.local_id = daemon.local_node_id();
  options.max_ring_payload = daemon.max_payload();
  return options;
}

}  // namespace

GroupsService::GroupsService(EventLoop& loop, MembershipDaemon& daemon, PeerLookup peer_of)
    : loop_(loop), daemon_(daemon), peer_of_(std::move(peer_of)), core_(OptionsFor(daemon)) {
  daemon_.SetGroupsClient(this);
}

GroupsService::~GroupsService() {
  daemon_.SetGroupsClient(nullptr);
  CloseSessions();
}

void GroupsService::CloseSessions() {
  for (auto& [id, session] : sessions_) {
    session.hub->Close();
  }
}

void GroupsService::OnRingDelivery(const Delivery& delivery, absl::string_view payload) {
  Delivery inner = delivery;
  inner.payload = std::string(payload);
  Apply(core_.OnDelivery(inner));
}

void GroupsService::OnRingChange(const ConfigChange& change) {
  Apply(core_.OnConfigChange(change));
}

void GroupsService::Apply(GroupEffects effects) {
  for (const std::string& line : effects.log) {
    HA_LOG_INFO("cpg", "%s", line.c_str());
  }
  // Events first: submitting may deliver (and so publish) later events at once.
  for (const SessionEvent& event : effects.events) {
    auto it = sessions_.find(event.session_id);
    if (it == sessions_.end()) {
      continue;
    }
    it->second.hub->Publish(EventProto(event.event));
    // A JoinGroup caller is answered with the change that contains its own join.
    if (const auto* change = std::get_if<GroupChange>(&event.event)) {
      for (const GroupMember& m : change->joined) {
        if (m.node == daemon_.local_node_id() && m.pid == it->second.pid &&
            m.reason == ChangeReason::kJoin) {
          auto [first, last] = it->second.join_waiters.equal_range(change->group);
          for (auto w = first; w != last; ++w) {
            w->second();
          }
          it->second.join_waiters.erase(first, last);
        }
      }
    }
  }
  for (RingSend& send : effects.submit) {
    daemon_.Send(RingService::kGroups, std::move(send.payload), send.safe);
  }
}

void GroupsService::AddCounters(std::map<std::string, uint64_t>& counters) const {
  const GroupCounters& c = core_.counters();
  counters["cpg.sessions"] = sessions_.size();
  counters["cpg.groups"] = core_.ListGroups().size();
  counters["cpg.messages_delivered"] = c.messages_delivered;
  counters["cpg.frames_stale"] = c.frames_stale;
  counters["cpg.frames_invalid"] = c.frames_invalid;
  counters["cpg.messages_ignored"] = c.messages_ignored;
  counters["cpg.syncs_completed"] = c.syncs_completed;
  counters["cpg.resent"] = c.resent;
}

absl::Status GroupsService::CheckOwner(uint64_t session, uint32_t caller_pid) const {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) {
    return absl::NotFoundError(absl::StrCat("no session ", session));
  }
  if (it->second.pid != caller_pid) {
    return absl::PermissionDeniedError(
        absl::StrCat("session ", session, " belongs to pid ", it->second.pid));
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
  const uint64_t id = next_session_.fetch_add(1);
  const uint32_t pid = *caller;
  auto hub = std::make_shared<StreamHub<v1::GroupEvent>>(kSessionQueueLimit, "group events");
  auto sub =
      RunOnLoopFlat(loop_,
                    ctx,
                    [this, id, pid, hub, name = request->client_name()]()
                        -> absl::StatusOr<std::shared_ptr<StreamHub<v1::GroupEvent>::Subscriber>> {
                      GroupEffects effects;
                      if (absl::Status s = core_.OpenSession(id, pid, name, effects); !s.ok()) {
                        return s;
                      }
                      sessions_[id] = Session{hub, pid, {}};
                      v1::GroupEvent started;
                      started.mutable_session_started()->set_session_id(id);
                      started.mutable_session_started()->set_local_node_id(daemon_.local_node_id());
                      started.mutable_session_started()->set_pid(pid);
                      auto subscriber = hub->Subscribe(nullptr, started);
                      Apply(std::move(effects));
                      return subscriber;
                    });
  if (!sub.ok()) {
    return ToGrpcStatus(sub.status());
  }
  grpc::Status status = hub->Serve(ctx, writer, *sub);
  // The stream ended: the session leaves its groups (PROCDOWN for the others).
  loop_.Post([this, id] {
    GroupEffects effects;
    (void)core_.CloseSession(id, effects);
    sessions_.erase(id);
    Apply(std::move(effects));
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
        auto it = sessions_.find(session);
        GroupEffects effects;
        absl::Status s = core_.Join(session, group, effects);
        if (!s.ok()) {
          return s;
        }
        it->second.join_waiters.emplace(group, [joined] { joined->set_value(absl::OkStatus()); });
        Apply(std::move(effects));
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
                                      GroupEffects effects;
                                      absl::Status s = core_.Leave(session, group, effects);
                                      Apply(std::move(effects));
                                      return s;
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
                                      GroupEffects effects;
                                      absl::Status s =
                                          core_.Multicast(session, group, payload, safe, effects);
                                      Apply(std::move(effects));
                                      return s;
                                    });
  return ToGrpcStatus(done);
}

grpc::Status GroupsService::ListGroups(grpc::ServerContext* ctx,
                                       const v1::ListGroupsRequest* request,
                                       v1::ListGroupsResponse* response) {
  auto groups = RunOnLoop(loop_, ctx, [this] { return core_.ListGroups(); });
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
