#include "membershipd/membership_daemon.h"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/atomic_file.h"
#include "common/logging.h"
#include "membershipd/totem_options.h"
#include "membershipd/wire_codec.h"

namespace ha::membership {
namespace {

constexpr char kSubsys[] = "totem";

// How often the loop wakes up to notice its own scheduling pauses when nothing else wakes it (a
// formed ring's token does, many times per interval). A quarter of the token timeout (corosync
// checks every third): a pause is then noticed once it exceeds interval + 0.6 token, 0.85 token,
// still below the token timeout, so the flush after a pause still comes before the ring would
// fail this node. Was token / 10: 48 wakeups/s per idle daemon instead of 19 with the defaults.
absl::Duration PauseCheckInterval(absl::Duration token) {
  return std::max(absl::Milliseconds(10), token / 4);
}

std::string ReadFileOr(const std::string& path, std::string fallback) {
  std::ifstream in(path);
  if (!in) {
    return fallback;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text;
}

uint64_t ReadNumber(const std::string& path) {
  uint64_t n = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOr(path, "0")), &n)) {
    return 0;
  }
  return n;
}

}  // namespace

v1::RingId RingIdProto(RingId id) {
  v1::RingId out;
  out.set_rep_node_id(id.rep);
  out.set_seq(id.seq);
  return out;
}

MembershipDaemon::MembershipDaemon(EventLoop& loop,
                                   Clock& clock,
                                   const config::ClusterConfig& config,
                                   const config::NodeConfig& local)
    : loop_(loop),
      clock_(clock),
      config_(config),
      local_id_(local.nodeid),
      ring_seq_path_(absl::StrCat(config.system.state_dir, "/ringid_", local.nodeid)) {}

MembershipDaemon::~MembershipDaemon() {
  CloseWatchers();
  if (quorum_timer_) {
    loop_.CancelTimer(*quorum_timer_);
  }
  if (outbox_timer_) {
    loop_.CancelTimer(*outbox_timer_);
  }
  if (leave_timer_) {
    loop_.CancelTimer(*leave_timer_);
  }
}

absl::StatusOr<std::unique_ptr<MembershipDaemon>> MembershipDaemon::Create(
    EventLoop& loop,
    Clock& clock,
    const config::ClusterConfig& config,
    const config::NodeConfig& local) {
  std::unique_ptr<MembershipDaemon> d(new MembershipDaemon(loop, clock, config, local));
  const config::TotemConfig& t = config.totem;

  // Crypto: the shared key when a hash or cipher is configured.
  absl::StatusOr<CryptoConfig> crypto = MakeCryptoConfig(t.crypto_cipher, t.crypto_hash);
  if (!crypto.ok()) {
    return crypto.status();
  }
  std::string key;
  if (crypto->authenticated()) {
    absl::StatusOr<KeyFile> file = LoadKeyFile(t.keyfile);
    if (!file.ok()) {
      return file.status();
    }
    if (file->group_or_other_access) {
      HA_LOG_WARN(
          kSubsys, "the key file %s is readable by others than its owner", t.keyfile.c_str());
    }
    key = file->key;
  }
  // Boot ids must grow across restarts even if the wall clock steps back: persist the last one.
  const std::string boot_path = absl::StrCat(config.system.state_dir, "/bootid_", local.nodeid);
  const uint64_t now_us = static_cast<uint64_t>(absl::ToUnixMicros(clock.WallNow()));
  const uint64_t boot_id = std::max(now_us, ReadNumber(boot_path) + 1);
  if (absl::Status s = WriteFileAtomically(boot_path, absl::StrCat(boot_id, "\n"), 0600); !s.ok()) {
    HA_LOG_WARN(kSubsys,
                "%s: peers may take this start's packets for replays if the clock "
                "steps back",
                s.ToString().c_str());
  }
  FrameSealerOptions sealer;
  sealer.node_id = local.nodeid;
  sealer.boot_id = boot_id;
  sealer.crypto = *crypto;
  sealer.key = key;
  absl::StatusOr<FrameSealer> s = FrameSealer::Create(sealer);
  if (!s.ok()) {
    return s.status();
  }
  d->sealer_.emplace(*std::move(s));
  FrameOpenerOptions opener;
  opener.crypto = *crypto;
  opener.key = key;
  for (const auto& node : config.nodes) {
    opener.nodes.push_back(node.nodeid);
  }
  absl::StatusOr<FrameOpener> o = FrameOpener::Create(opener);
  if (!o.ok()) {
    return o.status();
  }
  d->opener_.emplace(*std::move(o));

  // The protocol, resuming the ring seq of the last run.
  TotemOptions options = TotemOptionsFromConfig(config, local.nodeid);
  d->persisted_ring_seq_ = ReadNumber(d->ring_seq_path_);
  options.initial_ring_seq = d->persisted_ring_seq_;
  options.random_seed = boot_id ^ local.nodeid;
  d->token_retransmit_ = options.token_retransmit;
  d->max_payload_ = options.max_payload - 1;  // one byte is the service tag
  d->core_ = std::make_unique<TotemCore>(options);
  // Redundant rings: with rrp_mode none (or one ring address) ring 0 only, and the layer is
  // bypassed.
  d->rrp_ = std::make_unique<RedundantRings>(RrpOptionsFromConfig(config, local.nodeid));
  const RrpOptions& rrp = d->rrp_->options();
  if (rrp.mode == RrpMode::kNone && t.rrp_mode != "none") {
    HA_LOG_WARN(kSubsys,
                "rrp_mode %s needs a ring1_addr for every node: running on ring 0 only",
                t.rrp_mode.c_str());
  }
  if (rrp.mode != RrpMode::kNone) {
    HA_LOG_INFO(kSubsys,
                "redundant rings | rrp_mode=%s rings=%d token_expired=%lldms "
                "problem_count_timeout=%lldms threshold=%d mcast_threshold=%d "
                "autorecovery_check=%lldms",
                RrpModeName(rrp.mode),
                d->rrp_->ring_count(),
                static_cast<long long>(absl::ToInt64Milliseconds(rrp.token_expired_timeout)),
                static_cast<long long>(absl::ToInt64Milliseconds(rrp.problem_count_timeout)),
                rrp.problem_count_threshold,
                rrp.problem_count_mcast_threshold,
                static_cast<long long>(absl::ToInt64Milliseconds(rrp.autorecovery_check_timeout)));
  }
  HA_LOG_INFO(kSubsys,
              "totem timers | token=%lldms token_retransmit=%lldms hold=%lldms join=%lldms "
              "consensus=%lldms merge=%lldms",
              static_cast<long long>(absl::ToInt64Milliseconds(options.token)),
              static_cast<long long>(absl::ToInt64Milliseconds(options.token_retransmit)),
              static_cast<long long>(absl::ToInt64Milliseconds(options.hold)),
              static_cast<long long>(absl::ToInt64Milliseconds(options.join)),
              static_cast<long long>(absl::ToInt64Milliseconds(options.consensus)),
              static_cast<long long>(absl::ToInt64Milliseconds(options.merge)));

  absl::StatusOr<VoteQuorum> quorum = VoteQuorum::Create(config.quorum, config.nodes, local.nodeid);
  if (!quorum.ok()) {
    return quorum.status();
  }
  d->quorum_.emplace(*std::move(quorum));
  for (const std::string& note : d->quorum_->config_notes()) {
    HA_LOG_NOTICE("quorum", "%s", note.c_str());
  }

  // Tests only: the fault layer.
  FaultSpec spec;
  if (const char* env = std::getenv("HA_TOTEM_FAULTS"); env != nullptr && *env != '\0') {
    absl::StatusOr<FaultSpec> parsed = ParseFaultSpec(env);
    if (!parsed.ok()) {
      return parsed.status();
    }
    spec = *parsed;
    if (spec.seed == 0) {
      spec.seed = boot_id;
    }
    HA_LOG_WARN(kSubsys, "fault injection is on (HA_TOTEM_FAULTS=%s): for tests only", env);
  }
  MembershipDaemon* raw = d.get();
  absl::StatusOr<std::unique_ptr<DeadlineTimer>> timer =
      DeadlineTimer::Create(loop, clock, [raw] { raw->OnTimer(); });
  if (!timer.ok())
    return timer.status();
  d->timer_ = *std::move(timer);
  absl::StatusOr<std::unique_ptr<DeadlineTimer>> pause =
      DeadlineTimer::Create(loop, clock, [raw] { raw->CheckPause(); });
  if (!pause.ok())
    return pause.status();
  d->pause_timer_ = *std::move(pause);
  d->faults_ =
      std::make_unique<FaultLayer>(loop, spec, [raw](int ring, uint32_t node, absl::string_view b) {
        if (ring >= 0 && static_cast<size_t>(ring) < raw->transports_.size()) {
          raw->transports_[ring]->Send(node, b);
        }
      });
  return d;
}

absl::Status MembershipDaemon::Start() {
  const config::NodeConfig* local = config_.FindNode(local_id_);
  if (local == nullptr || local->ring_addrs.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", local_id_, " has no ring0_addr in the nodelist"));
  }
  // Ring 0's port is the first interface's (as before redundant rings); ring N's is that of the
  // interface with linknumber N, else ring 0's.
  int ring0_port = 5405;
  if (!config_.totem.interfaces.empty()) {
    ring0_port = config_.totem.interfaces[0].mcastport;
  }
  for (int ring = 0; ring < rrp_->ring_count(); ++ring) {
    UdpTransportOptions options;
    options.ring = ring;
    options.bind_address = local->ring_addrs[ring];
    options.port = ring0_port;
    if (ring > 0) {
      for (const config::InterfaceConfig& iface : config_.totem.interfaces) {
        if (iface.linknumber == ring) {
          options.port = iface.mcastport;
        }
      }
    }
    for (const config::NodeConfig& node : config_.nodes) {
      if (node.ring_addrs.size() > static_cast<size_t>(ring)) {
        options.peers[node.nodeid] = node.ring_addrs[ring];
      }
    }
    absl::StatusOr<std::unique_ptr<UdpTransport>> transport = UdpTransport::Create(
        loop_,
        options,
        [this](int r, uint32_t source, absl::string_view datagram) {
          OnDatagram(r, source, datagram);
        },
        [this](int r, uint32_t node) { OnPeerUnreachable(r, node); });
    if (!transport.ok()) {
      return transport.status();
    }
    transports_.push_back(*std::move(transport));
    if (ring == 0) {
      HA_LOG_NOTICE(kSubsys,
                    "node %u listening on %s port %d",
                    local_id_,
                    options.bind_address.c_str(),
                    options.port);
    } else {
      HA_LOG_NOTICE(kSubsys,
                    "node %u listening on ring %d: %s port %d",
                    local_id_,
                    ring,
                    options.bind_address.c_str(),
                    options.port);
    }
  }
  installed_at_ = clock_.WallNow();
  last_activity_ = clock_.MonotonicNow();
  Apply(core_->Start(clock_.MonotonicNow()));
  CheckPause();
  return absl::OkStatus();
}

void MembershipDaemon::Leave(std::function<void()> done) {
  if (leaving_) {
    return;  // a second SIGTERM while leaving
  }
  leaving_ = true;
  if (quorum_) {
    ApplyQuorum(quorum_->Leave());
  }
  // votequorum's leave goes out with the token: wait (at most two token timeouts) until nothing
  // is waiting to be sent, then leave the ring.
  leave_done_ = std::move(done);
  leave_deadline_ = clock_.MonotonicNow() +
                    2 * absl::Milliseconds(config_.totem.EffectiveToken(config_.nodes.size()));
  FinishLeave();
}

void MembershipDaemon::FinishLeave() {
  if ((!outbox_.empty() || core_->send_queue_size() > 0) &&
      clock_.MonotonicNow() < leave_deadline_) {
    leave_timer_ = loop_.AddTimer(absl::Milliseconds(5), [this] {
      leave_timer_.reset();
      FinishLeave();
    });
    return;
  }
  Apply(core_->Leave(clock_.MonotonicNow()));
  HA_LOG_NOTICE(kSubsys, "left the ring");
  if (leave_done_) {
    leave_done_();
  }
}

void MembershipDaemon::CloseWatchers() {
  membership_watchers_.Close();
  quorum_watchers_.Close();
  ring_watchers_.Close();
}

void MembershipDaemon::Send(RingService service, std::string payload, bool safe) {
  payload.insert(payload.begin(), static_cast<char>(service));
  outbox_.push_back(Pending{std::move(payload), safe});
  FlushOutbox();
}

void MembershipDaemon::FlushOutbox() {
  // Submitting can come back here (a delivery that sends): the outer call drains the queue.
  if (flushing_) {
    return;
  }
  flushing_ = true;
  while (!outbox_.empty()) {
    Effects effects;
    absl::Status s = core_->Submit(
        clock_.MonotonicNow(), outbox_.front().payload, outbox_.front().safe, effects);
    Apply(std::move(effects));
    if (absl::IsResourceExhausted(s)) {
      // The ring's queue is full: try again shortly, in order.
      if (!outbox_timer_) {
        outbox_timer_ = loop_.AddTimer(absl::Milliseconds(5), [this] {
          outbox_timer_.reset();
          FlushOutbox();
        });
      }
      break;
    }
    if (!s.ok() && leaving_) {
      // After the leave (process groups' sessions end as the daemon stops): nothing to tell.
      HA_LOG_DEBUG(kSubsys, "not sent, the ring was left: %s", s.ToString().c_str());
    } else if (!s.ok()) {
      HA_LOG_ERROR(kSubsys, "cannot send a ring message: %s", s.ToString().c_str());
      Count("totem.tx_refused");
    }
    outbox_.pop_front();
  }
  flushing_ = false;
}

// ---------------------------------------------------------------------------------------------
// The network side

bool MembershipDaemon::CatchUpAfterPause() {
  const absl::Time now = clock_.MonotonicNow();
  const absl::Duration token =
      absl::Milliseconds(config_.totem.EffectiveToken(config_.nodes.size()));
  const absl::Duration gap = now - last_activity_;
  last_activity_ = now;
  // The loop runs at least every pause-check interval; a much longer gap means this process was
  // not scheduled (SIGSTOP, a frozen VM, swapping).
  if (gap <= PauseCheckInterval(token) + token * 0.6) {
    return false;
  }
  // What queued up meanwhile is history: joins from gathers that have since ended would make
  // this node fail nodes that are fine (and they, in turn, this node). Like corosync, drop it and
  // rejoin from a fresh view.
  size_t flushed = 0;
  for (const std::unique_ptr<UdpTransport>& t : transports_) {
    flushed += t->Flush();
  }
  Count("totem.pause_detected");
  Count("totem.pause_flushed_packets", flushed);
  HA_LOG_WARN(kSubsys,
              "process pause detected for %lld ms (token timeout %lld ms), flushing %zu queued "
              "membership messages",
              static_cast<long long>(absl::ToInt64Milliseconds(gap)),
              static_cast<long long>(absl::ToInt64Milliseconds(token)),
              flushed);
  return true;
}

void MembershipDaemon::OnDatagram(int ring, uint32_t source_node, absl::string_view datagram) {
  (void)source_node;
  if (CatchUpAfterPause()) {
    return;  // this datagram was queued during the pause too
  }
  OpenResult opened = opener_->Open(datagram);
  if (!opened.ok()) {
    Count(std::string(DropCounterName(opened.reason)));
    HA_LOG_DEBUG(kSubsys, "dropped a datagram: %s", opened.detail.c_str());
    return;
  }
  absl::StatusOr<wire::Packet> packet = DecodePacket(opened.frame->body);
  if (!packet.ok() || packet->sender() != opened.frame->sender) {
    Count("totem.rx_dropped_malformed");
    HA_LOG_DEBUG(kSubsys,
                 "dropped a malformed packet from node %u: %s",
                 opened.frame->sender,
                 packet.ok() ? "sender mismatch" : packet.status().ToString().c_str());
    return;
  }
  const absl::Time now = clock_.MonotonicNow();
  last_heard_[packet->sender()] = now;
  if (packet->has_rrp()) {
    RrpControl control;
    switch (static_cast<int>(packet->rrp().kind())) {
      case wire::RrpControl::PROBE:
        control.kind = RrpControl::kProbe;
        break;
      case wire::RrpControl::PROBE_REPLY:
        control.kind = RrpControl::kProbeReply;
        break;
      default:
        control.kind = RrpControl::kActivate;
        break;
    }
    control.sender = packet->sender();
    control.ring = static_cast<int>(packet->rrp().ring());
    control.round = packet->rrp().round();
    Count("rrp.control_rx");
    ApplyRrp(rrp_->OnPacket(now, ring, control));
    return;
  }
  if (rrp_bypassed()) {
    Apply(core_->OnPacket(now, *packet));
    return;
  }
  ApplyRrp(rrp_->OnPacket(now, ring, *std::move(packet)));
}

void MembershipDaemon::OnPeerUnreachable(int ring, uint32_t node) {
  Count("totem.peer_port_unreachable");
  // ICMP is not authenticated: take it as a hint, acted on only for a node that has also been
  // silent for a token retransmit interval (a live member is heard every rotation).
  const absl::Time now = clock_.MonotonicNow();
  auto heard = last_heard_.find(node);
  if (heard != last_heard_.end() && now - heard->second < token_retransmit_) {
    Count("totem.peer_unreachable_ignored");
    return;
  }
  // With redundant rings, a hint only once every ring in service has reported it recently (one
  // ring's ICMP may be a firewall's on that network only).
  if (!rrp_bypassed()) {
    std::vector<absl::Time>& at = unreachable_at_[node];
    at.resize(rrp_->ring_count(), absl::InfinitePast());
    if (ring >= 0 && ring < rrp_->ring_count()) {
      at[ring] = now;
    }
    for (int r = 0; r < rrp_->ring_count(); ++r) {
      if (rrp_->state(r) == RingState::kActive && now - at[r] > token_retransmit_ * 2) {
        Count("totem.peer_unreachable_ignored");
        return;
      }
    }
  }
  HA_LOG_DEBUG(kSubsys, "node %u's port is unreachable", node);
  Apply(core_->OnPeerUnreachable(now, node));
}

void MembershipDaemon::SendDatagram(int ring,
                                    const std::vector<NodeId>& to,
                                    const wire::Packet& packet) {
  absl::StatusOr<std::string> body = EncodePacket(packet);
  if (!body.ok()) {
    HA_LOG_ERROR(kSubsys,
                 "cannot encode a %s packet: %s",
                 std::string(PacketKindName(packet)).c_str(),
                 body.status().ToString().c_str());
    Count("totem.tx_encode_errors");
    return;
  }
  // Sealed once per ring: each ring's copy has its own counter, so the replay filter does not
  // take a copy on a second ring for a duplicate (the ring layer drops those by content).
  absl::StatusOr<std::string> datagram = sealer_->Seal(*body);
  if (!datagram.ok()) {
    HA_LOG_ERROR(kSubsys, "cannot seal a packet: %s", datagram.status().ToString().c_str());
    Count("totem.tx_seal_errors");
    return;
  }
  const absl::string_view kind = PacketKindName(packet);
  for (uint32_t node : to) {
    faults_->Send(ring, node, kind, *datagram);
  }
}

void MembershipDaemon::SendRingPacket(const RrpSend& send) {
  if (const auto* packet = std::get_if<wire::Packet>(&send.packet)) {
    SendDatagram(send.ring, send.to, *packet);
    return;
  }
  const RrpControl& control = std::get<RrpControl>(send.packet);
  wire::Packet packet;
  packet.set_sender(local_id_);
  wire::RrpControl* body = packet.mutable_rrp();
  switch (control.kind) {
    case RrpControl::kProbe:
      body->set_kind(wire::RrpControl::PROBE);
      body->set_round(control.round);
      break;
    case RrpControl::kProbeReply:
      body->set_kind(wire::RrpControl::PROBE_REPLY);
      body->set_round(control.round);
      break;
    case RrpControl::kActivate:
      body->set_kind(wire::RrpControl::ACTIVATE);
      break;
  }
  body->set_ring(static_cast<uint32_t>(control.ring));
  Count("rrp.control_tx");
  SendDatagram(send.ring, send.to, packet);
}

void MembershipDaemon::ApplyRrp(RrpEffects effects) {
  for (const std::string& line : effects.log) {
    if (line.starts_with("Marking")) {
      HA_LOG_ERROR(kSubsys, "%s", line.c_str());
    } else {
      HA_LOG_NOTICE(kSubsys, "%s", line.c_str());
    }
  }
  for (const RrpSend& send : effects.send) {
    SendRingPacket(send);
  }
  if (!effects.changes.empty()) {
    const std::vector<RingStatus> status = rrp_->Status();
    for (const RingStateChange& change : effects.changes) {
      Count(change.state == RingState::kFaulty ? "rrp.marked_faulty" : "rrp.recovered");
      v1::RingEvent event;
      if (change.ring >= 0 && static_cast<size_t>(change.ring) < status.size()) {
        *event.mutable_ring() = RingProto(status[change.ring]);
      }
      event.mutable_ring()->set_state(change.state == RingState::kFaulty ? v1::RING_FAULTY
                                                                         : v1::RING_ACTIVE);
      event.set_reason(change.reason);
      event.set_time_unix_ms(absl::ToUnixMillis(clock_.WallNow()));
      ring_watchers_.Publish(event);
    }
  }
  const absl::Time now = clock_.MonotonicNow();
  for (const wire::Packet& packet : effects.deliver) {
    Apply(core_->OnPacket(now, packet));
  }
  if (!applying_) {
    RescheduleTimer();
  }
}

void MembershipDaemon::Apply(Effects effects) {
  // Handing a delivery up may submit to the ring, and that may release a held token and yield
  // more effects: those wait for the ones in hand, so deliveries stay in order.
  queued_.push_back(std::move(effects));
  if (applying_) {
    return;
  }
  applying_ = true;
  while (!queued_.empty()) {
    Effects next = std::move(queued_.front());
    queued_.pop_front();
    ApplyNow(std::move(next));
  }
  applying_ = false;
  RescheduleTimer();
}

void MembershipDaemon::ApplyNow(Effects effects) {
  for (const std::string& line : effects.log) {
    HA_LOG_NOTICE(kSubsys, "%s", line.c_str());
  }
  if (rrp_bypassed()) {
    for (const Outgoing& out : effects.send) {
      SendDatagram(0, out.to, out.packet);
    }
  } else if (!effects.send.empty()) {
    ApplyRrp(rrp_->Send(clock_.MonotonicNow(), effects.send));
  }
  for (const Output& output : effects.deliver) {
    if (const auto* change = std::get_if<ConfigChange>(&output)) {
      OnConfigChange(*change);
    } else {
      OnDelivery(std::get<Delivery>(output));
    }
  }
}

void MembershipDaemon::OnConfigChange(const ConfigChange& change) {
  installed_at_ = clock_.WallNow();
  for (uint32_t id : change.members) {
    if (std::find(change.joined.begin(), change.joined.end(), id) != change.joined.end() ||
        join_count_[id] == 0) {
      ++join_count_[id];
    }
  }
  HA_LOG_NOTICE(kSubsys,
                "new membership: ring %u.%llu members [%s] joined [%s] left [%s]",
                change.ring_id.rep,
                static_cast<unsigned long long>(change.ring_id.seq),
                absl::StrJoin(change.members, " ").c_str(),
                absl::StrJoin(change.joined, " ").c_str(),
                absl::StrJoin(change.left, " ").c_str());
  PersistRingSeq();
  last_change_ = change;
  membership_watchers_.Publish(CurrentChange(false));
  if (quorum_) {
    ApplyQuorum(quorum_->OnConfigChange(
        QuorumRingId{change.ring_id.rep, change.ring_id.seq}, change.members, clock_.WallNow()));
  }
  if (groups_ != nullptr) {
    groups_->OnRingChange(change);
    DropStaleGroupFrames();
  }
}

void MembershipDaemon::DropStaleGroupFrames() {
  // Group frames of the old configuration still waiting to be sent would only be delivered as
  // stale and resent: drop them (GroupCore resends what they carried in the new one).
  auto stale = [this](const std::string& payload) {
    return !payload.empty() && static_cast<RingService>(payload[0]) == RingService::kGroups &&
           groups_->IsStaleRingPayload(absl::string_view(payload).substr(1));
  };
  size_t dropped = core_->DropQueued(stale);
  const size_t before = outbox_.size();
  outbox_.erase(std::remove_if(outbox_.begin(),
                               outbox_.end(),
                               [&](const Pending& pending) { return stale(pending.payload); }),
                outbox_.end());
  dropped += before - outbox_.size();
  if (dropped > 0) {
    Count("cpg.stale_frames_dropped", dropped);
    HA_LOG_DEBUG(kSubsys, "dropped %zu queued group frames of the old configuration", dropped);
  }
}

void MembershipDaemon::OnDelivery(const Delivery& delivery) {
  Count("totem.delivered");
  if (delivery.payload.empty()) {
    Count("totem.delivered_untagged");
    return;
  }
  const absl::string_view payload = absl::string_view(delivery.payload).substr(1);
  switch (static_cast<RingService>(delivery.payload[0])) {
    case RingService::kVoteQuorum: {
      absl::StatusOr<vqwire::Message> message = DecodeVoteQuorumMessage(payload);
      if (!message.ok()) {
        Count("quorum.rx_malformed");
        return;
      }
      const bool mine_request = delivery.origin == local_id_ &&
                                (message->has_set_expected_votes() || message->has_set_votes());
      ApplyQuorum(quorum_->OnMessage(delivery.origin, *message, clock_.WallNow()));
      if (mine_request && !quorum_requests_.empty()) {
        auto done = std::move(quorum_requests_.front());
        quorum_requests_.pop_front();
        done(Quorum());
      }
      return;
    }
    case RingService::kGroups:
      if (groups_ != nullptr) {
        groups_->OnRingDelivery(delivery, payload);
      }
      return;
  }
  Count("totem.delivered_unknown_service");
}

void MembershipDaemon::ApplyQuorum(VoteQuorum::Effects effects) {
  for (const vqwire::Message& message : effects.multicast) {
    Send(RingService::kVoteQuorum, EncodeVoteQuorumMessage(message), false);
  }
  if (effects.cancel_timer && quorum_timer_) {
    loop_.CancelTimer(*quorum_timer_);
    quorum_timer_.reset();
  }
  if (effects.arm_timer) {
    if (quorum_timer_) {
      loop_.CancelTimer(*quorum_timer_);
    }
    quorum_timer_ = loop_.AddTimer(*effects.arm_timer, [this] {
      quorum_timer_.reset();
      ApplyQuorum(quorum_->OnTimer(clock_.WallNow()));
    });
  }
  for (const auto& line : effects.log) {
    HA_LOG("quorum", line.priority, "%s", line.text.c_str());
  }
  if (effects.state_changed) {
    v1::QuorumEvent event;
    *event.mutable_state() = Quorum();
    quorum_watchers_.Publish(event);
  }
}

// ---------------------------------------------------------------------------------------------
// Timers

void MembershipDaemon::RescheduleTimer() {
  std::optional<absl::Time> deadline = core_->NextDeadline();
  if (const std::optional<absl::Time> rrp = rrp_->NextDeadline();
      rrp && (!deadline || *rrp < *deadline)) {
    deadline = rrp;
  }
  if (deadline == timer_deadline_ && timer_->armed() == deadline.has_value()) {
    return;
  }
  timer_deadline_ = deadline;
  if (!deadline) {
    timer_->Cancel();
    return;
  }
  timer_->ArmAt(*deadline);
}

void MembershipDaemon::OnTimer() {
  timer_deadline_.reset();
  CatchUpAfterPause();
  const absl::Time now = clock_.MonotonicNow();
  if (const std::optional<absl::Time> rrp = rrp_->NextDeadline(); rrp && *rrp <= now) {
    ApplyRrp(rrp_->OnTimer(now));
  }
  Apply(core_->OnTimer(now));
}

// Corosync's scheduler-pause warning: a loop that did not run for most of a token timeout is
// why a membership changed, and says so in the log.
void MembershipDaemon::CheckPause() {
  CatchUpAfterPause();
  const absl::Duration token =
      absl::Milliseconds(config_.totem.EffectiveToken(config_.nodes.size()));
  pause_timer_->ArmAfter(PauseCheckInterval(token));
}

void MembershipDaemon::PersistRingSeq() {
  const uint64_t seq = core_->max_ring_seq();
  if (seq <= persisted_ring_seq_) {
    return;
  }
  if (absl::Status s = WriteFileAtomically(ring_seq_path_, absl::StrCat(seq, "\n"), 0600);
      !s.ok()) {
    HA_LOG_WARN(kSubsys, "%s", s.ToString().c_str());
    return;
  }
  persisted_ring_seq_ = seq;
}

// ---------------------------------------------------------------------------------------------
// Snapshots

v1::Node MembershipDaemon::NodeProto(uint32_t id) const {
  v1::Node node;
  node.set_node_id(id);
  if (const config::NodeConfig* c = config_.FindNode(id)) {
    node.set_name(c->name);
    for (const std::string& a : c->ring_addrs) {
      node.add_addresses(a);
    }
  }
  const bool member = std::find(last_change_.members.begin(), last_change_.members.end(), id) !=
                      last_change_.members.end();
  auto it = join_count_.find(id);
  const uint32_t joins = it == join_count_.end() ? 0 : it->second;
  node.set_state(member ? v1::NODE_MEMBER : joins > 0 ? v1::NODE_LEFT : v1::NODE_NEVER_SEEN);
  node.set_join_count(joins);
  return node;
}

v1::GetMembershipResponse MembershipDaemon::Membership() const {
  v1::GetMembershipResponse out;
  *out.mutable_ring_id() = RingIdProto(last_change_.ring_id);
  std::set<uint32_t> ids(last_change_.members.begin(), last_change_.members.end());
  for (const auto& node : config_.nodes) {
    ids.insert(node.nodeid);
  }
  for (uint32_t id : ids) {
    *out.add_nodes() = NodeProto(id);
  }
  out.set_local_node_id(local_id_);
  out.set_cluster_name(config_.totem.cluster_name);
  return out;
}

v1::MembershipChange MembershipDaemon::CurrentChange(bool initial) const {
  v1::MembershipChange out;
  *out.mutable_ring_id() = RingIdProto(last_change_.ring_id);
  for (uint32_t id : last_change_.members) {
    *out.add_members() = NodeProto(id);
  }
  if (!initial) {
    for (uint32_t id : last_change_.joined) {
      *out.add_joined() = NodeProto(id);
    }
    for (uint32_t id : last_change_.left) {
      *out.add_left() = NodeProto(id);
    }
  }
  out.set_initial(initial);
  out.set_time_unix_ms(absl::ToUnixMillis(installed_at_));
  return out;
}

v1::Ring RingProto(const RingStatus& status) {
  v1::Ring ring;
  ring.set_ring_number(static_cast<uint32_t>(status.ring));
  ring.set_local_address(status.address);
  ring.set_state(status.state == RingState::kFaulty ? v1::RING_FAULTY : v1::RING_ACTIVE);
  ring.set_problem_counter(static_cast<uint32_t>(std::max(0, status.problem_count)));
  ring.set_problem_threshold(static_cast<uint32_t>(status.threshold));
  ring.set_detail(status.text);
  return ring;
}

v1::GetRingsResponse MembershipDaemon::Rings() const {
  v1::GetRingsResponse out;
  out.set_local_node_id(local_id_);
  out.set_rrp_mode(RrpModeName(rrp_->options().mode));
  out.set_transport("udpu");  // what runs, whatever the configuration says (see docs)
  for (const RingStatus& status : rrp_->Status()) {
    *out.add_rings() = RingProto(status);
  }
  return out;
}

v1::GetRingsResponse MembershipDaemon::ReenableRings() {
  HA_LOG_NOTICE(kSubsys, "re-enabling the rings (administrative request)");
  Count("rrp.reenable_requests");
  ApplyRrp(rrp_->Reenable(clock_.MonotonicNow()));
  return Rings();
}

std::vector<v1::RingEvent> MembershipDaemon::RingSnapshots() const {
  std::vector<v1::RingEvent> out;
  for (const RingStatus& status : rrp_->Status()) {
    v1::RingEvent event;
    *event.mutable_ring() = RingProto(status);
    event.set_initial(true);
    event.set_time_unix_ms(absl::ToUnixMillis(clock_.WallNow()));
    out.push_back(std::move(event));
  }
  return out;
}

std::map<std::string, uint64_t> MembershipDaemon::Counters() const {
  std::map<std::string, uint64_t> out = counters_;
  const TotemCounters& c = core_->counters();
  const std::pair<const char*, uint64_t> totem[] = {
      {"orf_token_tx", c.orf_token_tx},
      {"orf_token_rx", c.orf_token_rx},
      {"orf_token_retx", c.orf_token_retx},
      {"mcast_tx", c.mcast_tx},
      {"mcast_retx", c.mcast_retx},
      {"mcast_rx", c.mcast_rx},
      {"memb_join_tx", c.memb_join_tx},
      {"memb_join_rx", c.memb_join_rx},
      {"memb_commit_token_tx", c.memb_commit_token_tx},
      {"memb_merge_detect_tx", c.memb_merge_detect_tx},
      {"operational_entered", c.operational_entered},
      {"operational_token_lost", c.operational_token_lost},
      {"gather_entered", c.gather_entered},
      {"commit_entered", c.commit_entered},
      {"commit_token_lost", c.commit_token_lost},
      {"recovery_entered", c.recovery_entered},
      {"recovery_token_lost", c.recovery_token_lost},
      {"consensus_timeouts", c.consensus_timeouts},
      {"rx_msg_dropped", c.rx_msg_dropped},
      {"continuous_gather", c.continuous_gather},
      {"fail_to_recv", c.fail_to_recv},
      {"old_ring_discarded", c.old_ring_discarded},
      {"peer_unreachable_failed", c.peer_unreachable_failed},
      {"join_stale", c.join_stale},
      {"formation_aborted", c.formation_aborted},
      {"send_queue_dropped", c.send_queue_dropped},
  };
  for (const auto& [name, value] : totem) {
    out[absl::StrCat("totem.", name)] = value;
  }
  out["totem.send_queue"] = core_->send_queue_size();
  out["totem.send_queue_bytes"] = core_->send_queue_bytes();
  if (!transports_.empty()) {
    // The sums over the rings, then each ring's own.
    for (const char* name :
         {"tx_datagrams", "tx_errors", "rx_datagrams", "rx_unknown_source", "port_unreachable"}) {
      out[absl::StrCat("transport.", name)] = 0;
    }
    for (const std::unique_ptr<UdpTransport>& transport : transports_) {
      const UdpTransportStats& t = transport->stats();
      out["transport.tx_datagrams"] += t.tx_datagrams;
      out["transport.tx_errors"] += t.tx_errors;
      out["transport.rx_datagrams"] += t.rx_datagrams;
      out["transport.rx_unknown_source"] += t.rx_unknown_source;
      out["transport.port_unreachable"] += t.port_unreachable;
      const std::string ring = absl::StrCat("ring.", transport->ring(), ".");
      out[ring + "tx_datagrams"] = t.tx_datagrams;
      out[ring + "rx_datagrams"] = t.rx_datagrams;
    }
  }
  for (const RingStatus& r : rrp_->Status()) {
    const std::string ring = absl::StrCat("ring.", r.ring, ".");
    out[ring + "problem_counter"] = static_cast<uint64_t>(std::max(0, r.problem_count));
    out[ring + "faulty"] = r.state == RingState::kFaulty ? 1 : 0;
    if (!rrp_bypassed()) {
      out[ring + "tx"] = r.tx;
      out[ring + "rx"] = r.rx;
      out[ring + "rx_duplicates"] = r.rx_duplicates;
      out[ring + "faulty_marked"] = r.faulty_marked;
      out[ring + "recovered"] = r.recovered;
    }
  }
  const FaultStats& f = faults_->stats();
  if (faults_->spec().active()) {
    out["faults.dropped"] = f.dropped;
    out["faults.duplicated"] = f.duplicated;
    out["faults.delayed"] = f.delayed;
    out["faults.corrupted"] = f.corrupted;
  }
  if (groups_ != nullptr) {
    groups_->AddCounters(out);
  }
  return out;
}

v1::QuorumState MembershipDaemon::Quorum() const {
  v1::QuorumState out;
  ToProto(quorum_->state(), &out);
  return out;
}

void MembershipDaemon::SetExpectedVotes(uint32_t expected,
                                        std::function<void(absl::StatusOr<v1::QuorumState>)> done) {
  absl::StatusOr<VoteQuorum::Effects> effects = quorum_->SetExpectedVotes(expected);
  if (!effects.ok()) {
    done(effects.status());
    return;
  }
  quorum_requests_.push_back(std::move(done));
  ApplyQuorum(*std::move(effects));
}

void MembershipDaemon::SetVotes(uint32_t node,
                                uint32_t votes,
                                std::function<void(absl::StatusOr<v1::QuorumState>)> done) {
  absl::StatusOr<VoteQuorum::Effects> effects = quorum_->SetVotes(node, votes);
  if (!effects.ok()) {
    done(effects.status());
    return;
  }
  quorum_requests_.push_back(std::move(done));
  ApplyQuorum(*std::move(effects));
}

}  // namespace ha::membership
