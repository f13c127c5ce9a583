// The corosync provider of GroupChannel (common/group_channel.h): one CPG group and the quorum
// state of a Corosync 3 running on this node, through Debian's libcpg and libquorum. Corosync's
// IPC sockets are per network namespace, so the daemon must run in corosync's.
//
// Everything runs on the loop: the libraries' dispatch descriptors are watched there, and their
// callbacks become the Handlers' calls directly. Corosync need not be up: connecting is retried
// with a back-off (min_backoff doubling to max_backoff) and starts over when corosync goes away
// (a new generation).
//
// A group change carries a ring id that is the same at every member (cibd's view ids hash it with
// the member list). CPG reports the totem ring (cpg_totem_confchg) after the group changes a ring
// change causes (NODEUP/NODEDOWN), and a joiner may get its first change before the initial ring
// (CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF). So a ring change's group changes, and whatever CPG
// delivers after them, are held until the ring that follows is reported and are stamped with it;
// changes of processes joining or leaving within a ring carry the current ring. If no ring report
// follows within kRingWait, what is held is released with the last ring known.
#pragma once

#include <corosync/cpg.h>
#include <corosync/quorum.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/event_loop.h"
#include "common/group_channel.h"

namespace ha {

class CorosyncGroupChannel final : public GroupChannel {
 public:
  CorosyncGroupChannel(EventLoop& loop, Options options, Handlers handlers);
  ~CorosyncGroupChannel() override;

  void Start() override;
  void Stop() override;
  void Multicast(uint64_t generation, std::string payload) override;

 private:
  // Loop thread only, below.
  void Connect();
  void ConnectQuorum();
  // Ends the CPG session (if any), reports `lost` and schedules the next attempt.
  void EndSession(const std::string& why);
  void CloseQuorum();
  void RetryLater(absl::Duration after);
  void OnCpgReadable();
  void OnQuorumReadable();
  // Moves what Multicast queued into the loop's outbox and sends what corosync takes.
  void Flush();
  // Delivers (or holds, while the ring id is not settled) one change or message.
  void DeliverOrHold(std::function<void()> deliver);
  void ReleaseHeld();
  // Reports the ring `members` (of ring_id_) to the ring handler, with joined and left against
  // the last one reported in this session.
  void ReportRing(std::vector<uint32_t> members);

  static void DeliverCallback(cpg_handle_t handle,
                              const cpg_name* group,
                              uint32_t nodeid,
                              uint32_t pid,
                              void* msg,
                              size_t msg_len);
  static void ConfchgCallback(cpg_handle_t handle,
                              const cpg_name* group,
                              const cpg_address* members,
                              size_t member_count,
                              const cpg_address* left,
                              size_t left_count,
                              const cpg_address* joined,
                              size_t joined_count);
  static void TotemConfchgCallback(cpg_handle_t handle,
                                   cpg_ring_id ring_id,
                                   uint32_t member_count,
                                   const uint32_t* members);
  static void QuorumCallback(quorum_handle_t handle,
                             uint32_t quorate,
                             uint64_t ring_seq,
                             uint32_t view_count,
                             uint32_t* view);

  EventLoop& loop_;
  const Options options_;
  const Handlers handlers_;
  // Posted work checks this is still alive (the channel may be destroyed before it runs).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  bool started_ = false;
  bool stopped_ = false;
  bool cpg_open_ = false;
  cpg_handle_t cpg_ = 0;
  int cpg_fd_ = -1;
  bool joined_ = false;
  uint64_t generation_ = 0;
  membership::v1::RingId ring_id_;
  bool ring_known_ = false;
  bool ring_reported_ = false;          // in this session
  std::vector<uint32_t> ring_members_;  // the last ring reported, sorted
  bool awaiting_ring_ = false;  // a ring change's group change is held until its ring is reported
  EventLoop::TimerId ring_wait_timer_ = 0;
  // Changes and messages delivered before the ring id was known, in order.
  std::vector<std::function<void()>> held_;
  bool quorum_open_ = false;
  quorum_handle_t quorum_ = 0;
  int quorum_fd_ = -1;
  absl::Duration backoff_;
  std::string last_failure_;
  EventLoop::TimerId retry_timer_ = 0;
  EventLoop::TimerId flush_timer_ = 0;
  std::deque<std::pair<uint64_t, std::string>> outbox_;  // loop thread

  absl::Mutex mu_;
  std::deque<std::pair<uint64_t, std::string>> incoming_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ha
