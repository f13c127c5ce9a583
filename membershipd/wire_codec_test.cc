#include "membershipd/wire_codec.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

namespace ha::membership {
namespace {

void SetRing(wirepb::RingId* ring, uint32_t rep, uint64_t seq) {
  ring->set_rep(rep);
  ring->set_seq(seq);
}

wirepb::Packet TokenPacket() {
  wirepb::Packet p;
  p.set_sender(2);
  wirepb::Token* t = p.mutable_token();
  SetRing(t->mutable_ring_id(), 1, 8);
  t->set_token_seq(99);
  t->set_seq(40);
  t->set_aru(35);
  t->set_aru_id(3);
  t->set_fcc(5);
  t->set_backlog(7);
  t->add_rtr(36);
  t->add_rtr(38);
  t->set_idle_rotations(2);
  return p;
}

wirepb::Packet MessagePacket() {
  wirepb::Packet p;
  p.set_sender(3);
  wirepb::Message* m = p.mutable_message();
  SetRing(m->mutable_ring_id(), 1, 8);
  m->set_seq(41);
  m->set_origin(3);
  m->set_safe(true);
  m->set_payload(std::string("hello\0world", 11));
  return p;
}

wirepb::Packet RecoveryPacket() {
  wirepb::Packet p;
  p.set_sender(1);
  wirepb::Message* m = p.mutable_message();
  SetRing(m->mutable_ring_id(), 1, 12);
  m->set_seq(3);
  m->set_origin(1);
  wirepb::Message* old = m->mutable_recovered();
  SetRing(old->mutable_ring_id(), 2, 8);
  old->set_seq(17);
  old->set_origin(4);
  old->set_payload("old ring message");
  return p;
}

wirepb::Packet JoinPacket() {
  wirepb::Packet p;
  p.set_sender(1);
  wirepb::Join* j = p.mutable_join();
  for (uint32_t id : {3, 1, 2}) {
    j->add_proc(id);
  }
  j->add_fail(4);
  j->set_ring_seq(12);
  SetRing(j->mutable_ring_id(), 1, 8);
  return p;
}

wirepb::Packet CommitPacket() {
  wirepb::Packet p;
  p.set_sender(1);
  wirepb::CommitToken* c = p.mutable_commit();
  SetRing(c->mutable_ring_id(), 1, 12);
  for (uint32_t id : {1, 2, 5}) {
    c->add_members(id);
    wirepb::CommitMember* info = c->add_info();
    if (id != 5) {
      info->set_node_id(id);
      SetRing(info->mutable_old_ring_id(), 1, 8);
      info->set_aru(30);
      info->set_high_delivered(29);
      info->set_high_seq(33);
      info->set_filled(true);
    }
  }
  c->set_memb_index(2);
  return p;
}

wirepb::Packet RingOnly(std::function<wirepb::RingId*(wirepb::Packet&)> body) {
  wirepb::Packet p;
  p.set_sender(4);
  SetRing(body(p), 4, 9);
  return p;
}

wirepb::Packet RrpPacket(wirepb::RrpControl::Kind kind, uint32_t ring, uint64_t round) {
  wirepb::Packet p;
  p.set_sender(2);
  wirepb::RrpControl* r = p.mutable_rrp();
  r->set_kind(kind);
  r->set_ring(ring);
  r->set_round(round);
  return p;
}

std::vector<std::pair<std::string, wirepb::Packet>> EveryKind() {
  return {
      {"token", TokenPacket()},
      {"message", MessagePacket()},
      {"recovery message", RecoveryPacket()},
      {"join", JoinPacket()},
      {"commit", CommitPacket()},
      {"merge_detect",
       RingOnly([](wirepb::Packet& p) { return p.mutable_merge_detect()->mutable_ring_id(); })},
      {"hold_cancel",
       RingOnly([](wirepb::Packet& p) { return p.mutable_hold_cancel()->mutable_ring_id(); })},
      {"leave", RingOnly([](wirepb::Packet& p) { return p.mutable_leave()->mutable_ring_id(); })},
      {"rrp probe", RrpPacket(wirepb::RrpControl::PROBE, 1, 7)},
      {"rrp probe reply", RrpPacket(wirepb::RrpControl::PROBE_REPLY, 1, 7)},
      {"rrp activate", RrpPacket(wirepb::RrpControl::ACTIVATE, 0, 0)},
  };
}

// The reason DecodePacket gives for `p`, after checking that EncodePacket refuses it too.
std::string Rejection(const wirepb::Packet& p, const WireLimits& limits = WireLimits{}) {
  absl::StatusOr<std::string> encoded = EncodePacket(p, limits);
  REQUIRE_FALSE(encoded.ok());
  CHECK(encoded.status().code() == absl::StatusCode::kInvalidArgument);
  absl::StatusOr<wirepb::Packet> decoded = DecodePacket(p.SerializeAsString(), limits);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(decoded.status().message());
}

TEST_CASE("every packet kind round-trips", "[wire]") {
  for (const auto& [name, packet] : EveryKind()) {
    INFO(name);
    absl::StatusOr<std::string> encoded = EncodePacket(packet);
    REQUIRE(encoded.ok());
    absl::StatusOr<wirepb::Packet> decoded = DecodePacket(*encoded);
    REQUIRE(decoded.ok());
    CHECK(decoded->SerializeAsString() == packet.SerializeAsString());
    CHECK(PacketKindName(*decoded) != "none");
  }
  CHECK(PacketKindName(TokenPacket()) == "token");
  CHECK(PacketKindName(CommitPacket()) == "commit");
}

TEST_CASE("a packet at the limits round-trips", "[wire]") {
  const WireLimits limits;
  wirepb::Packet token = TokenPacket();
  token.mutable_token()->set_seq(1u << 20);
  token.mutable_token()->clear_rtr();
  for (size_t i = 0; i < limits.max_rtr; ++i) {
    token.mutable_token()->add_rtr((1u << 20) - i);
  }
  CHECK(DecodePacket(*EncodePacket(token)).ok());

  wirepb::Packet recovery = RecoveryPacket();
  recovery.mutable_message()->mutable_recovered()->set_payload(
      std::string(limits.max_payload, 'x'));
  absl::StatusOr<std::string> encoded = EncodePacket(recovery);
  REQUIRE(encoded.ok());
  CHECK(encoded->size() <= limits.max_body());
  CHECK(DecodePacket(*encoded).ok());

  wirepb::Packet commit;
  commit.set_sender(1);
  SetRing(commit.mutable_commit()->mutable_ring_id(), 1, 2);
  for (uint32_t id = 1; id <= limits.max_nodes; ++id) {
    commit.mutable_commit()->add_members(id);
    commit.mutable_commit()->add_info();
  }
  commit.mutable_commit()->set_memb_index(2 * limits.max_nodes);
  CHECK(DecodePacket(*EncodePacket(commit)).ok());
}

TEST_CASE("bytes that are not a packet are refused", "[wire]") {
  CHECK(DecodePacket("").status().message() == "packet: sender 0");
  CHECK(DecodePacket("\xff\xff\xff").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(DecodePacket("\x08\x01").status().message() == "packet: no body");  // sender 1, no body
  // A field number this version does not know is not a body either.
  CHECK(DecodePacket(std::string("\x08\x01\x52\x00", 4)).status().message() == "packet: no body");
  const WireLimits limits;
  CHECK(DecodePacket(std::string(limits.max_body() + 1, '\0')).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("packet-level and ring rejections", "[wire]") {
  wirepb::Packet p = TokenPacket();
  p.set_sender(0);
  CHECK(Rejection(p) == "packet: sender 0");
  p = wirepb::Packet();
  p.set_sender(1);
  CHECK(Rejection(p) == "packet: no body");
  p = TokenPacket();
  p.mutable_token()->clear_ring_id();
  CHECK(Rejection(p) == "token: ring rep is 0");
  for (auto [name, packet] : EveryKind()) {
    if (name == "join" || name == "commit" || name.starts_with("rrp")) {
      continue;  // no ring id (rrp: checked in "rrp control rejections")
    }
    INFO(name);
    wirepb::Packet copy = packet;
    // Every one of these bodies has its ring id as field 1: clear it.
    const google::protobuf::Reflection* refl = copy.GetReflection();
    const google::protobuf::FieldDescriptor* body =
        copy.GetDescriptor()->FindFieldByNumber(static_cast<int>(copy.body_case()));
    google::protobuf::Message* inner = refl->MutableMessage(&copy, body);
    inner->GetReflection()->ClearField(inner, inner->GetDescriptor()->FindFieldByNumber(1));
    CHECK_THAT(Rejection(copy), Catch::Contains("ring rep is 0"));
  }
}

TEST_CASE("message rejections", "[wire]") {
  const WireLimits limits;
  wirepb::Packet p = MessagePacket();
  p.mutable_message()->set_seq(0);
  CHECK(Rejection(p) == "message: seq 0");
  p = MessagePacket();
  p.mutable_message()->set_origin(0);
  CHECK(Rejection(p) == "message: origin 0");
  p = MessagePacket();
  p.mutable_message()->set_payload(std::string(limits.max_payload + 1, 'x'));
  CHECK_THAT(Rejection(p), Catch::Contains("payload of"));
  p = RecoveryPacket();
  p.mutable_message()->set_payload("mine");
  CHECK(Rejection(p) == "message: recovery message with a payload of its own");
  p = RecoveryPacket();
  const wirepb::Message inner = p.message().recovered();
  *p.mutable_message()->mutable_recovered()->mutable_recovered() = inner;
  CHECK(Rejection(p) == "message: recovered nested twice");
  p = RecoveryPacket();
  p.mutable_message()->mutable_recovered()->set_origin(0);
  CHECK(Rejection(p) == "recovered message: origin 0");
  p = RecoveryPacket();
  p.mutable_message()->mutable_recovered()->set_payload(std::string(limits.max_payload + 1, 'x'));
  CHECK_THAT(Rejection(p), Catch::Contains("recovered message: payload of"));
}

TEST_CASE("token rejections", "[wire]") {
  WireLimits limits;
  wirepb::Packet p = TokenPacket();
  p.mutable_token()->set_aru(41);
  CHECK(Rejection(p) == "token: aru 41 above seq 40");
  p = TokenPacket();
  p.mutable_token()->add_rtr(0);
  CHECK(Rejection(p) == "token: rtr entry 0 outside [1, 40]");
  p = TokenPacket();
  p.mutable_token()->add_rtr(41);
  CHECK(Rejection(p) == "token: rtr entry 41 outside [1, 40]");
  limits.max_rtr = 1;
  CHECK(Rejection(TokenPacket(), limits) == "token: 2 rtr entries (max 1)");
}

TEST_CASE("rrp control rejections", "[wire][rrp]") {
  CHECK(PacketKindName(RrpPacket(wirepb::RrpControl::PROBE, 1, 1)) == "rrp");
  CHECK(Rejection(RrpPacket(wirepb::RrpControl::KIND_UNSPECIFIED, 1, 1)) == "rrp: unknown kind 0");
  wirepb::Packet p = RrpPacket(wirepb::RrpControl::PROBE, 1, 1);
  p.mutable_rrp()->set_kind(static_cast<wirepb::RrpControl::Kind>(9));
  CHECK(Rejection(p) == "rrp: unknown kind 9");
  CHECK(Rejection(RrpPacket(wirepb::RrpControl::PROBE, kMaxRings, 1)) == "rrp: ring 8 (max 7)");
  CHECK(Rejection(RrpPacket(wirepb::RrpControl::ACTIVATE, 1, 3)) == "rrp: activate with a round");
}

TEST_CASE("join rejections", "[wire]") {
  WireLimits limits;
  wirepb::Packet p = JoinPacket();
  p.mutable_join()->add_proc(0);
  CHECK(Rejection(p) == "join proc: node id 0");
  p = JoinPacket();
  p.mutable_join()->add_fail(4);
  CHECK(Rejection(p) == "join fail: duplicate node id");
  p = JoinPacket();
  p.mutable_join()->mutable_ring_id()->set_rep(0);
  CHECK(Rejection(p) == "join: ring rep is 0 with seq 8");
  p = JoinPacket();
  p.mutable_join()->clear_ring_id();  // a node that was never in a ring yet
  CHECK(EncodePacket(p).ok());
  limits.max_nodes = 2;
  CHECK(Rejection(JoinPacket(), limits) == "join proc: 3 nodes (max 2)");
}

TEST_CASE("commit token rejections", "[wire]") {
  WireLimits limits;
  wirepb::Packet p = CommitPacket();
  p.mutable_commit()->clear_members();
  p.mutable_commit()->clear_info();
  CHECK(Rejection(p) == "commit: no members");
  p = CommitPacket();
  p.mutable_commit()->set_members(0, 0);
  CHECK(Rejection(p) == "commit: member id 0");
  p = CommitPacket();
  p.mutable_commit()->set_members(1, 1);
  CHECK(Rejection(p) == "commit: members not strictly ascending");
  p = CommitPacket();
  p.mutable_commit()->set_members(1, 6);
  CHECK(Rejection(p) == "commit: members not strictly ascending");
  p = CommitPacket();
  p.mutable_commit()->add_info();
  CHECK(Rejection(p) == "commit: 4 info entries for 3 members");
  p = CommitPacket();
  p.mutable_commit()->mutable_info(1)->set_node_id(5);
  CHECK(Rejection(p) == "commit: info entry 1 is for node 5, not member 2");
  p = CommitPacket();
  p.mutable_commit()->mutable_info(2)->set_filled(true);  // filled, but node_id 0
  CHECK(Rejection(p) == "commit: info entry 2 is for node 0, not member 5");
  p = CommitPacket();
  p.mutable_commit()->mutable_info(0)->set_aru(34);
  CHECK_THAT(Rejection(p), Catch::Contains("above high_seq 33"));
  p = CommitPacket();
  p.mutable_commit()->mutable_info(0)->mutable_old_ring_id()->set_rep(0);
  CHECK(Rejection(p) == "commit info: ring rep is 0 with seq 8");
  p = CommitPacket();
  p.mutable_commit()->set_memb_index(10);
  CHECK(Rejection(p) == "commit: memb_index 10 beyond 3 rotations of 3 members");
  p.mutable_commit()->set_memb_index(9);
  CHECK(EncodePacket(p).ok());
  limits.max_nodes = 2;
  CHECK(Rejection(CommitPacket(), limits) == "commit: 3 members (max 2)");
}

TEST_CASE("the encoder refuses a body that cannot fit a datagram", "[wire]") {
  WireLimits limits;
  limits.max_datagram = 200;
  wirepb::Packet p = MessagePacket();
  p.mutable_message()->set_payload(std::string(100, 'x'));
  absl::StatusOr<std::string> encoded = EncodePacket(p, limits);
  REQUIRE_FALSE(encoded.ok());
  CHECK_THAT(std::string(encoded.status().message()), Catch::Contains("bytes encoded (max 72)"));
}

}  // namespace
}  // namespace ha::membership
