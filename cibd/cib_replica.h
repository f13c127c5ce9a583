// CIB replication between nodes, as a pure state machine over an agreed-order process group
// (membershipd's ProcessGroups, corosync's CPG): every node holds a full copy (a CibCore), every
// change is multicast in the group and applied by every node at the same point of the agreed
// order, so all copies go through the same versions.
//
// Inputs: Submit (a local client's write), OnViewChange and OnMessage (the group's configuration
// changes and messages, in agreed order, own messages included). Outputs: Effects (payloads to
// multicast, answers to local clients, log lines). The core it is given is changed only through
// CibCore::Install. No I/O of its own, no clock, no threads. One owner (the loop).
//
// The protocol:
//  1. Writes. The origin checks a write against its copy (CibCore::Prepare: operation,
//     validation, quorum, ACLs) and multicasts the result as a patchset from its copy's version.
//     Every node, at delivery, applies it if its copy has that source version; else the patch is
//     stale (a concurrent change came first) and every node drops it. The origin answers its
//     client once its own patch is delivered: applied -> the new version; stale -> it prepares
//     the write again on the new copy and resends (at most kMaxAttempts times, then ABORTED).
//     An origin has one write in flight, its oldest, so that its own writes never race each
//     other (the others wait in order). It prepares it again as soon as a change applied over
//     its source version, not at the delivery of its stale patch: then every origin that lost
//     a race sends at the same time as the winner sends its next write, and nobody starves
//     (answering at the stale delivery gave the winner a head start every time). Versions only
//     grow, so a source version names one state.
//  2. Digests. A patchset carries the digest of its result; a node whose result differs
//     (ApplyPatchset's DATA_LOSS) has diverged from the patch's origin: it multicasts a
//     CopyRequest, and its delivery starts a new sync round (3) at every member, which settles
//     which copy is right.
//  3. Sync. After each configuration change (and each CopyRequest) every member multicasts its
//     (version, digest); once all of the round's have been delivered, the newest copy wins:
//     highest (admin_epoch, epoch, num_updates); among equal versions the digest most members
//     hold, then the greatest digest. The lowest member holding it multicasts a FullCopy if any
//     member differs, and those install it, then replay the patches delivered after the round
//     ended (those already in the copy are stale by version). Writes are not sent during a
//     sync (they wait, and are sent once this node is synced); patches delivered during a sync
//     are stale for everyone. When copies differ (a partition merging, a node back with an
//     older copy) every member logs which copy was kept and which ones it replaces ("CIB
//     copies differed in the group; kept the newest ...").
//  4. Quorum is the core's (CibCore::SetQuorum): configuration writes without it need force,
//     unless the CIB sets no-quorum-policy=ignore (IgnoresQuorum): then both sides of a
//     partition may write, and at the merge the rule of 3 keeps one side's copy whole (the
//     other side's changes since the split are lost, and logged as replaced).
//  5. The origin keeps the result it prepared for its last attempt, and installs it as it is
//     when its patch is delivered to the copy it was made from (same digest); every other
//     node applies the patch in place on a copy of its own and checks the digest.
//
// Deviations from Pacemaker's based, numbered:
//  1. No master: any node applies writes by multicasting patchsets, and conflicts are settled
//     by the agreed order (first delivered wins, the other origin retries).
//  2. A partition merge picks the newest copy by version, then the digest most members hold,
//     then the greatest digest (Pacemaker takes the DC's).
#pragma once

#include <compare>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "cibd/cib_core.h"
#include "proto/cib_replication.pb.h"

namespace ha::cib {

// A group member, as CPG names it.
struct MemberId {
  uint32_t node_id = 0;
  uint32_t pid = 0;
  auto operator<=>(const MemberId&) const = default;
};

// Effects, applied in order by the driver.
struct Multicast {
  std::string payload;
};
struct Reply {
  uint64_t request_id = 0;
  absl::StatusOr<WriteAnswer> answer;
};
struct ReplicaLog {
  int priority = 0;  // syslog priority
  std::string text;
};
using ReplicaEffect = std::variant<Multicast, Reply, ReplicaLog>;
using ReplicaEffects = std::vector<ReplicaEffect>;

class CibReplica {
 public:
  // How often a write is prepared again after losing a race before ABORTED.
  static constexpr int kMaxAttempts = 100;

  enum class State {
    kSyncing,       // between a configuration change and the last member's Sync
    kSynced,        // holds the group's copy; applies patches, sends writes
    kAwaitingCopy,  // waits for a FullCopy (buffers patches), or for the sync round it asked for
  };

  // `core` must outlive the replica. Until the first OnViewChange the replica is kSyncing:
  // writes wait.
  CibReplica(CibCore& core, MemberId self);

  // A local client's write; answered by a Reply with `request_id` (now, or once agreed).
  ReplicaEffects Submit(uint64_t request_id,
                        const Requester& who,
                        std::vector<WriteOp> ops,
                        bool transaction,
                        const WriteOptions& options);
  // The group's members after a configuration change (this member among them). `view_id` is
  // the same at every member for one change (e.g. the ring id's sequence).
  ReplicaEffects OnViewChange(uint64_t view_id, std::vector<MemberId> members);
  ReplicaEffects OnMessage(const MemberId& sender, const std::string& payload);

  State state() const { return state_; }
  size_t pending() const { return pending_.size(); }
  const CibCore& core() const { return core_; }

 private:
  struct PendingWrite {
    Requester who;
    std::vector<WriteOp> ops;
    bool transaction = false;
    WriteOptions options;
    int attempts = 0;
    bool sent = false;  // a patch for it is in flight
    // The last attempt's result, prepared on the copy with digest `source_digest`: installed
    // as it is when its patch is delivered to that same copy (no patch applied, no digest).
    std::optional<CibDocument> after;
    std::string after_digest;
    std::string source_digest;
    CibVersion source_version;  // of the copy the last attempt was prepared on
  };

  void SendWrite(uint64_t request_id, PendingWrite& write, ReplicaEffects& out);
  void SendWaiting(ReplicaEffects& out);
  void OnSync(const MemberId& sender, const replication::v1::Sync& sync, ReplicaEffects& out);
  void OnPatch(const MemberId& sender, const replication::v1::Patch& patch, ReplicaEffects& out);
  void OnCopyRequest(const replication::v1::CopyRequest& request, ReplicaEffects& out);
  // Starts a sync round: every member sends its version and digest.
  void StartSync(ReplicaEffects& out);
  void OnFullCopy(const replication::v1::FullCopy& copy, ReplicaEffects& out);
  // Applies a patch delivered while synced (or asks for a new sync round).
  void ApplyPatch(const MemberId& sender, const replication::v1::Patch& patch, ReplicaEffects& out);
  // Stops applying patches until a sync round brings a copy (this copy cannot follow).
  void AskForCopy(ReplicaEffects& out);
  // Asks for a sync round and goes on applying patches (this copy can follow, but differs).
  void RequestSyncRound(ReplicaEffects& out);
  void Log(ReplicaEffects& out, int priority, std::string text);

  CibCore& core_;
  const MemberId self_;
  State state_ = State::kSyncing;
  uint64_t view_id_ = 0;
  uint64_t round_ = 0;           // sync rounds of this view
  bool copy_requested_ = false;  // asked for a round that has not started yet
  bool have_view_ = false;
  std::vector<MemberId> members_;
  std::map<MemberId, std::pair<CibVersion, std::string>> syncs_;      // this view's, by member
  std::deque<std::pair<MemberId, replication::v1::Patch>> buffered_;  // while kAwaitingCopy
  std::map<uint64_t, PendingWrite> pending_;                          // by request id
};

}  // namespace ha::cib
