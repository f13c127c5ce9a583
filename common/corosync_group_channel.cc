#include "common/corosync_group_channel.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/logging.h"

namespace ha {
namespace {

namespace mv1 = membership::v1;

// How long to wait before offering corosync a multicast it refused with TRY_AGAIN (its send
// queue was full).
constexpr absl::Duration kFlushRetry = absl::Milliseconds(2);
// How long a ring change's group change waits for the ring report that follows it.
constexpr absl::Duration kRingWait = absl::Seconds(1);

bool IsRingChange(const mv1::GroupChange& change) {
  for (const auto* list : {&change.joined(), &change.left()}) {
    for (const mv1::GroupMember& m : *list) {
      if (m.reason() == mv1::REASON_NODEUP || m.reason() == mv1::REASON_NODEDOWN)
        return true;
    }
  }
  return false;
}

std::string CsError(const char* call, cs_error_t rc) {
  return absl::StrCat("corosync: ", call, ": ", cs_strerror(rc));
}

mv1::GroupChangeReason ReasonOf(uint32_t cpg_reason) {
  switch (cpg_reason) {
    case CPG_REASON_JOIN:
      return mv1::REASON_JOIN;
    case CPG_REASON_LEAVE:
      return mv1::REASON_LEAVE;
    case CPG_REASON_NODEDOWN:
      return mv1::REASON_NODEDOWN;
    case CPG_REASON_NODEUP:
      return mv1::REASON_NODEUP;
    case CPG_REASON_PROCDOWN:
      return mv1::REASON_PROCDOWN;
    default:
      return mv1::GROUP_CHANGE_REASON_UNSPECIFIED;
  }
}

void AddMembers(const cpg_address* list,
                size_t count,
                bool with_reason,
                google::protobuf::RepeatedPtrField<mv1::GroupMember>* out) {
  for (size_t i = 0; i < count; ++i) {
    mv1::GroupMember* m = out->Add();
    m->set_node_id(list[i].nodeid);
    m->set_pid(list[i].pid);
    if (with_reason)
      m->set_reason(ReasonOf(list[i].reason));
  }
}

}  // namespace

CorosyncGroupChannel::CorosyncGroupChannel(EventLoop& loop, Options options, Handlers handlers)
    : loop_(loop),
      options_(std::move(options)),
      handlers_(std::move(handlers)),
      backoff_(options_.min_backoff) {}

CorosyncGroupChannel::~CorosyncGroupChannel() {
  Stop();
  *alive_ = false;
}

void CorosyncGroupChannel::Start() {
  if (started_ || stopped_)
    return;
  started_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive] {
    if (auto a = alive.lock(); a && *a)
      Connect();
  });
}

void CorosyncGroupChannel::Stop() {
  if (stopped_)
    return;
  stopped_ = true;
  *alive_ = false;
  if (retry_timer_ != 0)
    loop_.CancelTimer(retry_timer_);
  if (flush_timer_ != 0)
    loop_.CancelTimer(flush_timer_);
  if (ring_wait_timer_ != 0)
    loop_.CancelTimer(ring_wait_timer_);
  retry_timer_ = flush_timer_ = ring_wait_timer_ = 0;
  if (cpg_open_) {
    loop_.Unwatch(cpg_fd_);
    if (joined_) {
      cpg_name name{};
      name.length = options_.group.size();
      memcpy(name.value, options_.group.data(), name.length);
      cpg_leave(cpg_, &name);  // the others see a LEAVE rather than a PROCDOWN
    }
    cpg_finalize(cpg_);
    cpg_open_ = false;
    joined_ = false;
  }
  CloseQuorum();
}

void CorosyncGroupChannel::Multicast(uint64_t generation, std::string payload) {
  {
    absl::MutexLock lock(&mu_);
    incoming_.emplace_back(generation, std::move(payload));
  }
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive] {
    if (auto a = alive.lock(); a && *a)
      Flush();
  });
}

void CorosyncGroupChannel::RetryLater(absl::Duration after) {
  if (stopped_ || retry_timer_ != 0)
    return;
  retry_timer_ = loop_.AddTimer(after, [this] {
    retry_timer_ = 0;
    Connect();
  });
}

void CorosyncGroupChannel::Connect() {
  if (stopped_ || cpg_open_)
    return;
  ++generation_;
  ring_id_.Clear();
  ring_known_ = false;
  ring_reported_ = false;
  ring_members_.clear();
  awaiting_ring_ = false;
  held_.clear();
  if (ring_wait_timer_ != 0)
    loop_.CancelTimer(ring_wait_timer_);
  ring_wait_timer_ = 0;
  cpg_model_v1_data_t model{};
  model.model = CPG_MODEL_V1;
  model.cpg_deliver_fn = &DeliverCallback;
  model.cpg_confchg_fn = &ConfchgCallback;
  model.cpg_totem_confchg_fn = &TotemConfchgCallback;
  model.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF;
  cs_error_t rc =
      cpg_model_initialize(&cpg_, CPG_MODEL_V1, reinterpret_cast<cpg_model_data_t*>(&model), this);
  if (rc != CS_OK) {
    EndSession(CsError("cpg_initialize", rc));
    return;
  }
  cpg_open_ = true;
  rc = cpg_fd_get(cpg_, &cpg_fd_);
  if (rc != CS_OK) {
    EndSession(CsError("cpg_fd_get", rc));
    return;
  }
  if (absl::Status s = loop_.WatchReadable(cpg_fd_, [this] { OnCpgReadable(); }); !s.ok()) {
    cpg_fd_ = -1;
    EndSession(absl::StrCat("cannot watch corosync's descriptor: ", s.message()));
    return;
  }
  cpg_name name{};
  name.length = std::min<size_t>(options_.group.size(), CPG_MAX_NAME_LENGTH);
  memcpy(name.value, options_.group.data(), name.length);
  rc = cpg_join(cpg_, &name);
  if (rc != CS_OK) {
    EndSession(CsError("cpg_join", rc));
    return;
  }
  unsigned int node_id = 0;
  rc = cpg_local_get(cpg_, &node_id);
  if (rc != CS_OK) {
    EndSession(CsError("cpg_local_get", rc));
    return;
  }
  joined_ = true;
  backoff_ = options_.min_backoff;
  last_failure_.clear();
  const auto pid = static_cast<uint32_t>(getpid());
  HA_LOG_NOTICE(options_.log_subsystem.c_str(),
                "Joined corosync process group %s | node=%u pid=%u",
                options_.group,
                node_id,
                pid);
  handlers_.joined(generation_, node_id, pid);
  if (handlers_.quorum)
    ConnectQuorum();
  Flush();
}

void CorosyncGroupChannel::ConnectQuorum() {
  quorum_model_v0_data_t model{};
  model.model = QUORUM_MODEL_V0;
  model.quorum_notify_fn = &QuorumCallback;
  uint32_t quorum_type = 0;
  cs_error_t rc = quorum_model_initialize(&quorum_,
                                          QUORUM_MODEL_V0,
                                          reinterpret_cast<quorum_model_data_t*>(&model),
                                          &quorum_type,
                                          this);
  if (rc != CS_OK) {
    HA_LOG_WARN(options_.log_subsystem.c_str(),
                "No quorum from corosync | reason=%s",
                CsError("quorum_initialize", rc));
    handlers_.quorum(false);
    return;
  }
  quorum_open_ = true;
  if (quorum_type == 0) {
    // No quorum provider configured in corosync: every partition may act, as with membershipd.
    handlers_.quorum(true);
    CloseQuorum();
    return;
  }
  int quorate = 0;
  rc = quorum_getquorate(quorum_, &quorate);
  if (rc == CS_OK)
    rc = quorum_fd_get(quorum_, &quorum_fd_);
  if (rc == CS_OK)
    rc = quorum_trackstart(quorum_, CS_TRACK_CHANGES);
  if (rc != CS_OK || !loop_.WatchReadable(quorum_fd_, [this] { OnQuorumReadable(); }).ok()) {
    quorum_fd_ = -1;
    CloseQuorum();
    handlers_.quorum(false);
    return;
  }
  handlers_.quorum(quorate != 0);
}

void CorosyncGroupChannel::CloseQuorum() {
  if (!quorum_open_)
    return;
  if (quorum_fd_ >= 0)
    loop_.Unwatch(quorum_fd_);
  quorum_fd_ = -1;
  quorum_finalize(quorum_);
  quorum_open_ = false;
}

void CorosyncGroupChannel::EndSession(const std::string& why) {
  const bool was_joined = joined_;
  if (cpg_open_) {
    if (cpg_fd_ >= 0)
      loop_.Unwatch(cpg_fd_);
    cpg_finalize(cpg_);
  }
  cpg_open_ = false;
  cpg_fd_ = -1;
  joined_ = false;
  outbox_.clear();  // for the ended session
  if (quorum_open_) {
    CloseQuorum();
    if (handlers_.quorum)
      handlers_.quorum(false);
  }
  handlers_.lost(generation_, why);
  if (was_joined) {
    HA_LOG_WARN(options_.log_subsystem.c_str(),
                "Left corosync process group %s; reconnecting | reason=%s",
                options_.group,
                why);
    backoff_ = options_.min_backoff;
  } else if (why != last_failure_) {
    HA_LOG_NOTICE(options_.log_subsystem.c_str(),
                  "Cannot join corosync process group %s yet; retrying | reason=%s",
                  options_.group,
                  why);
  }
  last_failure_ = why;
  RetryLater(backoff_);
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
}

void CorosyncGroupChannel::OnCpgReadable() {
  if (!cpg_open_)
    return;
  cs_error_t rc = cpg_dispatch(cpg_, CS_DISPATCH_ALL);
  if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN && cpg_open_)
    EndSession(CsError("cpg_dispatch", rc));
}

void CorosyncGroupChannel::OnQuorumReadable() {
  if (!quorum_open_)
    return;
  cs_error_t rc = quorum_dispatch(quorum_, CS_DISPATCH_ALL);
  if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN) {
    CloseQuorum();
    handlers_.quorum(false);  // the CPG session notices corosync's end and reconnects both
  }
}

void CorosyncGroupChannel::Flush() {
  if (stopped_)
    return;
  {
    absl::MutexLock lock(&mu_);
    while (!incoming_.empty()) {
      outbox_.push_back(std::move(incoming_.front()));
      incoming_.pop_front();
    }
  }
  while (!outbox_.empty()) {
    auto& [generation, payload] = outbox_.front();
    if (generation != generation_ || !joined_) {
      outbox_.pop_front();  // for a session that ended
      continue;
    }
    iovec iov{payload.data(), payload.size()};
    cs_error_t rc = cpg_mcast_joined(cpg_, CPG_TYPE_AGREED, &iov, 1);
    if (rc == CS_ERR_TRY_AGAIN) {
      if (flush_timer_ == 0) {
        flush_timer_ = loop_.AddTimer(kFlushRetry, [this] {
          flush_timer_ = 0;
          Flush();
        });
      }
      return;
    }
    if (rc != CS_OK) {
      HA_LOG_WARN(options_.log_subsystem.c_str(),
                  "A multicast to the group failed | bytes=%d error=%s",
                  payload.size(),
                  CsError("cpg_mcast_joined", rc));
    }
    outbox_.pop_front();
  }
}

void CorosyncGroupChannel::DeliverCallback(
    cpg_handle_t handle, const cpg_name*, uint32_t nodeid, uint32_t pid, void* msg, size_t len) {
  void* context = nullptr;
  if (cpg_context_get(handle, &context) != CS_OK || context == nullptr)
    return;
  auto* self = static_cast<CorosyncGroupChannel*>(context);
  auto deliver = [self, nodeid, pid, payload = std::string(static_cast<const char*>(msg), len)] {
    self->handlers_.message(self->generation_, nodeid, pid, payload);
  };
  self->DeliverOrHold(std::move(deliver));
}

void CorosyncGroupChannel::ConfchgCallback(cpg_handle_t handle,
                                           const cpg_name* group,
                                           const cpg_address* members,
                                           size_t member_count,
                                           const cpg_address* left,
                                           size_t left_count,
                                           const cpg_address* joined,
                                           size_t joined_count) {
  void* context = nullptr;
  if (cpg_context_get(handle, &context) != CS_OK || context == nullptr)
    return;
  auto* self = static_cast<CorosyncGroupChannel*>(context);
  mv1::GroupChange change;
  change.set_group(std::string(group->value, std::min<size_t>(group->length, CPG_MAX_NAME_LENGTH)));
  AddMembers(members, member_count, /*with_reason=*/false, change.mutable_members());
  AddMembers(joined, joined_count, /*with_reason=*/true, change.mutable_joined());
  AddMembers(left, left_count, /*with_reason=*/true, change.mutable_left());
  if (IsRingChange(change)) {
    self->awaiting_ring_ = true;
    if (self->ring_wait_timer_ == 0) {
      self->ring_wait_timer_ = self->loop_.AddTimer(kRingWait, [self] {
        self->ring_wait_timer_ = 0;
        HA_LOG_WARN(self->options_.log_subsystem.c_str(),
                    "Corosync reported no ring after a ring change; going on with the last one "
                    "| ring=%x.%x",
                    self->ring_id_.rep_node_id(),
                    self->ring_id_.seq());
        self->ReleaseHeld();
      });
    }
  }
  auto deliver = [self, change = std::move(change)]() mutable {
    *change.mutable_ring_id() = self->ring_id_;
    HA_LOG_DEBUG(self->options_.log_subsystem.c_str(),
                 "Corosync group change | ring=%x.%x change=%s",
                 self->ring_id_.rep_node_id(),
                 self->ring_id_.seq(),
                 change.ShortDebugString());
    self->handlers_.change(self->generation_, change);
  };
  self->DeliverOrHold(std::move(deliver));
}

void CorosyncGroupChannel::TotemConfchgCallback(cpg_handle_t handle,
                                                cpg_ring_id ring_id,
                                                uint32_t member_count,
                                                const uint32_t* members) {
  void* context = nullptr;
  if (cpg_context_get(handle, &context) != CS_OK || context == nullptr)
    return;
  auto* self = static_cast<CorosyncGroupChannel*>(context);
  HA_LOG_INFO(self->options_.log_subsystem.c_str(),
              "Corosync ring configuration | ring=%x.%x members=%u",
              ring_id.nodeid,
              ring_id.seq,
              member_count);
  self->ring_id_.set_rep_node_id(ring_id.nodeid);
  self->ring_id_.set_seq(ring_id.seq);
  self->ring_known_ = true;
  self->ReportRing(std::vector<uint32_t>(members, members + member_count));
  self->ReleaseHeld();
}

void CorosyncGroupChannel::ReportRing(std::vector<uint32_t> members) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  const bool initial = !ring_reported_;
  std::vector<uint32_t> previous = std::exchange(ring_members_, members);
  ring_reported_ = true;
  if (!handlers_.ring || !joined_)
    return;
  mv1::MembershipChange change;
  *change.mutable_ring_id() = ring_id_;
  change.set_initial(initial);
  change.set_time_unix_ms(absl::ToUnixMillis(absl::Now()));
  for (uint32_t id : members)
    change.add_members()->set_node_id(id);
  if (!initial) {
    for (uint32_t id : members) {
      if (!std::binary_search(previous.begin(), previous.end(), id))
        change.add_joined()->set_node_id(id);
    }
    for (uint32_t id : previous) {
      if (!std::binary_search(members.begin(), members.end(), id))
        change.add_left()->set_node_id(id);
    }
  }
  handlers_.ring(generation_, change);
}

void CorosyncGroupChannel::DeliverOrHold(std::function<void()> deliver) {
  if (ring_known_ && !awaiting_ring_)
    deliver();
  else
    held_.push_back(std::move(deliver));
}

void CorosyncGroupChannel::ReleaseHeld() {
  awaiting_ring_ = false;
  if (ring_wait_timer_ != 0)
    loop_.CancelTimer(ring_wait_timer_);
  ring_wait_timer_ = 0;
  std::vector<std::function<void()>> held = std::move(held_);
  held_.clear();
  for (auto& deliver : held)
    deliver();
}

void CorosyncGroupChannel::QuorumCallback(
    quorum_handle_t handle, uint32_t quorate, uint64_t, uint32_t, uint32_t*) {
  const void* context = nullptr;
  if (quorum_context_get(handle, &context) != CS_OK || context == nullptr)
    return;
  auto* self = static_cast<const CorosyncGroupChannel*>(context);
  self->handlers_.quorum(quorate != 0);
}

}  // namespace ha
