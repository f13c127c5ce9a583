#include "membershipd/wire_codec.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ha::membership {
namespace {

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(what);
}

// A ring that is the packet's current ring: it must exist.
absl::Status CheckRing(const wirepb::RingId& ring, absl::string_view where) {
  if (ring.rep() == 0) {
    return Invalid(absl::StrCat(where, ": ring rep is 0"));
  }
  return absl::OkStatus();
}

// A ring a node reports as its last one: {0, 0} means it has had none yet.
absl::Status CheckOptionalRing(const wirepb::RingId& ring, absl::string_view where) {
  if (ring.rep() == 0 && ring.seq() != 0) {
    return Invalid(absl::StrCat(where, ": ring rep is 0 with seq ", ring.seq()));
  }
  return absl::OkStatus();
}

absl::Status CheckNodeSet(const google::protobuf::RepeatedField<uint32_t>& ids,
                          const WireLimits& limits,
                          absl::string_view where) {
  if (static_cast<size_t>(ids.size()) > limits.max_nodes) {
    return Invalid(absl::StrCat(where, ": ", ids.size(), " nodes (max ", limits.max_nodes, ")"));
  }
  std::vector<uint32_t> sorted(ids.begin(), ids.end());
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty() && sorted.front() == 0) {
    return Invalid(absl::StrCat(where, ": node id 0"));
  }
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return Invalid(absl::StrCat(where, ": duplicate node id"));
  }
  return absl::OkStatus();
}

absl::Status CheckMessage(const wirepb::Message& m, const WireLimits& limits, bool nested) {
  const absl::string_view where = nested ? "recovered message" : "message";
  HA_RETURN_IF_ERROR(CheckRing(m.ring_id(), where));
  if (m.seq() == 0) {
    return Invalid(absl::StrCat(where, ": seq 0"));
  }
  if (m.origin() == 0) {
    return Invalid(absl::StrCat(where, ": origin 0"));
  }
  if (m.payload().size() > limits.max_payload) {
    return Invalid(absl::StrCat(
        where, ": payload of ", m.payload().size(), " bytes (max ", limits.max_payload, ")"));
  }
  if (m.has_recovered()) {
    if (nested) {
      return Invalid("message: recovered nested twice");
    }
    if (!m.payload().empty()) {
      return Invalid("message: recovery message with a payload of its own");
    }
    HA_RETURN_IF_ERROR(CheckMessage(m.recovered(), limits, /*nested=*/true));
  }
  return absl::OkStatus();
}

absl::Status CheckToken(const wirepb::Token& t, const WireLimits& limits) {
  HA_RETURN_IF_ERROR(CheckRing(t.ring_id(), "token"));
  if (t.aru() > t.seq()) {
    return Invalid(absl::StrCat("token: aru ", t.aru(), " above seq ", t.seq()));
  }
  if (static_cast<size_t>(t.rtr_size()) > limits.max_rtr) {
    return Invalid(
        absl::StrCat("token: ", t.rtr_size(), " rtr entries (max ", limits.max_rtr, ")"));
  }
  for (uint64_t seq : t.rtr()) {
    if (seq == 0 || seq > t.seq()) {
      return Invalid(absl::StrCat("token: rtr entry ", seq, " outside [1, ", t.seq(), "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckJoin(const wirepb::Join& j, const WireLimits& limits) {
  HA_RETURN_IF_ERROR(CheckNodeSet(j.proc(), limits, "join proc"));
  HA_RETURN_IF_ERROR(CheckNodeSet(j.fail(), limits, "join fail"));
  HA_RETURN_IF_ERROR(CheckOptionalRing(j.ring_id(), "join"));
  return absl::OkStatus();
}

absl::Status CheckCommit(const wirepb::CommitToken& c, const WireLimits& limits) {
  HA_RETURN_IF_ERROR(CheckRing(c.ring_id(), "commit"));
  const size_t n = static_cast<size_t>(c.members_size());
  if (n == 0) {
    return Invalid("commit: no members");
  }
  if (n > limits.max_nodes) {
    return Invalid(absl::StrCat("commit: ", n, " members (max ", limits.max_nodes, ")"));
  }
  for (size_t i = 0; i < n; ++i) {
    const uint32_t id = c.members(static_cast<int>(i));
    if (id == 0) {
      return Invalid("commit: member id 0");
    }
    if (i > 0 && id <= c.members(static_cast<int>(i - 1))) {
      return Invalid("commit: members not strictly ascending");
    }
  }
  if (static_cast<size_t>(c.info_size()) != n) {
    return Invalid(absl::StrCat("commit: ", c.info_size(), " info entries for ", n, " members"));
  }
  for (size_t i = 0; i < n; ++i) {
    const wirepb::CommitMember& info = c.info(static_cast<int>(i));
    const uint32_t member = c.members(static_cast<int>(i));
    if (info.node_id() != member && (info.filled() || info.node_id() != 0)) {
      return Invalid(absl::StrCat(
          "commit: info entry ", i, " is for node ", info.node_id(), ", not member ", member));
    }
    HA_RETURN_IF_ERROR(CheckOptionalRing(info.old_ring_id(), "commit info"));
    if (info.filled() &&
        (info.aru() > info.high_seq() || info.high_delivered() > info.high_seq())) {
      return Invalid(absl::StrCat("commit: info of node ",
                                  member,
                                  " has aru ",
                                  info.aru(),
                                  " or high_delivered ",
                                  info.high_delivered(),
                                  " above high_seq ",
                                  info.high_seq()));
    }
  }
  if (c.memb_index() > kCommitTokenMaxRotations * n) {
    return Invalid(absl::StrCat("commit: memb_index ",
                                c.memb_index(),
                                " beyond ",
                                kCommitTokenMaxRotations,
                                " rotations of ",
                                n,
                                " members"));
  }
  return absl::OkStatus();
}

absl::Status CheckRrp(const wirepb::RrpControl& r) {
  const int kind = static_cast<int>(r.kind());
  if (kind != wirepb::RrpControl::PROBE && kind != wirepb::RrpControl::PROBE_REPLY &&
      kind != wirepb::RrpControl::ACTIVATE) {
    return Invalid(absl::StrCat("rrp: unknown kind ", kind));
  }
  if (kind == wirepb::RrpControl::ACTIVATE && r.round() != 0) {
    return Invalid("rrp: activate with a round");
  }
  if (r.ring() >= kMaxRings) {
    return Invalid(absl::StrCat("rrp: ring ", r.ring(), " (max ", kMaxRings - 1, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePacket(const wirepb::Packet& packet, const WireLimits& limits) {
  if (packet.sender() == 0) {
    return Invalid("packet: sender 0");
  }
  switch (packet.body_case()) {
    case wirepb::Packet::kToken:
      return CheckToken(packet.token(), limits);
    case wirepb::Packet::kMessage:
      return CheckMessage(packet.message(), limits, /*nested=*/false);
    case wirepb::Packet::kJoin:
      return CheckJoin(packet.join(), limits);
    case wirepb::Packet::kCommit:
      return CheckCommit(packet.commit(), limits);
    case wirepb::Packet::kMergeDetect:
      return CheckRing(packet.merge_detect().ring_id(), "merge_detect");
    case wirepb::Packet::kHoldCancel:
      return CheckRing(packet.hold_cancel().ring_id(), "hold_cancel");
    case wirepb::Packet::kLeave:
      return CheckRing(packet.leave().ring_id(), "leave");
    case wirepb::Packet::kRrp:
      return CheckRrp(packet.rrp());
    case wirepb::Packet::BODY_NOT_SET:
      return Invalid("packet: no body");
  }
  return Invalid("packet: unknown body");
}

absl::StatusOr<std::string> EncodePacket(const wirepb::Packet& packet, const WireLimits& limits) {
  HA_RETURN_IF_ERROR(ValidatePacket(packet, limits));
  const size_t size = packet.ByteSizeLong();
  if (size > limits.max_body()) {
    return Invalid(absl::StrCat("packet: ", size, " bytes encoded (max ", limits.max_body(), ")"));
  }
  std::string out;
  if (!packet.SerializeToString(&out)) {
    return absl::InternalError("packet: serialization failed");
  }
  return out;
}

absl::StatusOr<wirepb::Packet> DecodePacket(absl::string_view body, const WireLimits& limits) {
  if (body.size() > limits.max_body()) {
    return Invalid(absl::StrCat("packet: ", body.size(), " bytes (max ", limits.max_body(), ")"));
  }
  wirepb::Packet packet;
  if (!packet.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return Invalid("packet: not a valid Packet encoding");
  }
  HA_RETURN_IF_ERROR(ValidatePacket(packet, limits));
  return packet;
}

absl::string_view PacketKindName(const wirepb::Packet& packet) {
  switch (packet.body_case()) {
    case wirepb::Packet::kToken:
      return "token";
    case wirepb::Packet::kMessage:
      return "message";
    case wirepb::Packet::kJoin:
      return "join";
    case wirepb::Packet::kCommit:
      return "commit";
    case wirepb::Packet::kMergeDetect:
      return "merge_detect";
    case wirepb::Packet::kHoldCancel:
      return "hold_cancel";
    case wirepb::Packet::kLeave:
      return "leave";
    case wirepb::Packet::kRrp:
      return "rrp";
    case wirepb::Packet::BODY_NOT_SET:
      return "none";
  }
  return "none";
}

}  // namespace ha::membership
