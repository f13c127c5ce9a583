// Process groups (corosync's CPG) over the totem ring, as a pure state machine.
//
// It implements the ProcessGroups service of proto/membership.proto: named groups of processes
// (members are (node id, pid)) with agreed-order messages and virtual synchrony, on top of a ring
// that hands every node the same configuration changes and agreed-order messages with extended
// virtual synchrony (membershipd/totem_core.h). One instance per node; the daemon feeds it its
// local clients' calls (OpenSession, CloseSession, Join, Leave, Multicast) and everything the ring
// delivers, in the ring's order (OnConfigChange, OnDelivery), and carries out the GroupEffects it
// gets back: payloads to submit to the ring, in order, and events for local sessions. It does no
// I/O, reads no clock, starts no threads and keeps no globals. Not thread-safe: one owner.
//
// The rules (the wire format is proto/group_wire.proto):
//  1. Nothing a client does takes effect locally. Join, Leave, a multicast and the end of a session
//     (a PROCDOWN leave per group) become messages on the ring and take effect when delivered, so
//     every node applies them at the same point of the order. A call only checks the request
//     against the session's intended memberships (its joins and leaves so far, delivered or not).
//  2. Every frame names the configuration (ring id) it was sent for, and is applied only when it
//     is delivered in that configuration; any other frame is stale and dropped by every node.
//  3. Sync (corosync's CPG joinlist exchange). On a configuration change every node at once
//     removes the members on nodes that are not members any more (reason NODEDOWN: every node has
//     the same member list, so this is deterministic), then multicasts a Sync for the new
//     configuration (its sync id is the frame's ring id) listing its own members. A node is
//     authoritative for its own members: only its own messages change them. Once the Sync of every
//     member of the configuration has been delivered, every node replaces its view by the union of
//     those lists, the same at every node; what it did not know joins with reason NODEUP, what
//     it knew and nobody listed leaves with NODEDOWN (a node whose old view was stale: it missed a
//     configuration another member went through, or a node restarted too fast to be seen leaving).
//     A configuration change during a sync restarts it (the old Syncs are stale by rule 2).
//  4. A node sends nothing but its Sync until it has seen the current configuration's sync
//     complete: client operations wait in a local queue and are sent, tagged with the
//     configuration, once it completes. So every applied Join, Leave and multicast is delivered
//     after the sync point, when all nodes of the configuration hold the same view, and is applied
//     to that same view (a non-Sync message delivered before the sync point cannot come from a
//     correct node and is dropped by all).
//  5. A node's operations sent in a configuration and not delivered in it by the node itself (the
//     ring discarded them at the change, or they were still queued) are sent again, in order,
//     after the next sync. By extended virtual synchrony the nodes that move with it to the next
//     configuration did not deliver them either, so they see each operation once.
//  6. A message bigger than the ring's limit is split into consecutive frames of its sender;
//     every partial message is dropped at a configuration change (its sender sends it again by
//     rule 5, or left).
//
// Why the invariants hold: after the sync point of a configuration every node holds the same view
// and applies the same messages in the same order (agreed order) with a deterministic function, so
// every member of a group delivers the same messages and changes at the same positions; nodes that
// move together to the next configuration delivered the same messages in the old one (extended
// virtual synchrony) and remove the same members at the change. A sender's own messages are
// delivered to it: rule 5 sends them until delivered, and its leave is queued after them.
// Per-session seq are counted locally per delivered message. After the network heals, the views
// are the union of what every live node reports of itself, which rule 5 makes what its sessions
// asked for.
//
// Deviations from corosync's CPG, numbered:
//  1. Joins, leaves and messages of a configuration are not delivered before its sync completes
//     (corosync delivers messages of the nodes that stayed during the sync); local calls made
//     meanwhile are queued, so a view change costs one extra round of the ring.
//  2. A message the ring discarded at a configuration change is sent again in the next one (rule
//     5) instead of being lost. A node that saw the sender leave and come back in between (a
//     detour through a configuration the sender was not in) can deliver it twice, on either side
//     of the sender's NODEDOWN / NODEUP; never twice within one membership of the sender.
//  3. A GroupChange is delivered to the leaving session itself (the change that contains its own
//     LEAVE), not to a session that ended (PROCDOWN).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "membershipd/totem_core.h"
#include "proto/group_wire.pb.h"

namespace ha::membership {

namespace group_wire = ::ha::groups::wire::v1;

struct GroupOptions {
  NodeId local_id = 0;
  // The ring's message limit (TotemOptions::max_payload): frames are kept at or below it.
  size_t max_ring_payload = 60000;
  // A client multicast's limit (proto/membership.proto: 1 MiB).
  size_t max_payload = size_t{1} << 20;
  // Client operations queued or on the ring, not yet delivered back: Multicast refuses beyond
  // (RESOURCE_EXHAUSTED). Joins, leaves and session ends are never refused.
  size_t max_pending = 10000;
  // The payload bytes of those multicasts: Multicast refuses one that would go beyond
  // (RESOURCE_EXHAUSTED), unless none is pending, so one of max_payload always fits. The count
  // alone would let 10,000 messages of 1 MiB lock 10 GB (the daemon runs mlockall); 64 MiB keeps
  // 64 messages of the maximum size, or thousands of small ones, ahead of the ring, far more
  // than a token rotation carries, so throughput does not suffer.
  size_t max_pending_bytes = size_t{64} << 20;
};

enum class Ordering {
  kAgreed,  // AGREED
  kSafe,    // SAFE: delivered once every member of the ring has it (at a configuration change:
            // every member moving on with this node; totem_core.h, deviation 3)
};

// proto GroupChangeReason.
enum class ChangeReason {
  kUnspecified,  // in GroupChange::members
  kJoin,         // the process called Join
  kLeave,        // the process called Leave
  kNodeDown,     // its node left the ring (or was not listed in a sync, rule 3)
  kNodeUp,       // its node merged into the ring (learned in a sync)
  kProcDown,     // its session ended without Leave
};
const char* ChangeReasonName(ChangeReason reason);

struct GroupMember {
  NodeId node = 0;
  uint32_t pid = 0;
  ChangeReason reason = ChangeReason::kUnspecified;
  bool operator==(const GroupMember&) const = default;
};

// Where an event stands in the agreed order: the configuration and the totem sequence of the
// delivery that caused it (0: the configuration change itself). Not in the proto; every node that
// delivers an event at a position delivers the same event there (for logs and tests).
struct Position {
  RingId ring_id;
  uint64_t ring_seq = 0;
  auto operator<=>(const Position&) const = default;
};

// proto GroupMessage.
struct GroupMessage {
  std::string group;
  NodeId sender_node = 0;
  uint32_t sender_pid = 0;
  uint64_t seq = 0;  // per session and group, from 1 at its join, consecutive
  std::string payload;
  Ordering ordering = Ordering::kAgreed;
  Position position;  // of the message's last frame
};

// proto GroupChange.
struct GroupChange {
  std::string group;
  std::vector<GroupMember> members;  // after the change, by (node, pid)
  std::vector<GroupMember> joined;   // by (node, pid)
  std::vector<GroupMember> left;     // by (node, pid)
  Position position;                 // position.ring_id is the proto's ring_id
};

// proto MembershipChange, as GroupEvent.ring_change carries it (node ids only).
struct RingChange {
  RingId ring_id;
  std::vector<NodeId> members;
  std::vector<NodeId> joined;
  std::vector<NodeId> left;
  // The current ring, sent to a session before the change of a join that puts it in its first
  // group (like CPG's CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF): ring changes go only to sessions
  // in a group, so a session learns the ring it joined in.
  bool initial = false;
};

using GroupEvent = std::variant<GroupMessage, GroupChange, RingChange>;

struct SessionEvent {
  uint64_t session_id = 0;
  GroupEvent event;
};

struct RingSend {
  std::string payload;  // at most GroupOptions::max_ring_payload bytes
  bool safe = false;
};

struct GroupEffects {
  // To submit to the ring in this order. The driver must not drop or reorder them: what the ring
  // refuses (a full queue) is kept and submitted again later, in order.
  std::vector<RingSend> submit;
  // For local sessions, in the order they happened.
  std::vector<SessionEvent> events;
  std::vector<std::string> log;  // sentences for the driver's log
};

// proto GroupInfo.
struct GroupInfo {
  std::string group;
  std::vector<GroupMember> members;                    // by node id, then pid
  std::map<uint32_t, std::string> local_client_names;  // local members' pid -> client name
};

struct GroupCounters {
  uint64_t messages_delivered = 0;  // GroupMessages handed to local sessions
  uint64_t frames_stale = 0;        // sent for another configuration (rule 2)
  uint64_t frames_invalid = 0;      // unparsable, not from their sender, fragments out of order
  uint64_t messages_ignored = 0;    // well-formed but not applicable (rule 4, not a member...)
  uint64_t syncs_completed = 0;
  uint64_t resent = 0;  // client operations sent again after a change (rule 5)
};

class GroupCore {
 public:
  explicit GroupCore(GroupOptions options);

  // Local API, for the daemon's client sessions. Each checks the request against the session's
  // intended memberships and queues what goes to the ring into `effects`; nothing takes effect
  // before it is delivered back. Group names: 1..128 bytes of printable ASCII (INVALID_ARGUMENT).

  // ALREADY_EXISTS: the session id is in use.
  absl::Status OpenSession(uint64_t session_id,
                           uint32_t pid,
                           std::string client_name,
                           GroupEffects& effects);
  // Leaves every group the session joined (or is joining) with reason PROCDOWN. The session gets
  // no more events. NOT_FOUND: unknown session.
  absl::Status CloseSession(uint64_t session_id, GroupEffects& effects);
  // NOT_FOUND: unknown session. ALREADY_EXISTS: the session, or another session of its process,
  // is in the group or joining it. Done once the session gets the GroupChange with its own JOIN.
  absl::Status Join(uint64_t session_id, const std::string& group, GroupEffects& effects);
  // NOT_FOUND: unknown session, or it is not in the group (nor joining it).
  absl::Status Leave(uint64_t session_id, const std::string& group, GroupEffects& effects);
  // The payload goes to every member of the group, the sender included. NOT_FOUND: unknown
  // session. FAILED_PRECONDITION: the session is not in the group (nor joining it).
  // INVALID_ARGUMENT: payload over max_payload. RESOURCE_EXHAUSTED: max_pending reached, or the
  // payload would take pending_bytes() beyond max_pending_bytes (never when it is 0).
  absl::Status Multicast(uint64_t session_id,
                         const std::string& group,
                         std::string payload,
                         bool safe,
                         GroupEffects& effects);

  // Ring input, in the ring's order.
  GroupEffects OnConfigChange(const ConfigChange& change);
  GroupEffects OnDelivery(const Delivery& delivery);

  // Whether `payload`, one this node submitted (GroupEffects::submit), is a frame of another
  // configuration than the current one: every node would drop it as stale (rule 2), and this node
  // sends its operation again after the sync (rule 5). At a configuration change the driver drops
  // such frames still queued for the ring (TotemCore::DropQueued) instead of sending them.
  bool IsStaleFrame(absl::string_view payload) const;

  // Every group of this node's view, by name. While a sync runs the view may still differ from
  // the other nodes'.
  std::vector<GroupInfo> ListGroups() const;

  // The configuration this node is in (none before the first), and whether its sync completed.
  std::optional<RingId> ring_id() const { return ring_; }
  bool synced() const { return synced_; }
  // Client operations queued or on the ring, not yet delivered back.
  size_t pending() const { return pending_.size() + in_flight_.size(); }
  // The payload bytes of the multicasts among them (released with the count, when delivered back).
  size_t pending_bytes() const { return pending_bytes_; }
  const GroupCounters& counters() const { return counters_; }

 private:
  struct Member {
    NodeId node = 0;
    uint32_t pid = 0;
    auto operator<=>(const Member&) const = default;
  };
  using View = std::map<std::string, std::set<Member>, std::less<>>;  // no empty groups
  // A node's Sync: group -> its pids.
  using Report = std::map<std::string, std::set<uint32_t>>;

  struct Session {
    uint32_t pid = 0;
    std::string client_name;
  };
  // A local member as applied: which session it is and its messages so far.
  struct LocalMember {
    uint64_t session_id = 0;
    uint64_t seq = 0;
  };
  // A client operation: a serialized GroupMessage.
  struct Op {
    std::string message;
    bool safe = false;
    size_t payload_bytes = 0;  // a multicast's, counted in pending_bytes_
  };
  struct InFlight {
    Op op;
    uint64_t last_frame_seq = 0;
  };
  // A message of one sender being reassembled.
  struct Partial {
    uint32_t fragments = 0;
    uint32_t next_index = 0;
    std::string data;
  };
  using LocalKey = std::pair<std::string, uint32_t>;  // (group, pid)

  // Rule 1: queues an operation, and sends it now if the configuration is synced.
  void Enqueue(const group_wire::GroupMessage& message,
               bool safe,
               GroupEffects& effects,
               size_t payload_bytes = 0);
  // RESOURCE_EXHAUSTED when a multicast of `payload_bytes` does not fit max_pending(_bytes).
  absl::Status CheckRoom(size_t payload_bytes) const;
  // This node's own frame `frame_seq` was delivered: its operations up to it are done.
  void ReleaseDelivered(uint64_t frame_seq);
  void Flush(GroupEffects& effects);
  // The pid of an open session, after checking the group name (INVALID_ARGUMENT, NOT_FOUND).
  absl::StatusOr<uint32_t> SessionPid(uint64_t session_id, const std::string& group) const;
  // Frames `message` for the current configuration; returns the last frame's seq.
  uint64_t SendFrames(const std::string& message, bool safe, GroupEffects& effects);

  void Apply(NodeId origin,
             const Position& at,
             const group_wire::GroupMessage& message,
             GroupEffects& effects);
  void ApplySync(NodeId origin,
                 const Position& at,
                 const group_wire::Sync& sync,
                 GroupEffects& effects);
  void CompleteSync(const Position& at, GroupEffects& effects);
  void ApplyJoin(NodeId origin,
                 const Position& at,
                 const group_wire::Join& join,
                 GroupEffects& effects);
  void ApplyLeave(NodeId origin,
                  const Position& at,
                  const group_wire::Leave& leave,
                  GroupEffects& effects);
  void ApplyMulticast(NodeId origin,
                      const Position& at,
                      const group_wire::Multicast& multicast,
                      GroupEffects& effects);

  // Sends `change` to every live local session in its group.
  void EmitChange(GroupChange change, GroupEffects& effects);
  std::vector<GroupMember> MembersOf(const std::string& group) const;
  const Session* LiveSession(uint64_t session_id) const;
  // Whether a local member of some group is this session's.
  bool InAnyGroup(uint64_t session_id) const;

  const GroupOptions options_;
  std::map<uint64_t, Session> sessions_;
  // (pid, group) -> the session that joined it or is joining it (rule 1's intended memberships).
  std::map<std::pair<uint32_t, std::string>, uint64_t> intent_;
  View view_;
  std::map<LocalKey, LocalMember> local_;  // the local members of view_

  std::optional<RingId> ring_;
  std::vector<NodeId> ring_members_;
  bool synced_ = false;
  std::map<NodeId, Report> sync_reports_;  // Syncs delivered in this configuration

  std::deque<Op> pending_;          // not sent yet (rule 4)
  std::deque<InFlight> in_flight_;  // sent in this configuration, not delivered back yet
  size_t pending_bytes_ = 0;        // payload_bytes of pending_ and in_flight_
  std::map<NodeId, Partial> partials_;
  uint64_t frame_seq_ = 0;
  // How every frame of the current configuration starts (its sender and ring id, serialized).
  std::string frame_prefix_;
  GroupCounters counters_;
};

}  // namespace ha::membership
