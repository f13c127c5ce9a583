#include "cibd/cib_replica.h"

#include <syslog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cibd/cib_diff.h"
#include "cibd/cib_xml.h"

namespace ha::cib {
namespace {

namespace wire = replication::v1;

CibVersion FromWire(const v1::CibVersion& v) {
  return CibVersion{v.admin_epoch(), v.epoch(), v.num_updates()};
}

void ToWire(const CibVersion& v, v1::CibVersion* out) {
  out->set_admin_epoch(v.admin_epoch);
  out->set_epoch(v.epoch);
  out->set_num_updates(v.num_updates);
}

std::string Encode(const wire::ReplicaMessage& m) {
  return m.SerializeAsString();
}

constexpr char kLastWritten[] = "cib-last-written";

std::string Name(const MemberId& m) {
  return absl::StrCat(m.node_id, ":", m.pid);
}

}  // namespace

CibReplica::CibReplica(CibCore& core, MemberId self) : core_(core), self_(self) {}

void CibReplica::Log(ReplicaEffects& out, int priority, std::string text) {
  out.push_back(ReplicaLog{priority, std::move(text)});
}

ReplicaEffects CibReplica::Submit(uint64_t request_id,
                                  const Requester& who,
                                  std::vector<WriteOp> ops,
                                  bool transaction,
                                  const WriteOptions& options) {
  ReplicaEffects out;
  pending_[request_id] = PendingWrite{who, std::move(ops), transaction, options};
  SendWaiting(out);
  return out;
}

void CibReplica::SendWrite(uint64_t request_id, PendingWrite& write, ReplicaEffects& out) {
  absl::StatusOr<PreparedWrite> prepared =
      core_.Prepare(write.who, write.ops, write.transaction, write.options);
  if (!prepared.ok() || !prepared->changed) {
    absl::StatusOr<WriteAnswer> answer =
        prepared.ok() ? absl::StatusOr<WriteAnswer>(
                            WriteAnswer{core_.document().Version(), core_.digest(), false})
                      : absl::StatusOr<WriteAnswer>(prepared.status());
    out.push_back(Reply{request_id, std::move(answer)});
    pending_.erase(request_id);
    return;
  }
  ++write.attempts;
  write.sent = true;
  if (write.attempts == 10 || write.attempts == kMaxAttempts / 2) {
    // Contention worth knowing of: concurrent writers keep winning over this one.
    Log(out,
        LOG_NOTICE,
        absl::StrCat("A write lost ",
                     write.attempts - 1,
                     " races to concurrent writes; trying again | request=",
                     request_id,
                     " tries_left=",
                     kMaxAttempts - write.attempts + 1));
  }
  wire::ReplicaMessage m;
  wire::Patch* patch = m.mutable_patch();
  patch->set_request_id(request_id);
  write.after_digest = prepared->after.Digest();
  write.source_digest = core_.digest();
  write.source_version = core_.document().Version();
  patch->set_diff_xml(
      Diff(core_.document(),
           prepared->after,
           DiffOptions{.skip_root_attribute = kLastWritten, .to_digest = write.after_digest}));
  write.after = std::move(prepared->after);
  ToWire(core_.document().Version(), patch->mutable_source_version());
  patch->set_operation(prepared->info.operation);
  patch->set_origin(prepared->info.origin);
  patch->set_client(prepared->info.client);
  patch->set_user(prepared->info.user);
  patch->set_replaced(prepared->info.replaced);
  patch->set_attempt(static_cast<uint32_t>(write.attempts));
  out.push_back(Multicast{Encode(m)});
}

void CibReplica::SendWaiting(ReplicaEffects& out) {
  // One write in flight per origin, the oldest first: writes sent together from one version
  // would all but one be stale, and each stale one is prepared and sent again, so a burst of
  // concurrent writes on one node turned into a storm in which the last ones ran out of tries.
  while (state_ == State::kSynced && !pending_.empty()) {
    auto next = pending_.begin();
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->second.sent) {
        next = it;
        break;
      }
    }
    PendingWrite& write = next->second;
    if (write.sent) {
      if (write.source_version == core_.document().Version())
        return;  // in flight, and may still win
      // Stale already: a change was applied over its source. Its own patch will be dropped.
      if (write.attempts >= kMaxAttempts) {
        out.push_back(
            Reply{next->first,
                  absl::AbortedError(absl::StrCat("the CIB kept changing under this write (",
                                                  kMaxAttempts,
                                                  " tries); re-read and retry"))});
        pending_.erase(next);
        continue;
      }
    }
    const uint64_t id = next->first;
    SendWrite(id, write, out);  // answered at once (and erased), or now in flight
    if (pending_.contains(id))
      return;
  }
}

ReplicaEffects CibReplica::OnViewChange(uint64_t view_id, std::vector<MemberId> members) {
  ReplicaEffects out;
  std::sort(members.begin(), members.end());
  members_ = std::move(members);
  view_id_ = view_id;
  round_ = 0;
  have_view_ = true;
  StartSync(out);
  return out;
}

void CibReplica::StartSync(ReplicaEffects& out) {
  state_ = State::kSyncing;
  copy_requested_ = false;
  syncs_.clear();
  buffered_.clear();
  for (auto& [id, write] : pending_) {
    write.sent = false;  // sent again once synced; a late delivery of the old one is harmless
  }
  wire::ReplicaMessage m;
  m.mutable_sync()->set_view_id(view_id_);
  m.mutable_sync()->set_round(round_);
  ToWire(core_.document().Version(), m.mutable_sync()->mutable_version());
  m.mutable_sync()->set_digest(core_.digest());
  out.push_back(Multicast{Encode(m)});
}

ReplicaEffects CibReplica::OnMessage(const MemberId& sender, const std::string& payload) {
  ReplicaEffects out;
  wire::ReplicaMessage m;
  if (!m.ParseFromString(payload)) {
    Log(out, LOG_WARNING, absl::StrCat("Dropped a malformed message from ", Name(sender)));
    return out;
  }
  switch (m.message_case()) {
    case wire::ReplicaMessage::kSync:
      OnSync(sender, m.sync(), out);
      break;
    case wire::ReplicaMessage::kPatch:
      OnPatch(sender, m.patch(), out);
      break;
    case wire::ReplicaMessage::kCopyRequest:
      OnCopyRequest(m.copy_request(), out);
      break;
    case wire::ReplicaMessage::kFullCopy:
      OnFullCopy(m.full_copy(), out);
      break;
    case wire::ReplicaMessage::MESSAGE_NOT_SET:
      break;
  }
  return out;
}

void CibReplica::OnSync(const MemberId& sender, const wire::Sync& sync, ReplicaEffects& out) {
  if (!have_view_ || sync.view_id() != view_id_ || sync.round() != round_ ||
      state_ != State::kSyncing) {
    return;  // of an older round
  }
  syncs_[sender] = {FromWire(sync.version()), sync.digest()};
  for (const MemberId& m : members_) {
    if (!syncs_.contains(m)) {
      return;
    }
  }
  // Every member's copy is in. The newest version wins; among equal versions the digest most
  // members hold, then the greatest digest; the lowest member holding it sends it.
  CibVersion newest = syncs_.at(members_.front()).first;
  for (const MemberId& m : members_) {
    newest = std::max(newest, syncs_.at(m).first);
  }
  std::map<std::string, int> holders;
  for (const MemberId& m : members_) {
    if (syncs_.at(m).first == newest) {
      ++holders[syncs_.at(m).second];
    }
  }
  std::pair<int, std::string> pick{0, ""};
  for (const auto& [digest, count] : holders) {
    pick = std::max(pick, std::make_pair(count, digest));
  }
  const std::pair<CibVersion, std::string> best{newest, pick.second};
  MemberId source = members_.front();
  for (const MemberId& m : members_) {
    if (syncs_.at(m) == best) {
      source = m;
      break;
    }
  }
  int differing = 0;
  for (const MemberId& m : members_) {
    differing += syncs_.at(m) != best ? 1 : 0;
  }
  if (differing > 0) {
    // Copies differed (a merge after a partition, a restarted node, a divergence): say at every
    // member which copy the version rules kept and which ones it replaces.
    std::string others;
    for (const MemberId& m : members_) {
      if (syncs_.at(m) != best) {
        absl::StrAppend(&others,
                        others.empty() ? "" : ",",
                        Name(m),
                        "@",
                        ToString(syncs_.at(m).first),
                        "/",
                        syncs_.at(m).second.substr(0, 8));
      }
    }
    Log(out,
        LOG_NOTICE,
        absl::StrCat("CIB copies differed in the group; kept the newest by version, then digest | "
                     "kept=",
                     ToString(best.first),
                     "/",
                     best.second.substr(0, 8),
                     " from=",
                     Name(source),
                     " replaced=",
                     others,
                     " members=",
                     members_.size()));
  }
  const std::pair<CibVersion, std::string> mine = {core_.document().Version(), core_.digest()};
  if (mine == best) {
    state_ = State::kSynced;
    if (source == self_ && differing > 0) {
      Log(out,
          LOG_NOTICE,
          absl::StrCat("Sending this node's CIB to ",
                       differing,
                       " member(s) with an older or different copy | version=",
                       ToString(best.first)));
      wire::ReplicaMessage m;
      m.mutable_full_copy()->set_view_id(view_id_);
      m.mutable_full_copy()->set_round(round_);
      m.mutable_full_copy()->set_cib_xml(
          ToXml(core_.document().Root(),
                XmlWriteOptions{.pretty = false, .skip_top_attribute = kLastWritten}));
      out.push_back(Multicast{Encode(m)});
    }
    SendWaiting(out);
  } else {
    Log(out,
        LOG_NOTICE,
        absl::StrCat("Another member holds the group's CIB; waiting for its copy | mine=",
                     ToString(mine.first),
                     " newest=",
                     ToString(best.first),
                     " from=",
                     Name(source)));
    state_ = State::kAwaitingCopy;
    buffered_.clear();
  }
}

void CibReplica::OnPatch(const MemberId& sender, const wire::Patch& patch, ReplicaEffects& out) {
  switch (state_) {
    case State::kSyncing:
      if (sender == self_) {
        if (auto it = pending_.find(patch.request_id()); it != pending_.end()) {
          it->second.sent = false;
        }
      }
      return;
    case State::kAwaitingCopy:
      buffered_.emplace_back(sender, patch);
      return;
    case State::kSynced:
      ApplyPatch(sender, patch, out);
      return;
  }
}

void CibReplica::ApplyPatch(const MemberId& sender, const wire::Patch& patch, ReplicaEffects& out) {
  const bool mine = sender == self_;
  auto pending = mine ? pending_.find(patch.request_id()) : pending_.end();
  if (FromWire(patch.source_version()) != core_.document().Version()) {
    // Stale: a change delivered before it made its source version old. Its origin has usually
    // sent it again already (SendWaiting after that change); if not (its copy changed by a
    // sync), now.
    if (pending != pending_.end() &&
        static_cast<int>(patch.attempt()) == pending->second.attempts) {
      SendWaiting(out);
    }
    return;
  }
  ChangeInfo info{
      patch.operation(), patch.origin(), patch.client(), patch.user(), patch.replaced()};
  std::optional<CibDocument> result;
  bool diverged = false;
  if (pending != pending_.end() && static_cast<int>(patch.attempt()) == pending->second.attempts &&
      pending->second.after.has_value() && pending->second.source_digest == core_.digest()) {
    // This node's own patch, delivered to the copy it was made from: its result is at hand.
    result = std::move(pending->second.after);
    pending->second.after.reset();
    info.digest = pending->second.after_digest;
  } else {
    // Applied in place on a copy without this node's cib-last-written, as the origin diffed.
    result = core_.document().Clone();
    result->Root().remove_attribute(kLastWritten);
    absl::StatusOr<AppliedPatchset> applied = ApplyPatchsetInPlace(*result, patch.diff_xml());
    if (!applied.ok()) {
      Log(out,
          LOG_WARNING,
          absl::StrCat("A change from ",
                       Name(sender),
                       " does not apply to this node's copy; asking for a full copy | error=",
                       applied.status().ToString()));
      if (pending != pending_.end()) {
        pending->second.sent = false;
      }
      AskForCopy(out);
      return;
    }
    // A result that is not the origin's is installed anyway, so that this copy has the same
    // version as the others, and a sync round decides between the copies.
    diverged = !applied->digest_matches;
    info.digest = applied->digest;
  }
  if (absl::Status s = core_.Install(*std::move(result), info); !s.ok()) {
    Log(out, LOG_ERR, absl::StrCat("Could not install a change: ", s.ToString()));
    if (pending != pending_.end()) {
      out.push_back(Reply{patch.request_id(), s});
      pending_.erase(pending);
    }
    AskForCopy(out);
    return;
  }
  if (pending != pending_.end()) {
    out.push_back(
        Reply{patch.request_id(), WriteAnswer{core_.document().Version(), core_.digest(), true}});
    pending_.erase(pending);
  }
  if (diverged) {
    Log(out,
        LOG_WARNING,
        absl::StrCat("After a change from ",
                     Name(sender),
                     " this node's CIB differs from the origin's; asking for a sync round | "
                     "version=",
                     ToString(core_.document().Version())));
    // Not AskForCopy: this copy stays in step (it applies the patches delivered until the
    // round starts), so the round compares copies at one version and the digest most members
    // hold wins. Dropping them would leave this node older than the origin, whose copy (the
    // wrong one, if it is the origin that differs) would then win as the newest.
    RequestSyncRound(out);
  }
  SendWaiting(out);  // this origin's next write, on the new version (none while a sync runs)
}

void CibReplica::RequestSyncRound(ReplicaEffects& out) {
  if (copy_requested_)
    return;  // one is on its way; its delivery starts the round
  copy_requested_ = true;
  wire::ReplicaMessage m;
  m.mutable_copy_request()->set_view_id(view_id_);
  out.push_back(Multicast{Encode(m)});
}

void CibReplica::AskForCopy(ReplicaEffects& out) {
  // Patches delivered until the round starts are dropped: the round's copy settles them.
  state_ = State::kAwaitingCopy;
  buffered_.clear();
  copy_requested_ = true;
  wire::ReplicaMessage m;
  m.mutable_copy_request()->set_view_id(view_id_);
  out.push_back(Multicast{Encode(m)});
}

void CibReplica::OnCopyRequest(const wire::CopyRequest& request, ReplicaEffects& out) {
  if (!have_view_ || request.view_id() != view_id_) {
    return;
  }
  ++round_;
  StartSync(out);
}

void CibReplica::OnFullCopy(const wire::FullCopy& copy, ReplicaEffects& out) {
  if (!have_view_ || copy.view_id() != view_id_ || copy.round() != round_ ||
      state_ != State::kAwaitingCopy || copy_requested_) {
    return;
  }
  absl::StatusOr<CibDocument> doc = CibDocument::Parse(copy.cib_xml());
  if (!doc.ok()) {
    Log(out, LOG_ERR, absl::StrCat("A full copy does not parse: ", doc.status().ToString()));
    AskForCopy(out);
    return;
  }
  const CibVersion from = core_.document().Version();
  ChangeInfo info{"sync", "", "cibd", "", true};
  if (absl::Status s = core_.Install(*std::move(doc), info); !s.ok()) {
    Log(out, LOG_ERR, absl::StrCat("Could not install a full copy: ", s.ToString()));
    return;
  }
  Log(out,
      LOG_NOTICE,
      absl::StrCat("Installed the group's CIB | from=",
                   ToString(from),
                   " to=",
                   ToString(core_.document().Version())));
  state_ = State::kSynced;
  std::deque<std::pair<MemberId, wire::Patch>> replay = std::move(buffered_);
  buffered_.clear();
  for (auto& [sender, patch] : replay) {
    if (state_ != State::kSynced) {
      break;  // asked for another round: it settles the rest
    }
    ApplyPatch(sender, patch, out);
  }
  if (state_ == State::kSynced) {
    SendWaiting(out);
  }
}

}  // namespace ha::cib
