// The node's process groups as the local APIs see them: one GroupCore (group_core.h) fed the ring's
// agreed order, shared by every front end (the ProcessGroups gRPC service, the libqb IPC server).
// Each front end opens sessions with a sink that receives the session's events in order, and calls
// Join, Leave, Multicast for them; the host carries out GroupCore's effects (events to the sinks,
// payloads to the ring, in order, also when submitting delivers at once).
//
// Threading: loop thread only (the front ends post to the loop).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "membershipd/group_core.h"
#include "membershipd/membership_daemon.h"

namespace ha::membership {

// Receives one session's events. Called on the loop thread, in the order they happen; must not
// call back into the host (queue and act later).
class GroupSessionSink {
 public:
  virtual ~GroupSessionSink() = default;
  virtual void OnGroupEvent(const GroupEvent& event) = 0;
};

class GroupHost final : public RingClient {
 public:
  // REQUIRES: `daemon` outlives the host. Registers itself as the daemon's groups client.
  // `max_pending`: GroupOptions::max_pending (tests lower it).
  explicit GroupHost(MembershipDaemon& daemon, size_t max_pending = GroupOptions{}.max_pending);
  ~GroupHost() override;

  // A new session of process `pid`; `sink` (not owned) gets its events until CloseSession.
  absl::StatusOr<uint64_t> OpenSession(uint32_t pid,
                                       std::string client_name,
                                       GroupSessionSink* sink);
  // The session leaves its groups (PROCDOWN for the others); unknown ids are ignored.
  void CloseSession(uint64_t session);
  // GroupCore's calls and errors (group_core.h).
  absl::Status Join(uint64_t session, const std::string& group);
  absl::Status Leave(uint64_t session, const std::string& group);
  absl::Status Multicast(uint64_t session,
                         const std::string& group,
                         std::string payload,
                         bool safe);
  std::vector<GroupInfo> ListGroups() const { return core_.ListGroups(); }
  // The pid a session was opened for (0: unknown session).
  uint32_t SessionPid(uint64_t session) const;
  // Operations queued or on the ring (GroupCore::pending); Multicast refuses at max_pending, or
  // when the payload would go beyond max_pending_bytes (GroupOptions' defaults).
  size_t pending() const { return core_.pending(); }
  uint32_t local_node_id() const { return daemon_.local_node_id(); }
  size_t max_payload() const { return options_.max_payload; }

  // `listener` runs after each ring delivery or change has been applied (pending work may now
  // fit). REQUIRES: the listener outlives the host or is removed by returning the id to
  // RemoveProgressListener.
  int AddProgressListener(std::function<void()> listener);
  void RemoveProgressListener(int id);
  // `source` adds a front end's counters to the daemon's ("cpg.ipc.*"); removed like listeners.
  int AddCounterSource(std::function<void(std::map<std::string, uint64_t>&)> source);
  void RemoveCounterSource(int id);

  // RingClient (loop thread).
  void OnRingDelivery(const Delivery& delivery, absl::string_view payload) override;
  void OnRingChange(const ConfigChange& change) override;
  bool IsStaleRingPayload(absl::string_view payload) const override {
    return core_.IsStaleFrame(payload);
  }
  void AddCounters(std::map<std::string, uint64_t>& counters) const override;

 private:
  struct Session {
    uint32_t pid = 0;
    GroupSessionSink* sink = nullptr;
  };

  void Apply(GroupEffects effects);
  void NotifyProgress();

  MembershipDaemon& daemon_;
  const GroupOptions options_;
  GroupCore core_;
  uint64_t next_session_ = 1;
  std::map<uint64_t, Session> sessions_;
  // What goes to the ring, in GroupCore's order: submitting may deliver and apply more effects
  // before the rest of a batch is sent, so everything goes through this queue.
  std::deque<RingSend> to_ring_;
  bool submitting_ = false;
  int next_listener_ = 1;
  std::map<int, std::function<void()>> listeners_;
  std::map<int, std::function<void(std::map<std::string, uint64_t>&)>> counter_sources_;
};

}  // namespace ha::membership
