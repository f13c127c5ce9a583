#include "cibd/cib_replication.h"

#include <syslog.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace ha::cib {

CibReplication::CibReplication(CibCore& core, Send send, StatusListener on_status)
    : core_(core), send_(std::move(send)), on_status_(std::move(on_status)) {
  core_.SetQuorum(false);
  Report();
}

std::string CibReplication::Describe() const {
  if (replica_ == nullptr) {
    return "serving this node's copy; not joined to the CIB group yet (writes refused)";
  }
  const char* state = replica_->state() == CibReplica::State::kSynced ? "synced" : "syncing";
  return absl::StrCat("joined the CIB group: ",
                      state,
                      ", ",
                      members_,
                      " member(s), ",
                      quorate_ ? "quorate" : "without quorum");
}

void CibReplication::Report() {
  std::string now = Describe();
  if (now != last_status_) {
    last_status_ = now;
    if (on_status_) {
      on_status_(now);
    }
  }
}

void CibReplication::OnJoined(uint64_t generation, MemberId self) {
  generation_ = generation;
  members_ = 0;
  replica_ = std::make_unique<CibReplica>(core_, self);
  Report();
}

void CibReplication::OnChange(uint64_t generation,
                              uint64_t view_id,
                              std::vector<MemberId> members) {
  if (generation != generation_ || replica_ == nullptr) {
    return;
  }
  members_ = members.size();
  HA_LOG_INFO("cib", "The CIB group changed | members=%d view=%016x", members.size(), view_id);
  Apply(replica_->OnViewChange(view_id, std::move(members)));
}

void CibReplication::OnMessage(uint64_t generation,
                               const MemberId& sender,
                               const std::string& payload) {
  if (generation != generation_ || replica_ == nullptr) {
    return;
  }
  Apply(replica_->OnMessage(sender, payload));
}

void CibReplication::OnLost(uint64_t generation, const std::string& why) {
  if (generation != generation_ || replica_ == nullptr) {
    return;
  }
  replica_.reset();
  members_ = 0;
  std::map<uint64_t, CibService::WriteDone> waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& [id, done] : waiting) {
    done(absl::UnavailableError(absl::StrCat(
        "the connection to membershipd was lost before this write was confirmed (it may have "
        "been applied): ",
        why)));
  }
  Report();
}

void CibReplication::OnQuorum(bool quorate) {
  quorate_ = quorate;
  core_.SetQuorum(quorate);
  Report();
}

void CibReplication::Submit(const Requester& who,
                            std::vector<WriteOp> ops,
                            bool transaction,
                            const WriteOptions& options,
                            CibService::WriteDone done) {
  if (replica_ == nullptr) {
    done(absl::UnavailableError(
        "cibd has not joined the cluster's CIB group yet (is membershipd running?); retry"));
    return;
  }
  const uint64_t id = next_request_++;
  waiting_[id] = std::move(done);
  Apply(replica_->Submit(id, who, std::move(ops), transaction, options));
}

void CibReplication::Apply(ReplicaEffects effects) {
  for (ReplicaEffect& effect : effects) {
    if (auto* m = std::get_if<Multicast>(&effect)) {
      send_(generation_, std::move(m->payload));
    } else if (auto* r = std::get_if<Reply>(&effect)) {
      auto it = waiting_.find(r->request_id);
      if (it != waiting_.end()) {
        CibService::WriteDone done = std::move(it->second);
        waiting_.erase(it);
        done(std::move(r->answer));
      }
    } else if (auto* l = std::get_if<ReplicaLog>(&effect)) {
      ::ha::log::Emit("cib", l->priority, __FILE__, __LINE__, l->text);
    }
  }
  Report();
}

}  // namespace ha::cib
