// The CPG IPC message protocol: round trips, and every bound refused without reading past the end.
#include "membershipd/cpg_ipc_protocol.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <string>

namespace ha::membership::cpg_ipc {
namespace {

void SetSize(std::string& message) {
  const int32_t size = static_cast<int32_t>(message.size());
  std::memcpy(message.data() + 8, &size, sizeof(size));
}

TEST_CASE("requests round-trip") {
  Request mcast;
  mcast.id = kMcast;
  mcast.request_seq = 42;
  mcast.name = "cib";
  mcast.safe = true;
  mcast.payload = std::string(1000, 'x');
  absl::StatusOr<Request> back = DecodeRequest(EncodeRequest(mcast));
  REQUIRE(back.ok());
  CHECK(back->id == kMcast);
  CHECK(back->request_seq == 42);
  CHECK(back->name == "cib");
  CHECK(back->safe);
  CHECK(back->payload == mcast.payload);

  for (int32_t id : {kInit, kJoin, kLeave, kMembership}) {
    Request r;
    r.id = id;
    r.request_seq = 7;
    r.name = "g";
    back = DecodeRequest(EncodeRequest(r));
    REQUIRE(back.ok());
    CHECK(back->name == "g");
  }
  Request local;
  local.id = kLocalGet;
  CHECK(DecodeRequest(EncodeRequest(local)).ok());
}

TEST_CASE("responses and events round-trip") {
  Response init;
  init.id = kInit;
  init.request_seq = 3;
  init.init = InitReply{2, 1234, 9, 1 << 20};
  absl::StatusOr<Response> r = DecodeResponse(EncodeResponse(init));
  REQUIRE(r.ok());
  CHECK(r->init.local_node == 2);
  CHECK(r->init.pid == 1234);
  CHECK(r->init.session == 9);

  absl::StatusOr<Response> err =
      DecodeResponse(EncodeErrorResponse(kJoin, 5, absl::NotFoundError("no such session")));
  REQUIRE(err.ok());
  CHECK(err->code == absl::StatusCode::kNotFound);
  CHECK(err->message == "no such session");
  CHECK(err->request_seq == 5);

  Event change;
  change.id = kEventConfChg;
  change.group = "g";
  change.ring_id = RingIdValue{1, 8};
  change.members = {{1, 10, 0}, {2, 20, 0}};
  change.joined = {{2, 20, 1}};
  absl::StatusOr<Event> e = DecodeEvent(EncodeEvent(change));
  REQUIRE(e.ok());
  CHECK(e->members == change.members);
  CHECK(e->joined == change.joined);
  CHECK(e->left.empty());
  CHECK(e->ring_id == change.ring_id);

  Event ring;
  ring.id = kEventRingChange;
  ring.members = {{1, 0, 0}, {3, 0, 0}};
  ring.left = {{2, 0, 0}};
  e = DecodeEvent(EncodeEvent(ring));
  REQUIRE(e.ok());
  CHECK(e->members == ring.members);
  CHECK(e->left == ring.left);

  Event deliver;
  deliver.id = kEventDeliver;
  deliver.node = 1;
  deliver.pid = 99;
  deliver.seq = 12;
  deliver.group = "g";
  deliver.payload = "hello";
  e = DecodeEvent(EncodeEvent(deliver));
  REQUIRE(e.ok());
  CHECK(e->payload == "hello");
  CHECK(e->seq == 12);
}

TEST_CASE("malformed requests are refused") {
  Request r;
  r.id = kMcast;
  r.request_seq = 1;
  r.name = "g";
  r.payload = "abc";
  const std::string good = EncodeRequest(r);

  SECTION("shorter than the header") {
    CHECK(absl::IsInvalidArgument(DecodeRequest(good.substr(0, 10)).status()));
  }
  SECTION("the header's size disagrees") {
    std::string bad = good;
    bad.push_back('x');
    CHECK(absl::IsInvalidArgument(DecodeRequest(bad).status()));
  }
  SECTION("truncated body") {
    std::string bad = good.substr(0, good.size() - 2);
    SetSize(bad);
    CHECK(absl::IsInvalidArgument(DecodeRequest(bad).status()));
  }
  SECTION("trailing bytes") {
    std::string bad = good + "zz";
    SetSize(bad);
    CHECK(absl::IsInvalidArgument(DecodeRequest(bad).status()));
  }
  SECTION("a length past the end") {
    std::string bad = good;
    const uint32_t huge = 0xfffffff0u;
    // The payload length sits after seq (8), safe (1), group length (4) and the group (1).
    std::memcpy(bad.data() + kRequestHeaderSize + 8 + 1 + 4 + 1, &huge, sizeof(huge));
    CHECK(absl::IsInvalidArgument(DecodeRequest(bad).status()));
  }
  SECTION("a group name over the limit") {
    Request big = r;
    big.name = std::string(kMaxGroupName + 1, 'g');
    CHECK(absl::IsInvalidArgument(DecodeRequest(EncodeRequest(big)).status()));
  }
  SECTION("an empty group name") {
    Request empty = r;
    empty.name = "";
    CHECK(absl::IsInvalidArgument(DecodeRequest(EncodeRequest(empty)).status()));
  }
  SECTION("an ordering flag other than 0 or 1") {
    std::string bad = good;
    bad[kRequestHeaderSize + 8] = 7;
    CHECK(absl::IsInvalidArgument(DecodeRequest(bad).status()));
  }
  SECTION("an unknown id") {
    std::string bad = good;
    const int32_t id = 77;
    std::memcpy(bad.data(), &id, sizeof(id));
    CHECK(absl::IsInvalidArgument(DecodeRequest(bad).status()));
    CHECK(PeekRequest(bad).id == 77);
    CHECK(PeekRequest(bad).request_seq == 1);
  }
}

TEST_CASE("random bytes never crash the decoders") {
  std::mt19937_64 rng(1);
  Request r;
  r.id = kMcast;
  r.name = "group";
  r.payload = std::string(64, 'p');
  const std::string seed_request = EncodeRequest(r);
  Event ev;
  ev.id = kEventConfChg;
  ev.group = "g";
  ev.members = {{1, 2, 0}};
  const std::string seed_event = EncodeEvent(ev);
  for (int i = 0; i < 20000; ++i) {
    std::string m = (i % 2 == 0) ? seed_request : seed_event;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      m[rng() % m.size()] = static_cast<char>(rng());
    }
    if (rng() % 3 == 0)
      m.resize(rng() % (m.size() + 1));
    if (rng() % 2 == 0 && m.size() >= kRequestHeaderSize)
      SetSize(m);
    (void)DecodeRequest(m);
    (void)DecodeResponse(m);
    (void)DecodeEvent(m);
    (void)PeekRequest(m);
  }
  SUCCEED();
}

TEST_CASE("service names differ per run folder") {
  CHECK(ServiceName("/tmp/a/run") != ServiceName("/tmp/b/run"));
  CHECK(ServiceName("/run/hacluster") == ServiceName("/run/hacluster"));
  CHECK(ServiceName("/run/hacluster").rfind("hacluster-cpg-", 0) == 0);
}

}  // namespace
}  // namespace ha::membership::cpg_ipc
