// CibCore (the Cib API's rules on the local copy), who a caller acts as, and the subscription
// queues, without gRPC.
#include "cibd/cib_core.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "cibd/cib_diff.h"
#include "cibd/cib_subscriptions.h"
#include "cibd/cib_test_util.h"

namespace ha::cib {
namespace {

namespace fs = std::filesystem;

class FakeUsers final : public UserDirectory {
 public:
  std::optional<std::string> UserName(uid_t uid) const override {
    auto it = names.find(uid);
    return it == names.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  std::vector<std::string> GroupsOf(const std::string& user) const override {
    auto it = groups.find(user);
    return it == groups.end() ? std::vector<std::string>{} : it->second;
  }
  std::map<uid_t, std::string> names{{1000, "alice"}, {1001, "bob"}, {189, "hacluster"}};
  std::map<std::string, std::vector<std::string>> groups{{"alice", {"alice", "operators"}}};
};

PeerIdentity Peer(uid_t uid) {
  PeerIdentity p;
  p.uid = uid;
  p.gid = uid;
  return p;
}

// ACLs on; alice may read resources only, bob may write resources.
constexpr const char* kAcls = R"(<acls>
  <acl_role id="read-resources">
    <acl_permission id="p1" kind="read" xpath="/cib/configuration/resources"/>
  </acl_role>
  <acl_role id="write-resources">
    <acl_permission id="p2" kind="write" xpath="/cib/configuration/resources"/>
  </acl_role>
  <acl_target id="alice"><role id="read-resources"/></acl_target>
  <acl_target id="bob"><role id="write-resources"/></acl_target>
</acls>)";

Requester As(const std::string& name) {
  Requester r;
  r.user.name = name;
  return r;
}

CibCore AclCore(Clock& clock) {
  CibCore core(testing::SmallCib(), nullptr, clock, "node1");
  std::vector<WriteOp> ops{
      CreateOp{{.scope = "acls"}, kAcls},
      ModifyOp{{.scope = "crm_config"},
               R"(<cluster_property_set id="cib-bootstrap-options">)"
               R"(<nvpair id="opt-acl" name="enable-acl" value="true"/></cluster_property_set>)",
               true}};
  auto done = core.Write(PrivilegedRequester(), ops, true, {});
  INFO(done.status().ToString());
  REQUIRE(done.ok());
  return core;
}

std::vector<WriteOp> One(WriteOp op) {
  return {std::move(op)};
}

TEST_CASE("who a caller acts as") {
  FakeUsers users;
  auto root = ResolveRequester(Peer(0), "", users);
  REQUIRE(root.ok());
  CHECK(root->bypass);
  CHECK(root->user.name == "root");
  auto root_as_alice = ResolveRequester(Peer(0), "alice", users);
  REQUIRE(root_as_alice.ok());
  CHECK_FALSE(root_as_alice->bypass);
  CHECK(root_as_alice->user.name == "alice");
  CHECK(root_as_alice->user.groups == std::vector<std::string>{"alice", "operators"});
  auto hacluster_as_bob = ResolveRequester(Peer(189), "bob", users);
  REQUIRE(hacluster_as_bob.ok());
  CHECK(hacluster_as_bob->user.name == "bob");
  auto hacluster = ResolveRequester(Peer(189), "", users);
  REQUIRE(hacluster.ok());
  CHECK(hacluster->bypass);
  auto alice = ResolveRequester(Peer(1000), "alice", users);
  REQUIRE(alice.ok());
  CHECK_FALSE(alice->bypass);
  auto escalate = ResolveRequester(Peer(1000), "root", users);
  CHECK(absl::IsPermissionDenied(escalate.status()));
  auto as_bob = ResolveRequester(Peer(1000), "bob", users);
  CHECK(absl::IsPermissionDenied(as_bob.status()));
  CHECK(absl::IsPermissionDenied(ResolveRequester(Peer(4242), "", users).status()));
}

TEST_CASE("writes follow the version rules and report the change to the listener") {
  FakeClock clock;
  CibCore core(EmptyCib(), nullptr, clock, "node1");
  CHECK(core.document().Root().attribute("validate-with").as_string() ==
        std::string("pacemaker-3.9"));
  std::vector<std::string> seen;
  core.SetChangeListener(
      [&](const CibDocument& before, const CibDocument& after, const ChangeInfo& info) {
        seen.push_back(info.operation + " " + ToString(before.Version()) + "->" +
                       ToString(after.Version()));
      });
  WriteOptions opts;
  opts.client_name = "test";
  auto created = core.Write(
      PrivilegedRequester(),
      One(CreateOp{{.scope = "resources"},
                   R"(<primitive id="d" class="ocf" provider="pacemaker" type="Dummy"/>)"}),
      false,
      opts);
  REQUIRE(created.ok());
  CHECK(created->changed);
  CHECK(created->version == CibVersion{0, 1, 0});
  CHECK(created->digest == core.document().Digest());
  // A status change raises num_updates.
  auto status = core.Write(PrivilegedRequester(),
                           One(CreateOp{{.scope = "status"}, R"(<node_state id="1" uname="n1"/>)"}),
                           false,
                           opts);
  REQUIRE(status.ok());
  CHECK(status->version == CibVersion{0, 1, 1});
  // Nothing changed: no new version, no notification.
  auto same = core.Write(
      PrivilegedRequester(), One(ModifyOp{{}, R"(<primitive id="d" type="Dummy"/>)"}), false, opts);
  REQUIRE(same.ok());
  CHECK_FALSE(same->changed);
  CHECK(same->version == CibVersion{0, 1, 1});
  // Expected version.
  WriteOptions stale = opts;
  stale.expected_version = CibVersion{0, 0, 0};
  CHECK(absl::IsAborted(core.Write(PrivilegedRequester(), One(BumpOp{}), false, stale).status()));
  auto bumped = core.Write(PrivilegedRequester(), One(BumpOp{}), false, opts);
  REQUIRE(bumped.ok());
  CHECK(bumped->version == CibVersion{0, 2, 0});
  CHECK(seen == std::vector<std::string>{
                    "create 0.0.0->0.1.0", "create 0.1.0->0.1.1", "bump 0.1.1->0.2.0"});
  const VersionInfo v = core.GetVersion();
  CHECK(v.version == CibVersion{0, 2, 0});
  CHECK(v.update_client == "test");
  CHECK(v.update_origin == "node1");
  CHECK(v.update_user == "root");
  CHECK(v.validate_with == "pacemaker-3.9");
  CHECK(v.last_written_unix_s > 0);
  // A bad operation changes nothing.
  auto bad = core.Write(
      PrivilegedRequester(), One(CreateOp{{.scope = "resources"}, "<primitive id="}), false, opts);
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(core.document().Version() == CibVersion{0, 2, 0});
}

TEST_CASE("without quorum configuration writes need force; status writes do not") {
  FakeClock clock;
  CibCore core(testing::SmallCib(), nullptr, clock, "node1");
  core.SetQuorum(false);
  auto refused = core.Write(PrivilegedRequester(), One(BumpOp{}), false, {});
  CHECK(absl::IsFailedPrecondition(refused.status()));
  auto status = core.Write(PrivilegedRequester(),
                           One(CreateOp{{.scope = "status"}, R"(<node_state id="2" uname="n2"/>)"}),
                           false,
                           {});
  CHECK(status.ok());
  WriteOptions force;
  force.force = true;
  CHECK(core.Write(PrivilegedRequester(), One(BumpOp{}), false, force).ok());
}

TEST_CASE("no-quorum-policy=ignore in crm_config lets a partition without quorum write") {
  FakeClock clock;
  CibCore core(testing::SmallCib(), nullptr, clock, "node1");
  CHECK_FALSE(IgnoresQuorum(core.document()));
  // Set while quorate; another policy value keeps the rule.
  const WriteOp stop = CreateOp{{.scope = "crm_config"},
                                R"(<cluster_property_set id="nq"><nvpair id="nq-p" )"
                                R"(name="no-quorum-policy" value="stop"/></cluster_property_set>)"};
  REQUIRE(core.Write(PrivilegedRequester(), One(stop), false, {}).ok());
  CHECK_FALSE(IgnoresQuorum(core.document()));
  core.SetQuorum(false);
  CHECK(absl::IsFailedPrecondition(
      core.Write(PrivilegedRequester(), One(BumpOp{}), false, {}).status()));
  core.SetQuorum(true);
  const WriteOp ignore =
      ModifyOp{{}, R"(<nvpair id="nq-p" name="no-quorum-policy" value="ignore"/>)"};
  REQUIRE(core.Write(PrivilegedRequester(), One(ignore), false, {}).ok());
  CHECK(IgnoresQuorum(core.document()));
  core.SetQuorum(false);
  CHECK(core.Write(PrivilegedRequester(), One(BumpOp{}), false, {}).ok());
}

TEST_CASE("ACLs filter queries and refuse writes") {
  FakeClock clock;
  CibCore core = AclCore(clock);
  auto all = core.Query(As("alice"), {}, {});
  REQUIRE(all.ok());
  CHECK(absl::StrContains(all->xml, "primitive id=\"ip\""));
  CHECK_FALSE(absl::StrContains(all->xml, "rsc_location"));
  CHECK(absl::IsPermissionDenied(core.Query(As("alice"), {.scope = "constraints"}, {}).status()));
  CHECK(absl::IsPermissionDenied(core.Query(As("mallory"), {}, {}).status()));
  // alice may not write; bob may write resources but not constraints, nor grant himself more.
  const WriteOp add =
      CreateOp{{.scope = "resources"},
               R"(<primitive id="x" class="ocf" provider="pacemaker" type="Dummy"/>)"};
  CHECK(absl::IsPermissionDenied(core.Write(As("alice"), One(add), false, {}).status()));
  CHECK(core.Write(As("bob"), One(add), false, {}).ok());
  CHECK(absl::IsPermissionDenied(
      core.Write(As("bob"), One(DeleteOp{{}, R"(<rsc_location id="loc-ip"/>)"}), false, {})
          .status()));
  CHECK(absl::IsPermissionDenied(
      core.Write(As("bob"),
                 One(CreateOp{
                     {.scope = "acls"},
                     R"(<acl_target id="mallory"><role id="write-resources"/></acl_target>)"}),
                 false,
                 {})
          .status()));
}

TEST_CASE("every change is saved before it is current, and a restart loads it") {
  FakeClock clock;
  const std::string dir =
      (fs::temp_directory_path() / ("ha-cib-core-test-" + std::to_string(getpid()))).string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    CibStore store(dir, clock);
    CibCore core(EmptyCib(), &store, clock, "node1");
    REQUIRE(core.Write(PrivilegedRequester(),
                       One(CreateOp{
                           {.scope = "resources"},
                           R"(<primitive id="d" class="ocf" provider="pacemaker" type="Dummy"/>)"}),
                       false,
                       {})
                .ok());
  }
  CibStore store(dir, clock);
  auto loaded = store.Load();
  REQUIRE(loaded.ok());
  CHECK(loaded->document.Version() == CibVersion{0, 1, 0});
  CHECK(loaded->document.Section("resources").child("primitive"));
  fs::remove_all(dir);
}

TEST_CASE("patchsets reach subscribers in order, filtered by scope and ACLs") {
  FakeClock clock;
  CibCore core = AclCore(clock);
  CibSubscriptions subs(100);
  core.SetChangeListener([&](const CibDocument& b, const CibDocument& a, const ChangeInfo& i) {
    subs.Publish(b, a, i);
  });
  v1::SubscribeRequest all_req;
  all_req.set_initial_cib(true);
  auto all = subs.Open(core.document(), PrivilegedRequester(), all_req);
  REQUIRE(all.ok());
  v1::SubscribeRequest status_req;
  status_req.add_scopes("status");
  auto status_only = subs.Open(core.document(), PrivilegedRequester(), status_req);
  REQUIRE(status_only.ok());
  auto alice = subs.Open(core.document(), As("alice"), v1::SubscribeRequest());
  REQUIRE(alice.ok());

  REQUIRE(core.Write(PrivilegedRequester(),
                     One(ModifyOp{{}, R"(<nvpair id="ip-params-ip" value="10.0.0.2"/>)"}),
                     false,
                     {})
              .ok());
  REQUIRE(core.Write(PrivilegedRequester(),
                     One(CreateOp{{.scope = "status"}, R"(<node_state id="2" uname="node2"/>)"}),
                     false,
                     {})
              .ok());
  REQUIRE(core.Write(PrivilegedRequester(),
                     One(ModifyOp{{}, R"(<rsc_location id="loc-ip" score="200"/>)"}),
                     false,
                     {})
              .ok());

  absl::MutexLock l1(&(*all)->mu);
  REQUIRE((*all)->queue.size() == 4);
  CHECK((*all)->queue[0].resync().reason() == v1::RESYNC_INITIAL);
  // A subscriber that keeps a copy can follow the patchsets to the current document.
  auto copy = CibDocument::Parse((*all)->queue[0].resync().cib_xml());
  REQUIRE(copy.ok());
  CibDocument doc = std::move(copy).value();
  for (size_t i = 1; i < 4; ++i) {
    const v1::Patchset& p = (*all)->queue[i].patchset();
    auto v = [](const v1::CibVersion& x) {
      return CibVersion{x.admin_epoch(), x.epoch(), x.num_updates()};
    };
    CHECK(v(p.source_version()) < v(p.version()));
    auto next = ApplyPatchset(doc, p.diff_xml());
    REQUIRE(next.ok());
    doc = std::move(next).value();
  }
  CHECK(doc.Digest() == core.document().Digest());
  absl::MutexLock l2(&(*status_only)->mu);
  REQUIRE((*status_only)->queue.size() == 1);
  CHECK((*status_only)->queue[0].patchset().operation() == "create");
  // alice reads resources only: she sees the first change, not the constraint's; the status
  // change touches nothing she may read.
  absl::MutexLock l3(&(*alice)->mu);
  REQUIRE((*alice)->queue.size() >= 1);
  CHECK(absl::StrContains((*alice)->queue[0].patchset().diff_xml(), "10.0.0.2"));
  for (const auto& c : (*alice)->queue) {
    CHECK_FALSE(absl::StrContains(c.patchset().diff_xml(), "loc-ip"));
  }
}

TEST_CASE("a subscriber that falls behind gets a re-sync marker, never a blocked writer") {
  FakeClock clock;
  CibCore core(EmptyCib(), nullptr, clock, "node1");
  CibSubscriptions subs(3);
  core.SetChangeListener([&](const CibDocument& b, const CibDocument& a, const ChangeInfo& i) {
    subs.Publish(b, a, i);
  });
  auto slow = subs.Open(core.document(), PrivilegedRequester(), v1::SubscribeRequest());
  REQUIRE(slow.ok());
  for (int i = 0; i < 5; ++i) {
    REQUIRE(core.Write(PrivilegedRequester(), One(BumpOp{}), false, {}).ok());
  }
  {
    absl::MutexLock lock(&(*slow)->mu);
    REQUIRE((*slow)->queue.size() == 2);
    CHECK((*slow)->queue[0].resync().reason() == v1::RESYNC_OVERFLOW);
    CHECK((*slow)->queue[0].resync().cib_xml().empty());
    CHECK((*slow)->queue[0].resync().version().epoch() == 4);
    CHECK((*slow)->queue[1].patchset().version().epoch() == 5);
  }
  REQUIRE(core.Write(PrivilegedRequester(),
                     One(CreateOp{{.scope = "status"}, R"(<node_state id="2" uname="node2"/>)"}),
                     false,
                     {})
              .ok());
  {
    absl::MutexLock lock(&(*slow)->mu);
    (*slow)->queue.clear();
  }
  // A whole-CIB replace is a re-sync too.
  WriteOptions force;
  force.force = true;
  REQUIRE(core.Write(PrivilegedRequester(), One(EraseOp{true}), false, force).ok());
  absl::MutexLock lock(&(*slow)->mu);
  REQUIRE((*slow)->queue.size() == 1);
  CHECK((*slow)->queue[0].resync().reason() == v1::RESYNC_REPLACED);
}

TEST_CASE("touched sections of a patchset") {
  CibDocument a = testing::SmallCib();
  auto b = ApplyWrite(a, ModifyOp{{}, R"(<rsc_location id="loc-ip" score="1"/>)"});
  REQUIRE(b.ok());
  auto sections = TouchedSections(Diff(a, b->document));
  CHECK(sections.contains("constraints"));
  CHECK(sections.contains("configuration"));
  CHECK_FALSE(sections.contains("status"));
}

}  // namespace
}  // namespace ha::cib
