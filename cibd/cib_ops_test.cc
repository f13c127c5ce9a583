#include "cibd/cib_ops.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "cibd/cib_test_util.h"
#include "cibd/cib_validate.h"

namespace ha::cib {
namespace {

using testing::SmallCib;

std::string Attr(const CibDocument& doc, const char* xpath, const char* attr) {
  auto q = Query(doc, Target{.xpath = std::string(xpath) + "/@" + attr});
  return q.ok() ? q->xml : "<missing>";
}

// Applies `op`, requires success, and returns the new document.
CibDocument Must(const CibDocument& doc, const WriteOp& op) {
  auto r = ApplyWrite(doc, op);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return std::move(r->document);
}

// Applies `op`, requires `code`, checks the message mentions `text`, and that `doc` is unchanged.
void Refused(const CibDocument& doc,
             const WriteOp& op,
             absl::StatusCode code,
             const std::string& text) {
  const std::string before = doc.Digest();
  auto r = ApplyWrite(doc, op);
  REQUIRE_FALSE(r.ok());
  INFO(r.status().ToString());
  CHECK(r.status().code() == code);
  CHECK(std::string(r.status().message()).find(text) != std::string::npos);
  CHECK(doc.Digest() == before);
}

TEST_CASE("query: whole, scope, xpath") {
  const CibDocument doc = SmallCib();
  auto whole = Query(doc, {});
  REQUIRE(whole.ok());
  CHECK(whole->xml.rfind("<cib", 0) == 0);
  CHECK(whole->matches == 1);

  auto section = Query(doc, Target{.scope = "constraints"});
  REQUIRE(section.ok());
  CHECK(section->xml.rfind("<constraints>", 0) == 0);
  CHECK(Query(doc, Target{.scope = "acls"}).status().code() == absl::StatusCode::kNotFound);
  CHECK(Query(doc, Target{.scope = "bogus"}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Query(doc, Target{.scope = "nodes", .xpath = "//node"}).status().code() ==
        absl::StatusCode::kInvalidArgument);

  auto one = Query(doc, Target{.xpath = "//primitive[@id='ip']"}, {.no_children = true});
  REQUIRE(one.ok());
  CHECK(one->xml.find("<primitive id=\"ip\"") == 0);
  CHECK(one->xml.find("nvpair") == std::string::npos);

  auto several = Query(doc, Target{.xpath = "//primitive"});
  REQUIRE(several.ok());
  CHECK(several->matches == 2);
  CHECK(several->xml.rfind("<xpath-query>", 0) == 0);

  auto paths = Query(doc, Target{.xpath = "//primitive"}, {.node_path = true});
  REQUIRE(paths.ok());
  CHECK(paths->xml ==
        "/cib/configuration/resources/primitive[@id='ip']\n"
        "/cib/configuration/resources/group[@id='web']/primitive[@id='apache']");

  CHECK(Query(doc, Target{.xpath = "//nothing"}).status().code() == absl::StatusCode::kNotFound);
  CHECK(Query(doc, Target{.xpath = "//["}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Query(doc, Target{.xpath = "count(//node)"}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(Attr(doc, "//node[@id='2']", "uname") == "node2");
}

TEST_CASE("create adds to a section and bumps epoch") {
  const CibDocument doc = SmallCib();
  const char* dummy = R"(<primitive id="d" class="ocf" provider="pacemaker" type="Dummy"/>)";
  CibDocument a = Must(doc, CreateOp{{.scope = "resources"}, dummy});
  CHECK(a.Version() == CibVersion{1, 6, 0});
  CHECK(Attr(a, "//primitive[@id='d']", "type") == "Dummy");

  // Inferred section, a section wrapper, and an XPath parent give the same element.
  CHECK(Must(doc, CreateOp{{}, dummy}).SameContent(a));
  CHECK(
      Must(doc, CreateOp{{}, std::string("<resources>") + dummy + "</resources>"}).SameContent(a));
  CibDocument in_group = Must(doc, CreateOp{{.xpath = "//group[@id='web']"}, dummy});
  CHECK(Query(in_group, Target{.xpath = "//group/primitive[@id='d']"}).ok());

  Refused(a,
          CreateOp{{.scope = "resources"}, dummy},
          absl::StatusCode::kAlreadyExists,
          "<primitive id='d'> already exists");
  Refused(doc,
          CreateOp{{}, "<frobnicator id='x'/>"},
          absl::StatusCode::kInvalidArgument,
          "no known section");
  Refused(doc,
          CreateOp{{.xpath = "//primitive"}, dummy},
          absl::StatusCode::kInvalidArgument,
          "matches 2");
  Refused(doc,
          CreateOp{{.scope = "resources"}, "<primitive id="},
          absl::StatusCode::kInvalidArgument,
          "line 1");

  // A status change raises num_updates only.
  CibDocument s = Must(doc, CreateOp{{.scope = "status"}, R"(<node_state id="2" uname="node2"/>)"});
  CHECK(s.Version() == CibVersion{1, 5, 4});
  // An optional section is created on demand.
  CibDocument t =
      Must(doc, CreateOp{{.scope = "tags"}, R"(<tag id="t1"><obj_ref id="ip"/></tag>)"});
  CHECK(t.Section("tags"));
}

TEST_CASE("an invalid result is refused naming the element and the reason") {
  const CibDocument doc = SmallCib();
  Refused(doc,
          CreateOp{{.scope = "constraints"}, R"(<rsc_order id="o1" first="ip" then="nosuch"/>)"},
          absl::StatusCode::kInvalidArgument,
          "<rsc_order id='o1'>: then=\"nosuch\" names no resource");
  Refused(doc,
          CreateOp{{.scope = "constraints"},
                   R"(<rsc_location id="l2" rsc="ip" score="lots" node="node1"/>)"},
          absl::StatusCode::kInvalidArgument,
          "<rsc_location id='l2'>: score=\"lots\" is not a score");
  Refused(doc,
          ModifyOp{{}, R"(<op id="ip-monitor" interval="often"/>)"},
          absl::StatusCode::kInvalidArgument,
          "<op id='ip-monitor'>: interval=\"often\"");
  Refused(doc,
          ModifyOp{{}, R"(<nvpair id="ip-meta-managed" value="maybe"/>)"},
          absl::StatusCode::kInvalidArgument,
          "is-managed=\"maybe\" is not a boolean");
  Refused(doc,
          CreateOp{{.scope = "resources"}, R"(<primitive id="loc-ip" class="ocf" type="X"/>)"},
          absl::StatusCode::kInvalidArgument,
          "<rsc_location id='loc-ip'>: the id is already used by <primitive id='loc-ip'>");
  Refused(doc,
          CreateOp{{.scope = "constraints"}, R"(<primitive id="p9" class="ocf" type="X"/>)"},
          absl::StatusCode::kInvalidArgument,
          "not allowed inside <constraints>");
  Refused(doc,
          DeleteOp{{}, R"(<primitive id="ip"/>)"},
          absl::StatusCode::kInvalidArgument,
          "names no resource");
  Refused(doc,
          DeleteOp{{.xpath = "//resources"}, ""},
          absl::StatusCode::kInvalidArgument,
          "<resources> section is missing");
  Refused(doc,
          ModifyOp{{}, R"(<cib epoch="x"/>)"},
          absl::StatusCode::kInvalidArgument,
          "not a non-negative integer");
  Refused(doc,
          ModifyOp{{}, R"(<meta_attributes id="m" id-ref="nosuch"/>)", true},
          absl::StatusCode::kInvalidArgument,
          "no known section");
  // Unknown elements are kept.
  CibDocument u = Must(doc, CreateOp{{.scope = "resources"}, R"(<future-thing id="f" x="1"/>)"});
  CHECK(Query(u, Target{.xpath = "//future-thing"}).ok());
}

TEST_CASE("modify merges by id") {
  const CibDocument doc = SmallCib();
  CibDocument a = Must(doc, ModifyOp{{}, R"(<primitive id="ip"><instance_attributes id="ip-params">
      <nvpair id="ip-params-ip" value="10.0.0.2"/><nvpair id="ip-params-mask" name="cidr_netmask" value="24"/>
      </instance_attributes></primitive>)"});
  CHECK(Attr(a, "//nvpair[@id='ip-params-ip']", "value") == "10.0.0.2");
  CHECK(Attr(a, "//nvpair[@id='ip-params-ip']", "name") == "ip");  // kept
  CHECK(Attr(a, "//nvpair[@id='ip-params-mask']", "value") == "24");
  CHECK(Attr(a, "//primitive[@id='ip']", "type") == "IPaddr2");
  CHECK(a.Version() == CibVersion{1, 6, 0});

  SECTION("a modify that changes nothing leaves the version") {
    auto r = ApplyWrite(a, ModifyOp{{}, R"(<nvpair id="ip-params-ip" value="10.0.0.2"/>)"});
    REQUIRE(r.ok());
    CHECK_FALSE(r->changed);
    CHECK(r->document.Version() == a.Version());
  }
  SECTION("not found, and allow_create") {
    Refused(doc,
            ModifyOp{{.scope = "resources"}, R"(<primitive id="zz" class="ocf" type="D"/>)"},
            absl::StatusCode::kNotFound,
            "<primitive id='zz'> not found");
    CibDocument c = Must(
        doc,
        ModifyOp{{.scope = "resources"}, R"(<primitive id="zz" class="ocf" type="D"/>)", true});
    CHECK(Query(c, Target{.xpath = "/cib/configuration/resources/primitive[@id='zz']"}).ok());
  }
  SECTION("score updates") {
    CibDocument s = Must(
        doc,
        CreateOp{
            {.xpath = "//node_state[@id='1']"},
            R"(<transient_attributes id="1"><instance_attributes id="status-1"><nvpair id="fc" name="fail-count-ip" value="3"/></instance_attributes></transient_attributes>)"});
    CibDocument t =
        Must(s, ModifyOp{{.scope = "status"}, R"(<nvpair id="fc" value="value++"/>)", false, true});
    CHECK(Attr(t, "//nvpair[@id='fc']", "value") == "4");
    CHECK(t.Version() == CibVersion{1, 5, 5});
    t = Must(t,
             ModifyOp{{.scope = "status"}, R"(<nvpair id="fc" value="value+=10"/>)", false, true});
    CHECK(Attr(t, "//nvpair[@id='fc']", "value") == "14");
    t = Must(
        t,
        ModifyOp{{.scope = "status"}, R"(<nvpair id="fc" value="value+=INFINITY"/>)", false, true});
    CHECK(Attr(t, "//nvpair[@id='fc']", "value") == "INFINITY");
    t = Must(t, ModifyOp{{.scope = "status"}, R"(<nvpair id="fc" value="value++"/>)", false, true});
    CHECK(Attr(t, "//nvpair[@id='fc']", "value") == "INFINITY");
    // Without score_update the text is taken literally.
    t = Must(t, ModifyOp{{.scope = "status"}, R"(<nvpair id="fc" value="value++"/>)"});
    CHECK(Attr(t, "//nvpair[@id='fc']", "value") == "value++");
  }
  SECTION("admin_epoch only when set explicitly") {
    CibDocument e = Must(doc, ModifyOp{{}, R"(<cib admin_epoch="7"/>)"});
    CHECK(e.Version() == CibVersion{7, 5, 4});
    CibDocument f = Must(doc, ModifyOp{{}, R"(<cib epoch="40"/>)"});
    CHECK(f.Version() == CibVersion{1, 40, 3});
    Refused(doc, ModifyOp{{}, R"(<cib epoch="2"/>)"}, absl::StatusCode::kAborted, "go back");
  }
}

TEST_CASE("replace: element, section, whole CIB") {
  const CibDocument doc = SmallCib();
  CibDocument a =
      Must(doc,
           ReplaceOp{{.scope = "resources"},
                     R"(<primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr"/>)"});
  CHECK(Attr(a, "//primitive[@id='ip']", "type") == "IPaddr");
  CHECK_FALSE(Query(a, Target{.xpath = "//nvpair[@id='ip-params-ip']"}).ok());
  Refused(doc,
          ReplaceOp{{.scope = "resources"}, R"(<primitive id="nope" class="ocf" type="X"/>)"},
          absl::StatusCode::kNotFound,
          "not found");

  CibDocument b = Must(doc, ReplaceOp{{}, R"(<crm_config/>)"});
  CHECK_FALSE(b.Section("crm_config").first_child());
  CibDocument c = Must(
      doc,
      ReplaceOp{
          {.xpath = "//group[@id='web']"},
          R"(<group id="web"><primitive id="apache" class="ocf" type="apache"/><primitive id="db" class="ocf" type="pgsql"/></group>)"});
  CHECK(Query(c, Target{.xpath = "//group/primitive[@id='db']"}).ok());

  SECTION("whole CIB") {
    CibDocument newer = doc.Clone();
    newer.SetVersion({1, 9, 0});
    newer.Section("nodes").remove_child(newer.Section("nodes").last_child());
    CibDocument d = Must(doc, ReplaceOp{{}, newer.Serialize()});
    CHECK(d.Version() == CibVersion{1, 9, 0});
    CHECK(Query(d, Target{.xpath = "//node"}).value().matches == 1);

    CibDocument older = doc.Clone();
    older.SetVersion({1, 4, 9});
    Refused(doc, ReplaceOp{{}, older.Serialize()}, absl::StatusCode::kAborted, "older");
    CibDocument same = doc.Clone();
    same.Section("nodes").remove_child(same.Section("nodes").last_child());
    CHECK(Must(doc, ReplaceOp{{}, same.Serialize()}).Version() == CibVersion{1, 6, 0});
  }
}

TEST_CASE("delete by element or XPath") {
  const CibDocument doc = SmallCib();
  CibDocument a = Must(doc, DeleteOp{{}, R"(<rsc_location id="loc-ip"/>)"});
  CHECK_FALSE(Query(a, Target{.xpath = "//rsc_location"}).ok());
  CHECK(a.Version() == CibVersion{1, 6, 0});
  // Other given attributes must match.
  Refused(doc,
          DeleteOp{{}, R"(<rsc_location id="loc-ip" score="5"/>)"},
          absl::StatusCode::kNotFound,
          "not found");
  CibDocument b = Must(doc, DeleteOp{{.xpath = "//nvpair[@id='ip-params-ip']"}, ""});
  CHECK_FALSE(Query(b, Target{.xpath = "//nvpair[@id='ip-params-ip']"}).ok());
  Refused(doc, DeleteOp{{.xpath = "//node"}, ""}, absl::StatusCode::kInvalidArgument, "matches 2");
  CibDocument c = Must(doc, DeleteOp{{.xpath = "//node"}, "", true});
  CHECK_FALSE(Query(c, Target{.xpath = "//node"}).ok());
  CibDocument d = Must(doc, DeleteOp{{.xpath = "//node[@id='1']/@uname"}, ""});
  CHECK(Attr(d, "//node[@id='1']", "uname") == "<missing>");
  Refused(doc, DeleteOp{{.xpath = "//nothing"}, ""}, absl::StatusCode::kNotFound, "nothing");
  Refused(doc, DeleteOp{{.xpath = "/cib"}, ""}, absl::StatusCode::kInvalidArgument, "cannot");
  Refused(doc, DeleteOp{{}, ""}, absl::StatusCode::kInvalidArgument, "XML or an XPath");
}

TEST_CASE("erase, bump, expected version") {
  const CibDocument doc = SmallCib();
  Refused(doc, EraseOp{}, absl::StatusCode::kInvalidArgument, "force");
  CibDocument e = Must(doc, EraseOp{.force = true});
  CHECK(e.Version() == CibVersion{1, 6, 0});
  CHECK_FALSE(e.Section("resources").first_child());
  CHECK(Validate(e).ok());

  CibDocument b = Must(doc, BumpOp{});
  CHECK(b.Version() == CibVersion{1, 6, 0});

  auto r = ApplyWrite(doc, BumpOp{}, WriteContext{.expected_version = CibVersion{1, 5, 2}});
  CHECK(r.status().code() == absl::StatusCode::kAborted);
  auto ok = ApplyWrite(doc,
                       BumpOp{},
                       WriteContext{.expected_version = CibVersion{1, 5, 3},
                                    .client_name = "cibadmin",
                                    .user = "alice",
                                    .origin = "node1"});
  REQUIRE(ok.ok());
  CHECK(Attr(ok->document, "/cib", "update-client") == "cibadmin");
  CHECK(Attr(ok->document, "/cib", "update-user") == "alice");
  CHECK(Attr(ok->document, "/cib", "update-origin") == "node1");
}

TEST_CASE("a transaction applies all operations or none, with one version bump") {
  const CibDocument doc = SmallCib();
  std::vector<WriteOp> ops = {
      CreateOp{{.scope = "resources"}, R"(<primitive id="d1" class="ocf" type="Dummy"/>)"},
      CreateOp{{.scope = "constraints"}, R"(<rsc_order id="o" first="d1" then="ip"/>)"},
      ModifyOp{{.scope = "status"}, R"(<node_state id="1" crmd="offline"/>)"},
  };
  auto r = ApplyTransaction(doc, ops);
  REQUIRE(r.ok());
  CHECK(r->document.Version() == CibVersion{1, 6, 0});
  CHECK(Attr(r->document, "//node_state[@id='1']", "crmd") == "offline");

  // The constraint alone would dangle: a transaction validates the result as a whole.
  std::vector<WriteOp> reversed = {ops[1], ops[0]};
  CHECK(ApplyTransaction(doc, reversed).ok());

  std::vector<WriteOp> failing = {ops[0], DeleteOp{{}, R"(<primitive id="nosuch"/>)"}};
  auto f = ApplyTransaction(doc, failing);
  REQUIRE(f.status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(f.status().message()).rfind("operation 1: ", 0) == 0);
  std::vector<WriteOp> invalid = {
      ops[0], CreateOp{{.scope = "constraints"}, R"(<rsc_order id="o2" first="x" then="ip"/>)"}};
  CHECK(ApplyTransaction(doc, invalid).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(OperationName(ops[1]) == std::string("create"));
}

TEST_CASE("bad input to a write is refused and the document is unchanged") {
  const CibDocument doc = SmallCib();
  std::string huge = "<primitive id=\"h\" class=\"ocf\" type=\"D\" description=\"";
  huge.append(100u << 20, 'x');
  huge += "\"/>";
  std::string deep = "<primitive id=\"deep\" class=\"ocf\" type=\"D\">";
  std::string tail = "</primitive>";
  for (int i = 0; i < 10000; ++i) {
    deep += "<x>";
    tail = "</x>" + tail;
  }
  deep += tail;
  std::string nested = "<primitive id=\"n\" class=\"ocf\" type=\"D\">";
  std::string nested_tail = "</primitive>";
  for (int i = 0; i < 254; ++i) {  // legal alone, too deep once inside the CIB
    nested += "<x>";
    nested_tail = "</x>" + nested_tail;
  }
  nested += nested_tail;
  const struct {
    std::string xml;
    std::string error;
  } cases[] = {
      {"<primitive id=\"m\"", "line 1"},
      {"<!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><primitive id=\"&b;\"/>",
       "DOCTYPE"},
      {huge, "larger than the limit"},
      {deep, "nested deeper than 256"},
      {nested, "nested deeper than 256"},
      {"<primitive id=\"\xff\xfe\"/>", "invalid UTF-8"},
      {"<primitive id=\"a\" id=\"b\"/>", "appears twice"},
  };
  for (const auto& c : cases) {
    INFO(c.error);
    Refused(
        doc, CreateOp{{.scope = "resources"}, c.xml}, absl::StatusCode::kInvalidArgument, c.error);
    Refused(doc,
            ModifyOp{{.scope = "resources"}, c.xml, true},
            absl::StatusCode::kInvalidArgument,
            c.error);
    if (c.xml != nested) {  // the nested one parses: its Replace finds nothing to replace
      Refused(doc, ReplaceOp{{}, c.xml}, absl::StatusCode::kInvalidArgument, c.error);
    }
  }
}

TEST_CASE("every scheduler case validates") {
  for (const auto& path : testing::CaseFiles()) {
    INFO(path);
    auto doc = CibDocument::Parse(testing::ReadFile(path));
    REQUIRE(doc.ok());
    const auto problems = FindProblems(*doc);
    CHECK(problems == std::vector<std::string>{});
  }
}

// Random edits of real CIBs: the incremental check refuses exactly what the whole-document
// check refuses. Edits: an attribute set to a bad value, an element deleted, an element copied
// next to itself (a duplicate id) or elsewhere, an id renamed.
TEST_CASE("incremental validation agrees with the whole-document check") {
  std::vector<std::string> files = testing::CaseFiles();
  REQUIRE_FALSE(files.empty());
  std::mt19937 rng(20261123);
  int refused = 0;
  int accepted = 0;
  for (size_t f = 0; f < files.size(); f += std::max<size_t>(1, files.size() / 40)) {
    auto doc = CibDocument::Parse(testing::ReadFile(files[f]));
    REQUIRE(doc.ok());
    if (doc->Root().select_nodes("/cib/configuration//*").empty()) {
      continue;
    }
    for (int k = 0; k < 25; ++k) {
      CibDocument after = doc->Clone();
      std::vector<pugi::xml_node> mine;
      for (pugi::xpath_node x : after.Root().select_nodes("/cib/configuration//*")) {
        mine.push_back(x.node());
      }
      pugi::xml_node n = mine[rng() % mine.size()];
      pugi::xml_node other = mine[rng() % mine.size()];
      switch (rng() % 6) {
        case 0:
          for (const char* a : {"score", "interval", "value", "rsc", "then"}) {
            if (n.attribute(a)) {
              n.attribute(a).set_value("bogus");
            }
          }
          break;
        case 1:
          n.parent().remove_child(n);
          break;
        case 2:
          n.parent().insert_copy_after(n, n);
          break;
        case 3:
          if (other.type() == pugi::node_element && other != n) {
            other.append_copy(n);
          }
          break;
        case 4:
          if (n.attribute("id")) {
            n.attribute("id").set_value("renamed-id");
          }
          break;
        default:
          if (n.attribute("id") && other.attribute("id") && other != n) {
            n.attribute("id").set_value(other.attribute("id").value());
          }
          break;
      }
      const absl::Status fast = ValidateChange(*doc, after);
      const absl::Status full = ValidateChangeFully(*doc, after);
      INFO(files[f] << " edit " << k << ": incremental " << fast << ", full " << full);
      CHECK(fast.ok() == full.ok());
      (full.ok() ? accepted : refused) += 1;
    }
  }
  CHECK(refused > 0);
  CHECK(accepted > 0);
}

TEST_CASE("incremental validation: a problem an element already had moves with it") {
  auto before = CibDocument::Parse(
      R"(<cib epoch="1"><configuration><crm_config/><nodes/><resources>)"
      R"(<primitive id="p" class="ocf" provider="pacemaker" type="Dummy"><operations>)"
      R"(<op id="p-mon" name="monitor" interval="often"/></operations></primitive>)"
      R"(</resources><constraints/></configuration><status/></cib>)");
  REQUIRE(before.ok());
  REQUIRE_FALSE(Validate(*before).ok());  // the bad interval is already there
  CibDocument after = before->Clone();
  pugi::xml_node resources = after.Section("resources");
  pugi::xml_node group = resources.append_child("group");
  group.append_attribute("id") = "g";
  group.append_move(resources.child("primitive"));
  CHECK(ValidateChangeFully(*before, after).ok());
  CHECK(ValidateChange(*before, after).ok());
  // A new element with the same problem is refused by both.
  CibDocument worse = after.Clone();
  worse.Section("resources").append_copy(before->Section("resources").child("primitive"));
  worse.Section("resources").last_child().attribute("id") = "p2";
  worse.Section("resources").last_child().child("operations").child("op").attribute("id") =
      "p2-mon";
  CHECK_FALSE(ValidateChangeFully(after, worse).ok());
  CHECK_FALSE(ValidateChange(after, worse).ok());
}

TEST_CASE("value syntaxes") {
  for (const char* s : {"0", "-5", "+7", "INFINITY", "-infinity", "+INFINITY", "red"}) {
    CHECK(IsScore(s));
  }
  for (const char* s : {"", "1.5", "inf", "10x"}) {
    CHECK_FALSE(IsScore(s));
  }
  for (const char* s : {"0", "10", "10s", "500ms", "2min", "1h", "PT10S", "P1DT2H", " 5 s"}) {
    CHECK(IsDuration(s));
  }
  for (const char* s : {"", "s", "10 parsecs", "P", "PT", "-1"}) {
    CHECK_FALSE(IsDuration(s));
  }
  CHECK(IsBoolean("TRUE"));
  CHECK(IsBoolean("off"));
  CHECK_FALSE(IsBoolean("maybe"));
}

}  // namespace
}  // namespace ha::cib
