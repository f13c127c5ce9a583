// The totem packet body: ha.totem.wire.v1.Packet (proto/totem_wire.proto) to bytes and back, with
// every count and size bounded before the protocol core sees a packet. The frame around the body
// (header, encryption, MAC, replay protection) is membershipd/frame_crypto.h; both are described in
// docs/formats/totem-wire.md.
//
// The encoder applies the same checks as the decoder, so that we never emit what a peer would
// drop. Errors are InvalidArgument with a short reason ("commit: members not ascending"), meant for
// a debug log and a drop counter; nothing here crashes on peer input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/totem_wire.pb.h"

namespace ha::membership {

namespace wirepb = ::ha::totem::wire::v1;

// The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes).
inline constexpr size_t kMaxUdpDatagram = 65507;
// What the frame adds around the body at most: header 28, IV 16, CBC padding 16, HMAC-SHA512 64
// (membershipd/frame_crypto.h), rounded up.
inline constexpr size_t kMaxFrameOverhead = 128;

// Bounds on untrusted packets. The defaults leave headroom over the cluster maximum (32 nodes).
struct WireLimits {
  // Node ids in one list: Join.proc, Join.fail, CommitToken.members (and so CommitToken.info).
  size_t max_nodes = 64;
  // Entries of Token.rtr.
  size_t max_rtr = 1024;
  // Bytes of one Message.payload (a recovered message's included): 63 KiB, so that a message with
  // its headers, a recovery wrapper and the frame fits in one datagram.
  size_t max_payload = 63 * 1024;
  // Bytes of one datagram (frame included) and so, less the frame, of one encoded body.
  size_t max_datagram = kMaxUdpDatagram;

  size_t max_body() const {
    return max_datagram > kMaxFrameOverhead ? max_datagram - kMaxFrameOverhead : 0;
  }
};

// Redundant rings: ring numbers (ring0_addr ... ring7_addr) are below this.
inline constexpr uint32_t kMaxRings = 8;

// The commit token makes two rotations (members fill in their entries, then every member learns
// the others'); memb_index counts hops and is refused beyond this many rotations.
inline constexpr size_t kCommitTokenMaxRotations = 3;

// Checks a packet against the rules below and `limits`; OK or InvalidArgument with a short reason.
//  - sender non-zero; a body is set;
//  - ring ids of Token, Message, CommitToken, MergeDetect, TokenHoldCancel, Leave have rep != 0;
//    Join.ring_id and CommitMember.old_ring_id may be {0, 0} ("no ring yet"), otherwise rep != 0;
//  - Message: seq >= 1, origin != 0, payload <= max_payload; `recovered` at most one level deep,
//    and a message carrying a recovered one has no payload of its own;
//  - Token: aru <= seq; rtr has at most max_rtr entries, each in [1, seq];
//  - Join: proc and fail at most max_nodes non-zero ids each, no duplicates within a list;
//  - CommitToken: 1..max_nodes members, non-zero, strictly ascending; info has one entry per
//    member in the same order (node_id == members[i], or 0 while not filled); a filled entry has
//    aru <= high_seq and high_delivered <= high_seq; memb_index <= 3 * members;
//  - RrpControl: kind is PROBE, PROBE_REPLY or ACTIVATE; ring < kMaxRings; round is 0 for ACTIVATE.
absl::Status ValidatePacket(const wirepb::Packet& packet, const WireLimits& limits = WireLimits{});

// Serializes a packet that passes ValidatePacket and whose encoding fits limits.max_body().
absl::StatusOr<std::string> EncodePacket(const wirepb::Packet& packet,
                                         const WireLimits& limits = WireLimits{});

// Parses and validates a body received from a peer (after FrameOpener). The caller still checks
// that packet.sender() equals the frame's authenticated sender.
absl::StatusOr<wirepb::Packet> DecodePacket(absl::string_view body,
                                            const WireLimits& limits = WireLimits{});

// "token", "message", "join", "commit", "merge_detect", "hold_cancel", "leave", "rrp" or "none":
// for logs and per-kind counters.
absl::string_view PacketKindName(const wirepb::Packet& packet);

}  // namespace ha::membership
