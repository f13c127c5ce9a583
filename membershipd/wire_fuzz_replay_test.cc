// Runs the wire fuzz entry point over the seed corpus, so that it is compiled and exercised in
// every build, not only in the HA_FUZZ one. The hidden case "[.generate]" writes the corpus afresh:
// one valid packet of every kind as a bare body, in a frame without crypto, and in an aes256/sha256
// frame sealed with the fuzz key (IVs are random, so rewritten frames differ byte-wise).
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "membershipd/frame_crypto.h"
#include "membershipd/wire_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace ha::membership {
std::string WireFuzzKeyForTest();  // wire_fuzz.cc

namespace {

constexpr CryptoConfig kSealed{CryptoCipher::kAes256, CryptoHash::kSha256};

std::map<std::string, wirepb::Packet> SeedPackets() {
  std::map<std::string, wirepb::Packet> out;
  auto ring = [](wirepb::RingId* r, uint32_t rep, uint64_t seq) {
    r->set_rep(rep);
    r->set_seq(seq);
  };
  wirepb::Packet p;
  p.set_sender(1);
  wirepb::Token* t = p.mutable_token();
  ring(t->mutable_ring_id(), 1, 4);
  t->set_token_seq(12);
  t->set_seq(20);
  t->set_aru(18);
  t->set_aru_id(2);
  t->set_fcc(3);
  t->set_backlog(1);
  t->add_rtr(19);
  t->add_rtr(20);
  out["token"] = p;

  p.Clear();
  p.set_sender(2);
  wirepb::Message* m = p.mutable_message();
  ring(m->mutable_ring_id(), 1, 4);
  m->set_seq(21);
  m->set_origin(2);
  m->set_safe(true);
  m->set_payload("cpg:crmd hello");
  out["message"] = p;

  p.Clear();
  p.set_sender(1);
  m = p.mutable_message();
  ring(m->mutable_ring_id(), 1, 8);
  m->set_seq(1);
  m->set_origin(1);
  wirepb::Message* old = m->mutable_recovered();
  ring(old->mutable_ring_id(), 3, 4);
  old->set_seq(19);
  old->set_origin(3);
  old->set_payload("old ring");
  out["recovery"] = p;

  p.Clear();
  p.set_sender(3);
  wirepb::Join* j = p.mutable_join();
  j->add_proc(1);
  j->add_proc(2);
  j->add_proc(3);
  j->add_fail(4);
  j->set_ring_seq(8);
  ring(j->mutable_ring_id(), 1, 4);
  out["join"] = p;

  p.Clear();
  p.set_sender(1);
  wirepb::CommitToken* c = p.mutable_commit();
  ring(c->mutable_ring_id(), 1, 8);
  for (uint32_t id : {1, 2, 3}) {
    c->add_members(id);
    wirepb::CommitMember* info = c->add_info();
    if (id == 1) {
      info->set_node_id(1);
      ring(info->mutable_old_ring_id(), 1, 4);
      info->set_aru(18);
      info->set_high_delivered(18);
      info->set_high_seq(20);
      info->set_filled(true);
    }
  }
  c->set_memb_index(1);
  out["commit"] = p;

  p.Clear();
  p.set_sender(1);
  ring(p.mutable_merge_detect()->mutable_ring_id(), 1, 4);
  out["merge_detect"] = p;

  p.Clear();
  p.set_sender(2);
  ring(p.mutable_hold_cancel()->mutable_ring_id(), 1, 4);
  out["hold_cancel"] = p;

  p.Clear();
  p.set_sender(3);
  ring(p.mutable_leave()->mutable_ring_id(), 1, 4);
  out["leave"] = p;

  p.Clear();
  p.set_sender(2);
  p.mutable_rrp()->set_kind(wirepb::RrpControl::PROBE);
  p.mutable_rrp()->set_ring(1);
  p.mutable_rrp()->set_round(3);
  out["rrp_probe"] = p;

  p.Clear();
  p.set_sender(1);
  p.mutable_rrp()->set_kind(wirepb::RrpControl::ACTIVATE);
  p.mutable_rrp()->set_ring(1);
  out["rrp_activate"] = p;
  return out;
}

std::vector<std::string> Corpus() {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(HA_WIRE_FUZZ_CORPUS_DIR)) {
    if (!entry.is_regular_file()) {
      continue;
    }
    std::ifstream in(entry.path(), std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

TEST_CASE("every seed of the corpus runs through the fuzz entry", "[wire][fuzz]") {
  const std::vector<std::string> corpus = Corpus();
  CHECK(corpus.size() >= 8);
  for (const std::string& data : corpus) {
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size()) == 0);
  }
}

TEST_CASE("the corpus reaches every path of the entry", "[wire][fuzz]") {
  const std::string key = WireFuzzKeyForTest();
  int bodies = 0;
  int plain_frames = 0;
  int sealed_frames = 0;
  for (const std::string& data : Corpus()) {
    FrameOpener plain = *FrameOpener::Create({.nodes = {1, 2, 3, 4, 5}});
    FrameOpener sealed =
        *FrameOpener::Create({.crypto = kSealed, .key = key, .nodes = {1, 2, 3, 4, 5}});
    bodies += DecodePacket(data).ok();
    OpenResult r = plain.Open(data);
    plain_frames += r.ok() && DecodePacket(r.frame->body).ok();
    r = sealed.Open(data);
    sealed_frames += r.ok() && DecodePacket(r.frame->body).ok();
  }
  CHECK(bodies >= 4);
  CHECK(plain_frames >= 4);
  CHECK(sealed_frames >= 4);
}

TEST_CASE("junk runs through the fuzz entry", "[wire][fuzz]") {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data.push_back(static_cast<char>(i * 37 + 11));
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size()) == 0);
  }
}

TEST_CASE("write the seed corpus", "[.generate]") {
  const std::string key = WireFuzzKeyForTest();
  const std::filesystem::path dir = HA_WIRE_FUZZ_CORPUS_DIR;
  std::filesystem::create_directories(dir);
  for (const auto& [name, packet] : SeedPackets()) {
    absl::StatusOr<std::string> body = EncodePacket(packet);
    REQUIRE(body.ok());
    FrameSealer plain =
        *FrameSealer::Create({.node_id = packet.sender(), .boot_id = 1700000000000000});
    FrameSealer sealed = *FrameSealer::Create(
        {.node_id = packet.sender(), .boot_id = 1700000000000000, .crypto = kSealed, .key = key});
    const std::map<std::string, std::string> files = {
        {"body_" + name, *body},
        {"frame_none_" + name, *plain.Seal(*body)},
        {"frame_aes256_sha256_" + name, *sealed.Seal(*body)},
    };
    for (const auto& [file, bytes] : files) {
      std::ofstream(dir / file, std::ios::binary | std::ios::trunc) << bytes;
    }
  }
}

}  // namespace
}  // namespace ha::membership
