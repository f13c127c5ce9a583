// membershipd's driver: the totem core on the real world. It carries the core's packets through
// the redundant ring layer (rrp.h; bypassed with one ring), the codec, the frame crypto, the fault
// layer (tests only) and one UDP transport per ring; runs its timers and the ring layer's
// on the event loop; persists the highest ring seq; hands agreed-order deliveries to the services
// on the ring (votequorum, and process groups) by the tag in their first byte; and answers the
// Membership and Quorum APIs.
//
// Threading: everything here runs on the loop thread. The gRPC services (membership_services.h)
// post to the loop; watchers are fed through StreamHubs, which are thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/stream_hub.h"
#include "config/cluster_config.h"
#include "membershipd/deadline_timer.h"
#include "membershipd/fault_layer.h"
#include "membershipd/frame_crypto.h"
#include "membershipd/rrp.h"
#include "membershipd/totem_core.h"
#include "membershipd/udp_transport.h"
#include "membershipd/votequorum.h"
#include "proto/membership.pb.h"

namespace ha::membership {

// The first byte of a ring message's payload: which service it belongs to.
enum class RingService : char { kVoteQuorum = 'Q', kGroups = 'G' };

// Receives the agreed order for one service (process groups plug in here).
class RingClient {
 public:
  virtual ~RingClient() = default;
  virtual void OnRingDelivery(const Delivery& delivery, absl::string_view payload) = 0;
  virtual void OnRingChange(const ConfigChange& change) = 0;
  // True for a payload (service byte stripped) queued before the last ring change that the
  // ring would deliver as stale; called right after OnRingChange.
  virtual bool IsStaleRingPayload(absl::string_view payload) const = 0;
  // Adds its runtime counters ("cpg.*") to `counters`.
  virtual void AddCounters(std::map<std::string, uint64_t>& counters) const = 0;
};

v1::RingId RingIdProto(RingId id);
v1::Ring RingProto(const RingStatus& status);

class MembershipDaemon {
 public:
  // REQUIRES: `loop` and `clock` outlive the daemon.
  static absl::StatusOr<std::unique_ptr<MembershipDaemon>> Create(
      EventLoop& loop,
      Clock& clock,
      const config::ClusterConfig& config,
      const config::NodeConfig& local);
  ~MembershipDaemon();

  // Binds the transport and enters the ring.
  absl::Status Start();
  // Graceful shutdown: multicasts votequorum's leave, waits (at most two token timeouts) for
  // it to go out, then leaves the ring (the others drop this node at once); then `done`.
  void Leave(std::function<void()> done);

  // Queues `payload` for `service` on the ring. Never dropped: what the ring's full queue
  // refuses waits here and goes later, in order (callers bound what they send).
  void Send(RingService service, std::string payload, bool safe);
  // The largest payload a service may send (the ring's limit minus the service tag).
  size_t max_payload() const { return max_payload_; }
  void SetGroupsClient(RingClient* client) { groups_ = client; }

  // Loop thread only: snapshots for the APIs.
  v1::GetMembershipResponse Membership() const;
  v1::MembershipChange CurrentChange(bool initial) const;
  v1::GetRingsResponse Rings() const;
  // corosync-cfgtool -r: every FAULTY ring back in service, here and at the other nodes.
  v1::GetRingsResponse ReenableRings();
  // One snapshot event per ring (WatchRings' first messages).
  std::vector<v1::RingEvent> RingSnapshots() const;
  std::map<std::string, uint64_t> Counters() const;
  v1::QuorumState Quorum() const;
  uint32_t local_node_id() const { return local_id_; }
  RingId ring_id() const { return last_change_.ring_id; }

  // corosync-quorumtool -e / -v: validated now; `done` gets the state once the change is agreed
  // (delivered back here), or the refusal. Loop thread only.
  void SetExpectedVotes(uint32_t expected,
                        std::function<void(absl::StatusOr<v1::QuorumState>)> done);
  void SetVotes(uint32_t node,
                uint32_t votes,
                std::function<void(absl::StatusOr<v1::QuorumState>)> done);

  StreamHub<v1::MembershipChange>& membership_watchers() { return membership_watchers_; }
  StreamHub<v1::QuorumEvent>& quorum_watchers() { return quorum_watchers_; }
  StreamHub<v1::RingEvent>& ring_watchers() { return ring_watchers_; }
  // A stop of the daemon: ends the watch streams.
  void CloseWatchers();

 private:
  MembershipDaemon(EventLoop& loop,
                   Clock& clock,
                   const config::ClusterConfig& config,
                   const config::NodeConfig& local);

  void OnDatagram(int ring, uint32_t source_node, absl::string_view datagram);
  void OnPeerUnreachable(int ring, uint32_t node);
  void Apply(Effects effects);
  void ApplyNow(Effects effects);
  // The ring layer's effects: log lines, sends, packets up to the core (through Apply), state
  // changes to the log, the counters and the ring watchers.
  void ApplyRrp(RrpEffects effects);
  // With one ring (rrp_mode none) the ring layer is bypassed: the path of a single ring stays as
  // it was.
  bool rrp_bypassed() const { return rrp_->options().mode == RrpMode::kNone; }
  void SendRingPacket(const RrpSend& send);
  void SendDatagram(int ring, const std::vector<NodeId>& to, const wire::Packet& packet);
  void FlushOutbox();
  void FinishLeave();
  void ApplyQuorum(VoteQuorum::Effects effects);
  void OnConfigChange(const ConfigChange& change);
  // Drops queued group frames of the configuration that just ended (counted).
  void DropStaleGroupFrames();
  void OnDelivery(const Delivery& delivery);
  void RescheduleTimer();
  void OnTimer();
  void CheckPause();
  // Notes the loop's activity; after a scheduling pause, flushes what queued up meanwhile.
  // Returns whether there was a pause.
  bool CatchUpAfterPause();
  void PersistRingSeq();
  v1::Node NodeProto(uint32_t id) const;
  void Count(const std::string& name, uint64_t n = 1) { counters_[name] += n; }

  EventLoop& loop_;
  Clock& clock_;
  const config::ClusterConfig config_;
  const uint32_t local_id_;
  const std::string ring_seq_path_;

  std::unique_ptr<TotemCore> core_;
  std::optional<FrameSealer> sealer_;
  std::optional<FrameOpener> opener_;
  std::unique_ptr<RedundantRings> rrp_;
  std::vector<std::unique_ptr<UdpTransport>> transports_;  // index = ring number
  std::unique_ptr<FaultLayer> faults_;
  std::optional<VoteQuorum> quorum_;
  RingClient* groups_ = nullptr;

  struct Pending {
    std::string payload;
    bool safe = false;
  };
  std::deque<Pending> outbox_;  // refused by a full ring queue: retried in order
  bool flushing_ = false;
  bool leaving_ = false;
  std::function<void()> leave_done_;
  absl::Time leave_deadline_;
  std::optional<EventLoop::TimerId> leave_timer_;
  std::optional<EventLoop::TimerId> outbox_timer_;
  size_t max_payload_ = 0;
  absl::Duration token_retransmit_;
  std::map<uint32_t, absl::Time> last_heard_;  // last authenticated packet from each node
  std::map<uint32_t, std::vector<absl::Time>> unreachable_at_;  // per ring: last ICMP report
  ConfigChange last_change_;                                    // the configuration the APIs show
  std::deque<Effects> queued_;  // effects produced while others are being applied
  bool applying_ = false;
  // The core's and the ring layer's next deadline, and the pause check: timerfds
  // (deadline_timer.h).
  std::unique_ptr<DeadlineTimer> timer_;
  std::optional<absl::Time> timer_deadline_;
  std::unique_ptr<DeadlineTimer> pause_timer_;
  std::optional<EventLoop::TimerId> quorum_timer_;
  absl::Time last_activity_;
  uint64_t persisted_ring_seq_ = 0;

  // Membership as the APIs show it.
  std::map<uint32_t, uint32_t> join_count_;
  absl::Time installed_at_;
  std::map<std::string, uint64_t> counters_;

  // Quorum requests waiting for their own message to come back, in send order.
  std::deque<std::function<void(absl::StatusOr<v1::QuorumState>)>> quorum_requests_;

  StreamHub<v1::MembershipChange> membership_watchers_{1000, "membership changes"};
  StreamHub<v1::QuorumEvent> quorum_watchers_{1000, "quorum events"};
  StreamHub<v1::RingEvent> ring_watchers_{1000, "ring events"};
};

}  // namespace ha::membership
