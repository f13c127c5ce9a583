#include "membershipd/group_host.h"

#include <utility>

#include "common/logging.h"

namespace ha::membership {
namespace {

GroupOptions OptionsFor(const MembershipDaemon& daemon, size_t max_pending) {
  GroupOptions options;
  options.local_id = daemon.local_node_id();
  options.max_ring_payload = daemon.max_payload();
  options.max_pending = max_pending;
  return options;
}

}  // namespace

GroupHost::GroupHost(MembershipDaemon& daemon, size_t max_pending)
    : daemon_(daemon), options_(OptionsFor(daemon, max_pending)), core_(options_) {
  daemon_.SetGroupsClient(this);
}

GroupHost::~GroupHost() {
  daemon_.SetGroupsClient(nullptr);
}

absl::StatusOr<uint64_t> GroupHost::OpenSession(uint32_t pid,
                                                std::string client_name,
                                                GroupSessionSink* sink) {
  const uint64_t id = next_session_++;
  GroupEffects effects;
  if (absl::Status s = core_.OpenSession(id, pid, std::move(client_name), effects); !s.ok())
    return s;
  sessions_[id] = Session{pid, sink};
  Apply(std::move(effects));
  return id;
}

void GroupHost::CloseSession(uint64_t session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end())
    return;
  // No more events for it, even those its own leave produces.
  sessions_.erase(it);
  GroupEffects effects;
  (void)core_.CloseSession(session, effects);
  Apply(std::move(effects));
}

absl::Status GroupHost::Join(uint64_t session, const std::string& group) {
  GroupEffects effects;
  absl::Status s = core_.Join(session, group, effects);
  Apply(std::move(effects));
  return s;
}

absl::Status GroupHost::Leave(uint64_t session, const std::string& group) {
  GroupEffects effects;
  absl::Status s = core_.Leave(session, group, effects);
  Apply(std::move(effects));
  return s;
}

absl::Status GroupHost::Multicast(uint64_t session,
                                  const std::string& group,
                                  std::string payload,
                                  bool safe) {
  GroupEffects effects;
  absl::Status s = core_.Multicast(session, group, std::move(payload), safe, effects);
  Apply(std::move(effects));
  return s;
}

uint32_t GroupHost::SessionPid(uint64_t session) const {
  auto it = sessions_.find(session);
  return it == sessions_.end() ? 0 : it->second.pid;
}

int GroupHost::AddProgressListener(std::function<void()> listener) {
  const int id = next_listener_++;
  listeners_[id] = std::move(listener);
  return id;
}

void GroupHost::RemoveProgressListener(int id) {
  listeners_.erase(id);
}

int GroupHost::AddCounterSource(std::function<void(std::map<std::string, uint64_t>&)> source) {
  const int id = next_listener_++;
  counter_sources_[id] = std::move(source);
  return id;
}

void GroupHost::RemoveCounterSource(int id) {
  counter_sources_.erase(id);
}

void GroupHost::OnRingDelivery(const Delivery& delivery, absl::string_view payload) {
  Delivery inner = delivery;
  inner.payload = std::string(payload);
  Apply(core_.OnDelivery(inner));
  NotifyProgress();
}

void GroupHost::OnRingChange(const ConfigChange& change) {
  Apply(core_.OnConfigChange(change));
  NotifyProgress();
}

void GroupHost::NotifyProgress() {
  // A listener may add or remove listeners: iterate over a copy of the ids.
  std::vector<int> ids;
  for (const auto& [id, listener] : listeners_) {
    ids.push_back(id);
  }
  for (int id : ids) {
    auto it = listeners_.find(id);
    if (it != listeners_.end())
      it->second();
  }
}

void GroupHost::Apply(GroupEffects effects) {
  for (const std::string& line : effects.log) {
    HA_LOG_INFO("cpg", "%s", line.c_str());
  }
  for (const SessionEvent& event : effects.events) {
    auto it = sessions_.find(event.session_id);
    if (it != sessions_.end() && it->second.sink != nullptr)
      it->second.sink->OnGroupEvent(event.event);
  }
  for (RingSend& send : effects.submit) {
    to_ring_.push_back(std::move(send));
  }
  if (submitting_)
    return;  // the outer call sends these after what it holds, in order
  submitting_ = true;
  while (!to_ring_.empty()) {
    RingSend send = std::move(to_ring_.front());
    to_ring_.pop_front();
    daemon_.Send(RingService::kGroups, std::move(send.payload), send.safe);
  }
  submitting_ = false;
}

void GroupHost::AddCounters(std::map<std::string, uint64_t>& counters) const {
  const GroupCounters& c = core_.counters();
  counters["cpg.sessions"] = sessions_.size();
  counters["cpg.groups"] = core_.ListGroups().size();
  counters["cpg.pending"] = core_.pending();
  counters["cpg.pending_bytes"] = core_.pending_bytes();
  counters["cpg.messages_delivered"] = c.messages_delivered;
  counters["cpg.frames_stale"] = c.frames_stale;
  counters["cpg.frames_invalid"] = c.frames_invalid;
  counters["cpg.messages_ignored"] = c.messages_ignored;
  counters["cpg.syncs_completed"] = c.syncs_completed;
  counters["cpg.resent"] = c.resent;
  for (const auto& [id, source] : counter_sources_) {
    source(counters);
  }
}

}  // namespace ha::membership
