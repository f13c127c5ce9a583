#include "cibd/cib_diff.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "cibd/cib_ops.h"
#include "cibd/cib_test_util.h"

namespace ha::cib {
namespace {

std::vector<pugi::xml_node> Elements(const pugi::xml_node& root) {
  std::vector<pugi::xml_node> out;
  std::vector<pugi::xml_node> stack{root};
  while (!stack.empty()) {
    pugi::xml_node n = stack.back();
    stack.pop_back();
    out.push_back(n);
    for (pugi::xml_node c = n.last_child(); c; c = c.previous_sibling()) {
      if (c.type() == pugi::node_element) {
        stack.push_back(c);
      }
    }
  }
  return out;
}

// One random edit of the kinds a CIB sees (and a few it should not, to stress matching).
void RandomEdit(CibDocument& doc, std::mt19937& rng) {
  auto elements = Elements(doc.Root());
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  pugi::xml_node e = elements[pick(elements.size())];
  const bool is_root = e == doc.Root();
  const std::string tag = std::to_string(pick(1000));
  switch (pick(10)) {
    case 0:  // change or add an attribute
      e.attribute("value") ? e.attribute("value").set_value(tag.c_str())
                           : e.append_attribute("value").set_value(tag.c_str());
      break;
    case 1:  // remove an attribute
      if (e.first_attribute()) {
        e.remove_attribute(e.first_attribute());
      }
      break;
    case 2:  // delete an element
      if (!is_root) {
        e.parent().remove_child(e);
      }
      break;
    case 3: {  // insert an element with an id at a random position
      pugi::xml_node n = e.first_child() ? e.insert_child_before("nvpair", e.first_child())
                                         : e.append_child("nvpair");
      n.append_attribute("id") = ("new-" + tag).c_str();
      n.append_attribute("name") = "x";
      break;
    }
    case 4:  // insert an id-less element at the end
      e.append_child("rule-less").append_attribute("n") = tag.c_str();
      break;
    case 5:  // move an element to the front of its parent
      if (!is_root && e.previous_sibling()) {
        e.parent().prepend_move(e);
      }
      break;
    case 6:  // duplicate an element in place (same tag and id among siblings)
      if (!is_root) {
        e.parent().insert_copy_after(e, e);
      }
      break;
    case 7:  // a comment
      e.append_child(pugi::node_comment).set_value(tag.c_str());
      break;
    case 8:  // reorder attributes
      if (e.first_attribute() && e.first_attribute().next_attribute()) {
        pugi::xml_attribute a = e.first_attribute();
        e.append_copy(a);
        e.remove_attribute(a);
      }
      break;
    default:  // move an element to the end of its parent
      if (!is_root && e.next_sibling()) {
        e.parent().append_move(e);
      }
      break;
  }
}

void CheckRoundTrip(const CibDocument& a, const CibDocument& b) {
  const std::string patch = Diff(a, b);
  auto applied = ApplyPatchset(a, patch);
  INFO(patch);
  REQUIRE(applied.ok());
  CHECK(applied->SameContent(b));
  CHECK(applied->Digest() == b.Digest());
}

TEST_CASE("Apply(Diff(a, b), a) == b for random edits of every scheduler case") {
  std::mt19937 rng(20240605);
  for (const auto& path : testing::CaseFiles()) {
    INFO(path);
    auto a = CibDocument::Parse(testing::ReadFile(path));
    REQUIRE(a.ok());
    for (int round = 0; round < 3; ++round) {
      CibDocument b = a->Clone();
      const int edits = 1 + static_cast<int>(rng() % 12);
      for (int i = 0; i < edits; ++i) {
        RandomEdit(b, rng);
      }
      const CibVersion v = a->Version();
      b.SetVersion({v.admin_epoch, v.epoch + 1, 0});
      CheckRoundTrip(*a, b);
    }
  }
}

TEST_CASE("a diff of equal documents has no changes, and applies") {
  const CibDocument a = testing::SmallCib();
  const std::string patch = Diff(a, a);
  CHECK(patch.find("<change") == std::string::npos);
  auto r = ApplyPatchset(a, patch);
  REQUIRE(r.ok());
  CHECK(r->SameContent(a));
}

TEST_CASE("a diff of an operation's result reads as Pacemaker's v2 format") {
  const CibDocument a = testing::SmallCib();
  auto w = ApplyWrite(a, ModifyOp{{}, R"(<nvpair id="ip-params-ip" value="10.0.0.9"/>)"});
  REQUIRE(w.ok());
  const std::string patch = Diff(a, w->document);
  CHECK(patch.find(R"(<diff format="2")") != std::string::npos);
  CHECK(patch.find(R"(<source admin_epoch="1" epoch="5" num_updates="3")") != std::string::npos);
  CHECK(patch.find(R"(<target admin_epoch="1" epoch="6" num_updates="0")") != std::string::npos);
  CHECK(
      patch.find(
          R"(path="/cib/configuration/resources/primitive[@id='ip']/instance_attributes[@id='ip-params']/nvpair[@id='ip-params-ip']")") !=
      std::string::npos);
  CHECK(patch.find(R"(<change-attr name="value" operation="set" value="10.0.0.9")") !=
        std::string::npos);
  auto versions = PatchsetVersions(patch);
  REQUIRE(versions.ok());
  CHECK(versions->first == CibVersion{1, 5, 3});
  CHECK(versions->second == CibVersion{1, 6, 0});

  auto d = ApplyWrite(a, DeleteOp{{}, R"(<rsc_location id="loc-ip"/>)"});
  REQUIRE(d.ok());
  CHECK(
      Diff(a, d->document)
          .find(
              R"(<change operation="delete" path="/cib/configuration/constraints/rsc_location[@id='loc-ip']" position="0")") !=
      std::string::npos);
  auto c = ApplyWrite(a, CreateOp{{.scope = "nodes"}, R"(<node id="3" uname="node3"/>)"});
  REQUIRE(c.ok());
  CHECK(Diff(a, c->document)
            .find(R"(<change operation="create" path="/cib/configuration/nodes" position="2">)") !=
        std::string::npos);
}

TEST_CASE(
    "a patchset is refused on the wrong version, when malformed, or when the digest differs") {
  const CibDocument a = testing::SmallCib();
  auto w = ApplyWrite(a, BumpOp{});
  REQUIRE(w.ok());
  const std::string patch = Diff(a, w->document);
  CHECK(ApplyPatchset(w->document, patch).status().code() == absl::StatusCode::kAborted);
  CHECK(ApplyPatchset(a, "<diff format=\"1\"/>").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ApplyPatchset(a, "<diff").status().code() == absl::StatusCode::kInvalidArgument);
  const std::string bad_path =
      R"(<diff format="2"><version><source admin_epoch="1" epoch="5" num_updates="3"/><target admin_epoch="1" epoch="5" num_updates="4"/></version><change operation="delete" path="/cib/nothing"/></diff>)";
  CHECK(ApplyPatchset(a, bad_path).status().code() == absl::StatusCode::kInvalidArgument);
  const std::string no_root =
      R"(<diff format="2"><version><source admin_epoch="1" epoch="5" num_updates="3"/><target/></version><change operation="delete" path="/cib"/></diff>)";
  CHECK(ApplyPatchset(a, no_root).status().code() == absl::StatusCode::kInvalidArgument);
  std::string wrong_digest = patch;
  wrong_digest.replace(wrong_digest.find("digest=\"") + 8, 4, "ffff");
  CHECK(ApplyPatchset(a, wrong_digest).status().code() == absl::StatusCode::kDataLoss);
  // Paths Pacemaker writes (no positions) resolve too.
  const std::string pcmk =
      R"(<diff format="2"><version><source admin_epoch="1" epoch="5" num_updates="3"/><target admin_epoch="1" epoch="5" num_updates="4"/></version><change operation="modify" path="/cib/status/node_state[@id='1']"><change-list><change-attr name="crmd" operation="set" value="offline"/></change-list></change></diff>)";
  auto p = ApplyPatchset(a, pcmk);
  REQUIRE(p.ok());
  CHECK(std::string(p->Section("status").child("node_state").attribute("crmd").value()) ==
        "offline");
  CHECK(p->Version() == CibVersion{1, 5, 4});
}

}  // namespace
}  // namespace ha::cib
