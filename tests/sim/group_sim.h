// Process groups in the deterministic simulator: one GroupCore on every node of a TotemSim, fed
// what that node's ring delivers, its submissions put on that node's ring, and simulated client
// sessions on top. It records every event each session gets and keeps a model of what the clients
// asked for, for the group-level invariants (CheckGroupSafety) and the state after healing
// (CheckGroupsConverged).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "membershipd/group_core.h"
#include "tests/sim/totem_sim.h"

namespace ha::sim {

// One client session, as the simulated client saw it.
struct SessionRecord {
  uint64_t id = 0;
  NodeId node = 0;
  uint32_t pid = 0;
  bool open = true;              // neither closed by its client nor ended by its node's death
  bool killed = false;           // ended by its node's death
  std::set<std::string> groups;  // joined and not left, as the client asked
  std::vector<membership::GroupEvent> events;  // everything it got, in order
  std::map<std::string, std::string> sent;     // multicast payload tag -> group (accepted ones)
};

class GroupSim {
 public:
  GroupSim(int node_count, uint64_t seed, membership::TotemOptions options);

  TotemSim& totem() { return totem_; }
  const TotemSim& totem() const { return totem_; }
  const membership::GroupCore* core(NodeId node) const { return cores_.at(node).get(); }
  const std::map<uint64_t, SessionRecord>& sessions() const { return sessions_; }

  // Client calls. Each checks the status GroupCore returns against what the model predicts and
  // records a mismatch (errors()). Open returns the new session's id, 0 when the node is down;
  // `pid` 0 picks a fresh one.
  uint64_t Open(NodeId node, uint32_t pid = 0);
  absl::Status Close(uint64_t session);
  absl::Status Join(uint64_t session, const std::string& group);
  absl::Status Leave(uint64_t session, const std::string& group);
  // The payload starts with a unique tag ("s<session>.<n>|"), then `size` filler bytes.
  absl::Status Multicast(uint64_t session, const std::string& group, size_t size, bool safe);

  void Kill(NodeId node);
  void Restart(NodeId node);

  // What went wrong while running: a status the model did not predict, two nodes holding
  // different views at one position of a synced configuration, a submission the ring refused.
  const std::vector<std::string>& errors() const { return errors_; }

  // Whether, at each configuration change, a node's frames of the old configuration still waiting
  // for the ring are dropped (GroupCore::IsStaleFrame, TotemCore::DropQueued) as the daemon does;
  // on by default.
  void set_drop_stale_frames(bool on) { drop_stale_frames_ = on; }
  // Frames delivered and dropped as stale, summed over every node incarnation so far.
  uint64_t frames_stale() const;
  uint64_t frames_dropped_unsent() const { return frames_dropped_unsent_; }

 private:
  void OnOutput(NodeId node, const membership::Output& output);
  void Absorb(NodeId node, membership::GroupEffects effects);
  void Expect(const char* call,
              uint64_t session,
              const absl::Status& got,
              absl::StatusCode want,
              const std::string& detail);
  SessionRecord* OpenSession(uint64_t session);

  TotemSim totem_;
  membership::TotemOptions options_;
  std::map<NodeId, std::unique_ptr<membership::GroupCore>> cores_;
  std::map<uint64_t, SessionRecord> sessions_;
  uint64_t next_session_ = 1;
  uint32_t next_pid_ = 1000;
  uint64_t next_tag_ = 0;
  // The view of every node that was synced at a position: they must all be the same.
  std::map<membership::Position, std::string> view_at_;
  std::vector<std::string> errors_;
  bool drop_stale_frames_ = true;
  uint64_t frames_dropped_unsent_ = 0;
  uint64_t frames_stale_of_killed_ = 0;  // the counters of the cores that are gone
};

// "" when the recorded events keep the group-level invariants, else the first violation:
//  1. a session's events of a group come in memberships: the first is a change with its own JOIN,
//     each change's members are the previous ones plus joined minus left, and the last (if it
//     left) is a change with its own LEAVE; nothing arrives for a group it is not in;
//  2. message seq of a membership are 1, 2, 3...; a payload reaches a membership at most once,
//     unless its sender was seen leaving in between (group_core.h, deviation 2);
//  3. every message was multicast by the session that is named as its sender;
//  4. events at one position of the agreed order are the same for every session: a message is
//     the same message, a change has the same members (and joined and left, except at a sync,
//     where what a node learns depends on what it knew);
//  5. virtual synchrony: two memberships that both delivered a change deliver the same messages
//     until their next change when that is the same change, else one's are a prefix of the
//     other's;
//  6. a session that is still open got every message it sent, exactly once.
std::string CheckGroupSafety(const GroupSim& sim);

// "" when the ring converged, every live node is synced with nothing pending, and every node's
// view of every group is exactly the live sessions that joined it.
std::string CheckGroupsConverged(const GroupSim& sim);

}  // namespace ha::sim
