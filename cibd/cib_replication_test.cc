// The replication driver and the link's pure parts, without membershipd: payload framing, view
// ids, and CibReplication on a loopback "group" of one (its multicasts delivered back to it).
#include "cibd/cib_replication.h"

#include <catch2/catch.hpp>
#include <deque>
#include <optional>
#include <string>

#include "cibd/cib_group_link.h"
#include "cibd/cib_test_util.h"

namespace ha::cib {
namespace {

namespace mv1 = membership::v1;

TEST_CASE("payloads are framed, big ones compressed") {
  for (size_t size : {size_t{0}, size_t{10}, kCompressAbove + 1, size_t{3} << 20}) {
    std::string payload(size, 'a');
    for (size_t i = 0; i < size; i += 7) {
      payload[i] = static_cast<char>('a' + i % 26);
    }
    const std::string framed = FramePayload(payload);
    if (size > kCompressAbove) {
      CHECK(framed[0] == 'Z');
      CHECK(framed.size() < payload.size());
    }
    absl::StatusOr<std::string> back = UnframePayload(framed);
    REQUIRE(back.ok());
    CHECK(*back == payload);
  }
  CHECK_FALSE(UnframePayload("").ok());
  CHECK_FALSE(UnframePayload("Xabc").ok());
  CHECK_FALSE(UnframePayload(std::string("Z\x7f\xff\xff\xff"
                                         "abc",
                                         8))
                  .ok());
  CHECK_FALSE(UnframePayload(std::string("Z\0\0\0\x10"
                                         "abc",
                                         8))
                  .ok());
}

TEST_CASE("a group change's view id depends on its ring id and members only") {
  mv1::GroupChange a;
  a.set_group("cib");
  a.mutable_ring_id()->set_rep_node_id(1);
  a.mutable_ring_id()->set_seq(8);
  auto* m = a.add_members();
  m->set_node_id(1);
  m->set_pid(100);
  *a.add_joined() = *m;
  a.mutable_joined(0)->set_reason(mv1::REASON_JOIN);
  mv1::GroupChange b = a;
  CHECK(ViewIdOf(a) == ViewIdOf(b));
  // The two sides of a merge see different joins: the same view.
  b.mutable_joined(0)->set_reason(mv1::REASON_NODEUP);
  b.add_joined()->set_node_id(2);
  CHECK(ViewIdOf(a) == ViewIdOf(b));
  b.add_members()->set_node_id(2);
  CHECK(ViewIdOf(a) != ViewIdOf(b));
  b = a;
  b.mutable_ring_id()->set_seq(9);
  CHECK(ViewIdOf(a) != ViewIdOf(b));
}

struct Loopback {
  FakeClock clock;
  CibCore core{testing::SmallCib(), nullptr, clock, "node1"};
  std::deque<std::string> sent;
  std::string status;
  CibReplication driver{
      core,
      [this](uint64_t, std::string payload) { sent.push_back(std::move(payload)); },
      [this](const std::string& s) { status = s; }};

  void Deliver(const MemberId& self) {
    while (!sent.empty()) {
      std::string p = std::move(sent.front());
      sent.pop_front();
      driver.OnMessage(1, self, p);
    }
  }
  std::optional<absl::StatusOr<WriteAnswer>> Write(const std::string& id, bool force = false) {
    std::optional<absl::StatusOr<WriteAnswer>> answer;
    WriteOptions options;
    options.force = force;
    driver.Submit(PrivilegedRequester(),
                  {CreateOp{{.scope = "resources"},
                            "<primitive id=\"" + id +
                                "\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"/>"}},
                  false,
                  options,
                  [&answer](absl::StatusOr<WriteAnswer> a) { answer = std::move(a); });
    return answer;
  }
};

TEST_CASE("writes wait for the group, need quorum, and fail when the session ends") {
  Loopback lb;
  const MemberId self{1, 42};
  auto early = lb.Write("early");
  REQUIRE(early.has_value());
  CHECK(absl::IsUnavailable(early->status()));
  CHECK(lb.status.find("not joined") != std::string::npos);

  lb.driver.OnJoined(1, self);
  lb.driver.OnChange(1, 77, {self});
  lb.Deliver(self);  // its own Sync: synced
  CHECK(lb.status.find("synced") != std::string::npos);

  auto no_quorum = lb.Write("a");
  lb.Deliver(self);
  REQUIRE(no_quorum.has_value());
  CHECK(absl::IsFailedPrecondition(no_quorum->status()));

  lb.driver.OnQuorum(true);
  std::optional<absl::StatusOr<WriteAnswer>> answer;
  lb.driver.Submit(PrivilegedRequester(),
                   {CreateOp{{.scope = "resources"},
                             "<primitive id=\"b\" class=\"ocf\" provider=\"pacemaker\" "
                             "type=\"Dummy\"/>"}},
                   false,
                   WriteOptions{},
                   [&answer](absl::StatusOr<WriteAnswer> a) { answer = std::move(a); });
  CHECK_FALSE(answer.has_value());  // waits for its own patch
  lb.Deliver(self);
  REQUIRE(answer.has_value());
  REQUIRE(answer->ok());
  CHECK((*answer)->changed);

  // A write in flight when the session ends: UNAVAILABLE, and later ones too.
  answer.reset();
  lb.driver.Submit(PrivilegedRequester(),
                   {CreateOp{{.scope = "resources"},
                             "<primitive id=\"c\" class=\"ocf\" provider=\"pacemaker\" "
                             "type=\"Dummy\"/>"}},
                   false,
                   WriteOptions{},
                   [&answer](absl::StatusOr<WriteAnswer> a) { answer = std::move(a); });
  lb.driver.OnLost(2, "another generation");  // not this session: ignored
  CHECK_FALSE(answer.has_value());
  lb.driver.OnLost(1, "membershipd stopped");
  REQUIRE(answer.has_value());
  CHECK(absl::IsUnavailable(answer->status()));
  CHECK(absl::IsUnavailable(lb.Write("d")->status()));
  lb.sent.clear();
  lb.driver.OnMessage(1, self, "stale");  // of the ended session: ignored
}

}  // namespace
}  // namespace ha::cib
