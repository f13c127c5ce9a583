#include "cibd/cib_acl.h"

#include <catch2/catch.hpp>
#include <string>

#include "cibd/cib_diff.h"
#include "cibd/cib_ops.h"
#include "cibd/cib_test_util.h"

namespace ha::cib {
namespace {

// The small CIB with ACLs on, and roles for a matrix of users.
constexpr const char* kAcls = R"(<acls>
  <acl_role id="read-resources">
    <acl_permission id="p1" kind="read" xpath="/cib/configuration/resources"/>
    <acl_permission id="p1b" kind="deny" xpath="//nvpair[@name='ip']"/>
  </acl_role>
  <acl_role id="write-resources">
    <acl_permission id="p2" kind="write" xpath="/cib/configuration/resources"/>
    <acl_permission id="p2b" kind="deny" reference="ip-params"/>
  </acl_role>
  <acl_role id="read-all">
    <acl_permission id="p3" kind="read" xpath="/cib"/>
  </acl_role>
  <acl_role id="same-element">
    <acl_permission id="p4" kind="write" reference="ip"/>
    <acl_permission id="p5" kind="deny" reference="ip"/>
    <acl_permission id="p6" kind="read" object-type="primitive"/>
    <acl_permission id="p7" kind="write" object-type="primitive"/>
  </acl_role>
  <acl_role id="dummies">
    <acl_permission id="p8" kind="write" xpath="//primitive[@type='Dummy']"/>
    <acl_permission id="p9" kind="read" object-type="primitive" attribute="provider"/>
  </acl_role>
  <acl_role id="status">
    <acl_permission id="p10" kind="write" xpath="/cib/status"/>
  </acl_role>
  <acl_target id="reader"><role id="read-resources"/></acl_target>
  <acl_target id="u-writer" name="writer"><role id="write-resources"/></acl_target>
  <acl_target id="auditor"><role id="read-all"/></acl_target>
  <acl_target id="both"><role id="same-element"/></acl_target>
  <acl_target id="dummy-admin"><role id="dummies"/></acl_target>
  <acl_group id="operators"><role id="status"/></acl_group>
</acls>)";

CibDocument WithAcls(bool enabled) {
  CibDocument doc = testing::SmallCib();
  auto r = ApplyTransaction(
      doc,
      std::vector<WriteOp>{
          CreateOp{{.scope = "acls"}, kAcls},
          CreateOp{{.scope = "resources"},
                   R"(<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"/>)"},
          ModifyOp{{},
                   std::string(R"(<nvpair id="opt-acl" name="enable-acl" value=")") +
                       (enabled ? "true" : "false") + "\"/>",
                   false},
      });
  if (!r.ok()) {
    // The nvpair is new: create it inside the property set.
    r = ApplyTransaction(
        doc,
        std::vector<WriteOp>{
            CreateOp{{.scope = "acls"}, kAcls},
            CreateOp{{.scope = "resources"},
                     R"(<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"/>)"},
            CreateOp{{.xpath = "//cluster_property_set"},
                     std::string(R"(<nvpair id="opt-acl" name="enable-acl" value=")") +
                         (enabled ? "true" : "false") + "\"/>"},
        });
  }
  REQUIRE(r.ok());
  return std::move(r->document);
}

AclPolicy PolicyOf(const CibDocument& doc,
                   const std::string& user,
                   std::vector<std::string> groups = {}) {
  return AclPolicy::For(doc, AclUser{user, std::move(groups)});
}

bool CanRead(const CibDocument& doc, const std::string& user, const std::string& xpath) {
  auto filtered = PolicyOf(doc, user).FilterForRead(doc);
  return filtered.ok() && Query(*filtered, Target{.xpath = xpath}).ok();
}

// Applies `op` as `user`: the operation, then the ACL check of its result.
absl::Status WriteAs(const CibDocument& doc,
                     const std::string& user,
                     const WriteOp& op,
                     std::vector<std::string> groups = {}) {
  auto r = ApplyWrite(doc, op);
  if (!r.ok()) {
    return r.status();
  }
  return PolicyOf(doc, user, std::move(groups)).CheckWrite(doc, r->document);
}

TEST_CASE("ACLs off, and privileged users, give full access") {
  const CibDocument off = WithAcls(false);
  CHECK_FALSE(AclsEnabled(off));
  CHECK(PolicyOf(off, "stranger").Unrestricted());
  CHECK(WriteAs(off, "stranger", BumpOp{}).ok());
  const CibDocument on = WithAcls(true);
  CHECK(AclsEnabled(on));
  for (const char* user : {"root", "hacluster"}) {
    CHECK(PolicyOf(on, user).Unrestricted());
    CHECK(CanRead(on, user, "//acls"));
    CHECK(WriteAs(on, user, DeleteOp{{.xpath = "//acl_target[@id='reader']"}, ""}).ok());
  }
}

TEST_CASE("unknown users get nothing") {
  const CibDocument doc = WithAcls(true);
  const AclPolicy p = PolicyOf(doc, "stranger");
  CHECK_FALSE(p.Unrestricted());
  CHECK(p.FilterForRead(doc).status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(WriteAs(doc, "stranger", ModifyOp{{}, R"(<node id="1" uname="x"/>)"}).code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(WriteAs(doc, "stranger", CreateOp{{.scope = "status"}, R"(<node_state id="9"/>)"}).code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(WriteAs(doc,
                "stranger",
                CreateOp{{.scope = "status"}, R"(<node_state id="9"><lrm id="9"/></node_state>)"})
            .code() == absl::StatusCode::kPermissionDenied);
}

TEST_CASE("read permission: the section and nothing else, deny inside it") {
  const CibDocument doc = WithAcls(true);
  auto filtered = PolicyOf(doc, "reader").FilterForRead(doc);
  REQUIRE(filtered.ok());
  CHECK(CanRead(doc, "reader", "//primitive[@id='apache']"));
  CHECK_FALSE(CanRead(doc, "reader", "//constraints/*"));
  CHECK_FALSE(CanRead(doc, "reader", "//status/*"));
  CHECK_FALSE(CanRead(doc, "reader", "//acls/*"));
  // The denied nvpair is gone, its readable neighbours stay.
  CHECK_FALSE(CanRead(doc, "reader", "//nvpair[@id='ip-params-ip']"));
  CHECK(CanRead(doc, "reader", "//nvpair[@id='ip-meta-managed']"));
  // Scaffolding: <configuration> is there without attributes; <cib> keeps its version.
  CHECK(filtered->Version() == doc.Version());
  CHECK_FALSE(filtered->Root().attribute("update-client"));
  // Read is not write.
  CHECK(
      WriteAs(doc, "reader", ModifyOp{{}, R"(<primitive id="apache" description="x"/>)"}).code() ==
      absl::StatusCode::kPermissionDenied);
}

TEST_CASE("a query's XPath cannot reach or probe a denied element") {
  const CibDocument doc = WithAcls(true);
  auto filtered = PolicyOf(doc, "reader").FilterForRead(doc);
  REQUIRE(filtered.ok());
  CHECK(Query(*filtered, Target{.xpath = "//nvpair[@name='ip']"}).status().code() ==
        absl::StatusCode::kNotFound);
  // A predicate on the denied value selects nothing, so it leaks nothing.
  CHECK(Query(*filtered, Target{.xpath = "//primitive[.//nvpair/@value='10.0.0.1']"})
            .status()
            .code() == absl::StatusCode::kNotFound);
  CHECK(Query(*filtered, Target{.xpath = "//rsc_location[@id='loc-ip']"}).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(Query(*filtered, Target{.xpath = "//acl_role"}).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("write permission: resources yes, elsewhere no, escalation through acls refused") {
  const CibDocument doc = WithAcls(true);
  const std::string w = "writer";  // acl_target id u-writer, name writer
  CHECK(WriteAs(doc, w, ModifyOp{{}, R"(<primitive id="apache" description="web"/>)"}).ok());
  CHECK(
      WriteAs(doc,
              w,
              CreateOp{{.scope = "resources"}, R"(<primitive id="d2" class="ocf" type="Dummy"/>)"})
          .ok());
  CHECK(WriteAs(doc, w, DeleteOp{{}, R"(<primitive id="d1"/>)"}).ok());
  // The denied set inside a writable resource.
  CHECK(WriteAs(doc, w, ModifyOp{{}, R"(<nvpair id="ip-params-ip" value="10.9.9.9"/>)"}).code() ==
        absl::StatusCode::kPermissionDenied);
  // Deleting the resource would delete the denied set too.
  CHECK(
      WriteAs(doc,
              w,
              ReplaceOp{{.scope = "resources"},
                        R"(<primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"/>)"})
          .code() == absl::StatusCode::kPermissionDenied);
  // Constraints and status are not writable.
  CHECK(WriteAs(doc, w, DeleteOp{{}, R"(<rsc_colocation id="col"/>)"}).code() ==
        absl::StatusCode::kPermissionDenied);
  // Escalation: give oneself a role, widen one's role, or add a new target.
  CHECK(WriteAs(
            doc, w, CreateOp{{.xpath = "//acl_target[@id='u-writer']"}, R"(<role id="read-all"/>)"})
            .code() == absl::StatusCode::kPermissionDenied);
  CHECK(WriteAs(doc, w, ModifyOp{{}, R"(<acl_permission id="p2" xpath="/cib"/>)"}).code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(WriteAs(doc,
                w,
                CreateOp{{.scope = "acls"},
                         R"(<acl_target id="writer2"><role id="read-all"/></acl_target>)"})
            .code() == absl::StatusCode::kPermissionDenied);
  // Turning ACLs off is a crm_config write.
  CHECK(WriteAs(doc, w, ModifyOp{{}, R"(<nvpair id="opt-acl" value="false"/>)"}).code() ==
        absl::StatusCode::kPermissionDenied);
  // Raising admin_epoch is a write to <cib>.
  CHECK(WriteAs(doc, w, ModifyOp{{}, R"(<cib admin_epoch="9"/>)"}).code() ==
        absl::StatusCode::kPermissionDenied);
  // The error names the path.
  const absl::Status s = WriteAs(doc, w, DeleteOp{{}, R"(<rsc_colocation id="col"/>)"});
  CHECK(std::string(s.message()).find("/cib/configuration/constraints/rsc_colocation[@id='col']") !=
        std::string::npos);
}

TEST_CASE("precedence: on the same element deny beats write beats read; nearer beats wider") {
  const CibDocument doc = WithAcls(true);
  // "both": write+deny on ip (deny wins), read+write on every primitive (write wins).
  CHECK_FALSE(CanRead(doc, "both", "//primitive[@id='ip']"));
  CHECK(CanRead(doc, "both", "//primitive[@id='apache']"));
  CHECK(WriteAs(doc, "both", ModifyOp{{}, R"(<primitive id="apache" description="x"/>)"}).ok());
  CHECK(WriteAs(doc, "both", ModifyOp{{}, R"(<primitive id="ip" description="x"/>)"}).code() ==
        absl::StatusCode::kPermissionDenied);
  // "writer": write on resources, deny nearer on ip-params.
  CHECK_FALSE(CanRead(doc, "writer", "//instance_attributes[@id='ip-params']"));
  CHECK(CanRead(doc, "writer", "//meta_attributes[@id='ip-meta']"));
  // "reader": deny on the nvpair, read wider on resources: the nvpair is hidden.
  CHECK_FALSE(CanRead(doc, "reader", "//nvpair[@name='ip']"));
}

TEST_CASE("an XPath permission cannot be escaped by changing what it matches") {
  const CibDocument doc = WithAcls(true);
  // dummy-admin may write primitives of type Dummy only.
  CHECK(WriteAs(doc, "dummy-admin", ModifyOp{{}, R"(<primitive id="d1" description="x"/>)"}).ok());
  // Turning IPaddr2 into a Dummy: not writable before the change.
  CHECK(WriteAs(doc, "dummy-admin", ModifyOp{{}, R"(<primitive id="ip" type="Dummy"/>)"}).code() ==
        absl::StatusCode::kPermissionDenied);
  // Turning the Dummy into something else: not writable after the change.
  CHECK(
      WriteAs(doc, "dummy-admin", ModifyOp{{}, R"(<primitive id="d1" type="IPaddr2"/>)"}).code() ==
      absl::StatusCode::kPermissionDenied);
  // object-type with attribute: primitives that have a provider are readable.
  CHECK(CanRead(doc, "dummy-admin", "//primitive[@id='ip']"));
  CHECK_FALSE(CanRead(doc, "dummy-admin", "//rsc_location"));
  // The group encloses a readable primitive: it is scaffolding, its id only.
  CHECK(CanRead(doc, "dummy-admin", "//group[@id='web']"));
}

TEST_CASE("scaffolding: an id-only element enclosing writable content may be created") {
  CibDocument doc = WithAcls(true);
  // A role that may write inside a tag set, but not the <tags> section itself.
  auto r = ApplyWrite(
      doc,
      CreateOp{
          {.scope = "acls"},
          R"(<acl_role id="tagger"><acl_permission id="pt" kind="write" xpath="//tag"/></acl_role>)"});
  REQUIRE(r.ok());
  r = ApplyWrite(
      r->document,
      CreateOp{{.scope = "acls"}, R"(<acl_target id="tim"><role id="tagger"/></acl_target>)"});
  REQUIRE(r.ok());
  const CibDocument& with_tagger = r->document;
  CHECK(WriteAs(with_tagger,
                "tim",
                CreateOp{{.scope = "tags"}, R"(<tag id="t1"><obj_ref id="ip"/></tag>)"})
            .ok());
  CHECK(WriteAs(with_tagger,
                "tim",
                CreateOp{{.scope = "tags"}, R"(<tag id="t1" x="1"><obj_ref id="ip"/></tag>)"})
            .ok());
}

TEST_CASE("acl_group grants through the user's groups") {
  const CibDocument doc = WithAcls(true);
  const WriteOp op = ModifyOp{{.scope = "status"}, R"(<node_state id="1" crmd="offline"/>)"};
  CHECK(WriteAs(doc, "olivia", op, {"operators"}).ok());
  CHECK(WriteAs(doc, "olivia", op, {"users"}).code() == absl::StatusCode::kPermissionDenied);
}

TEST_CASE("a subscriber's patchsets are filtered by its ACLs") {
  const CibDocument doc = WithAcls(true);
  const AclPolicy reader = PolicyOf(doc, "reader");
  auto visible = reader.FilterForRead(doc);
  REQUIRE(visible.ok());

  // A change in a denied part shows only the version.
  auto hidden = ApplyWrite(doc, ModifyOp{{}, R"(<nvpair id="ip-params-ip" value="10.0.0.7"/>)"});
  REQUIRE(hidden.ok());
  auto patch = reader.FilterPatchset(doc, hidden->document);
  REQUIRE(patch.ok());
  CHECK(patch->find("10.0.0.7") == std::string::npos);
  CHECK(patch->find("ip-params-ip") == std::string::npos);

  // A change in a readable part is sent, and keeps the subscriber's copy in step.
  auto shown = ApplyWrite(doc, ModifyOp{{}, R"(<primitive id="apache" description="web"/>)"});
  REQUIRE(shown.ok());
  auto patch2 = reader.FilterPatchset(doc, shown->document);
  REQUIRE(patch2.ok());
  CHECK(patch2->find("description") != std::string::npos);
  auto applied = ApplyPatchset(*visible, *patch2);
  REQUIRE(applied.ok());
  auto expected = reader.FilterForRead(shown->document);
  REQUIRE(expected.ok());
  CHECK(applied->SameContent(*expected));

  // A status change is invisible to the reader.
  auto status =
      ApplyWrite(doc, ModifyOp{{.scope = "status"}, R"(<node_state id="1" crmd="offline"/>)"});
  REQUIRE(status.ok());
  auto patch3 = reader.FilterPatchset(doc, status->document);
  REQUIRE(patch3.ok());
  CHECK(patch3->find("node_state") == std::string::npos);
  // Unknown users get no patchsets at all.
  CHECK(PolicyOf(doc, "stranger").FilterPatchset(doc, status->document).status().code() ==
        absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace ha::cib
