// cibd's replication driver, on the loop: feeds a CibReplica with what the group link delivers
// (cibd/cib_group_link.h: sessions, configuration changes, messages, quorum) and carries out its
// effects (multicasts through the link, answers to the writers waiting in CibService, log
// lines). It is CibService's write path.
//
// Sessions: a new CibReplica for each session the link joins (its member id changes with it);
// when a session ends, the writes waiting in it are answered UNAVAILABLE (their outcome is
// unknown: the group may have applied them, and the next sync round brings this copy forward if
// so). Between sessions writes are refused with UNAVAILABLE; reads keep being served from the
// local copy by CibService.
//
// Loop thread only. No gRPC of its own: `send` is the link's Multicast.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cibd/cib_core.h"
#include "cibd/cib_replica.h"
#include "cibd/cib_service.h"

namespace ha::cib {

class CibReplication {
 public:
  using Send = std::function<void(uint64_t generation, std::string payload)>;
  // Told a one-line description whenever the state changes (for the daemon's health detail).
  using StatusListener = std::function<void(const std::string& detail)>;

  // `core` must outlive the driver. Until joined, the core counts as without quorum.
  CibReplication(CibCore& core, Send send, StatusListener on_status);

  // The link's events.
  void OnJoined(uint64_t generation, MemberId self);
  void OnChange(uint64_t generation, uint64_t view_id, std::vector<MemberId> members);
  void OnMessage(uint64_t generation, const MemberId& sender, const std::string& payload);
  void OnLost(uint64_t generation, const std::string& why);
  void OnQuorum(bool quorate);

  // CibService's write path.
  void Submit(const Requester& who,
              std::vector<WriteOp> ops,
              bool transaction,
              const WriteOptions& options,
              CibService::WriteDone done);

  bool joined() const { return replica_ != nullptr; }
  std::string Describe() const;

 private:
  void Apply(ReplicaEffects effects);
  void Report();

  CibCore& core_;
  Send send_;
  StatusListener on_status_;
  std::unique_ptr<CibReplica> replica_;
  uint64_t generation_ = 0;
  size_t members_ = 0;
  bool quorate_ = false;
  uint64_t next_request_ = 1;
  std::map<uint64_t, CibService::WriteDone> waiting_;
  std::string last_status_;
};

}  // namespace ha::cib
