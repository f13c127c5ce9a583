#include "cibd/cib_document.h"

#include <catch2/catch.hpp>
#include <string>

#include "cibd/cib_test_util.h"
#include "cibd/cib_xml.h"

namespace ha::cib {
namespace {

using testing::CaseFiles;
using testing::ReadFile;

TEST_CASE("every scheduler case loads and round-trips without losing content") {
  const auto files = CaseFiles();
  REQUIRE(files.size() >= 389);
  for (const auto& path : files) {
    INFO(path);
    const std::string text = ReadFile(path);
    auto doc = CibDocument::Parse(text);
    REQUIRE(doc.ok());
    // The reference: pugixml's own reading of the file, with no bounds and no checks of ours.
    pugi::xml_document reference;
    REQUIRE(reference.load_string(text.c_str(), pugi::parse_default | pugi::parse_comments));
    CHECK(SameTree(doc->Root(), reference.document_element()));
    for (bool pretty : {true, false}) {
      auto again = CibDocument::Parse(doc->Serialize(pretty));
      REQUIRE(again.ok());
      CHECK(again->SameContent(*doc));
      CHECK(again->Digest() == doc->Digest());
    }
  }
}

TEST_CASE("version triple reads, writes and compares in order") {
  CibDocument doc = testing::SmallCib();
  CHECK(doc.Version() == CibVersion{1, 5, 3});
  CHECK(CibVersion{1, 0, 0} > CibVersion{0, 99, 99});
  CHECK(CibVersion{1, 5, 4} > CibVersion{1, 5, 3});
  CHECK(CibVersion{1, 6, 0} > CibVersion{1, 5, 9});
  doc.SetVersion({2, 0, 7});
  CHECK(doc.Version() == CibVersion{2, 0, 7});
  CHECK(ToString(doc.Version()) == "2.0.7");

  auto missing = CibDocument::Parse("<cib><configuration/></cib>");
  REQUIRE(missing.ok());
  CHECK(missing->Version() == CibVersion{});

  auto bad = CibDocument::Parse("<cib epoch=\"-1\"/>");
  REQUIRE(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()).find("epoch") != std::string::npos);
  CHECK_FALSE(CibDocument::Parse("<cib num_updates=\"1x\"/>").ok());
}

TEST_CASE("the digest covers content and ignores formatting, comments and cib-last-written") {
  const CibDocument a = testing::SmallCib();
  const std::string digest = a.Digest();
  CHECK(digest.size() == 32);

  CibDocument b = a.Clone();
  b.Root().append_attribute("cib-last-written") = "Thu Jan  1 00:00:00 2024";
  b.Root().child("configuration").prepend_child(pugi::node_comment).set_value("a note");
  CHECK(b.Digest() == digest);

  b.Section("resources").child("primitive").attribute("type") = "IPaddr";
  CHECK(b.Digest() != digest);

  CibDocument c = a.Clone();
  c.SetVersion({1, 5, 4});
  CHECK(c.Digest() != digest);
  // Whitespace of the text form does not matter.
  auto d = CibDocument::Parse(a.Serialize(false));
  REQUIRE(d.ok());
  CHECK(d->Digest() == digest);
  CHECK(a.CanonicalXml().find('\n') == std::string::npos);
}

TEST_CASE("the empty CIB has the required sections") {
  CibDocument doc;
  CHECK(doc.Version() == CibVersion{});
  for (const char* s :
       {"configuration", "status", "crm_config", "nodes", "resources", "constraints"}) {
    CHECK(doc.Section(s));
  }
  CHECK_FALSE(doc.Section("acls"));
}

std::string MessageOf(std::string_view xml, const ParseLimits& limits = {}) {
  auto doc = CibDocument::Parse(xml, limits);
  REQUIRE_FALSE(doc.ok());
  CHECK(doc.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(doc.status().message());
}

TEST_CASE("bad input is refused with a clear error") {
  SECTION("malformed XML names line and column") {
    const std::string m = MessageOf("<cib>\n  <configuration>\n</cib>");
    CHECK(m.find("line 3, column") != std::string::npos);
  }
  SECTION("an entity expansion bomb is refused before any expansion") {
    const std::string bomb = R"(<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<cib><configuration>&lol3;</configuration></cib>)";
    const std::string m = MessageOf(bomb);
    CHECK(m.find("line 2, column 1: DOCTYPE") != std::string::npos);
  }
  SECTION("an undeclared entity") {
    CHECK(MessageOf("<cib a=\"&x;\"/>").find("entity reference &x;") != std::string::npos);
    CHECK(MessageOf("<cib>&#0;</cib>").find("character reference") != std::string::npos);
  }
  SECTION("a 100 MB document is refused by size") {
    std::string huge = "<cib>";
    huge.append(100u << 20, ' ');
    huge += "</cib>";
    CHECK(MessageOf(huge).find("larger than the limit") != std::string::npos);
  }
  SECTION("10,000-deep nesting") {
    std::string deep = "<cib>";
    for (int i = 0; i < 10000; ++i) {
      deep += "<a>";
    }
    for (int i = 0; i < 10000; ++i) {
      deep += "</a>";
    }
    deep += "</cib>";
    CHECK(MessageOf(deep).find("nested deeper than 256") != std::string::npos);
  }
  SECTION("invalid UTF-8 and forbidden characters") {
    CHECK(MessageOf("<cib a=\"\xC3\x28\"/>").find("line 1, column 9: invalid UTF-8") !=
          std::string::npos);
    CHECK(MessageOf("<cib a=\"\xC0\xAF\"/>").find("invalid UTF-8") != std::string::npos);
    CHECK(MessageOf("<cib a=\"\xED\xA0\x80\"/>").find("invalid UTF-8") != std::string::npos);
    CHECK(MessageOf(std::string("<cib>\x01</cib>")).find("not allowed") != std::string::npos);
  }
  SECTION("structure") {
    CHECK(MessageOf("<resources/>").find("not <cib>") != std::string::npos);
    CHECK(MessageOf("<cib/><cib/>").find("more than one root") != std::string::npos);
    CHECK(MessageOf("<cib a=\"1\" a=\"2\"/>").find("appears twice") != std::string::npos);
    CHECK(MessageOf("").find("element") != std::string::npos);
    CHECK(MessageOf("<cib>").find("line") != std::string::npos);
  }
  SECTION("limits can be narrowed") {
    ParseLimits small{.max_bytes = 10, .max_depth = 2};
    CHECK(MessageOf("<cib><a/></cib>", small).find("larger") != std::string::npos);
    ParseLimits shallow{.max_depth = 2};
    CHECK(MessageOf("<cib><a><b/></a></cib>", shallow).find("deeper") != std::string::npos);
    CHECK(CibDocument::Parse("<cib><a><b/></a></cib>", ParseLimits{.max_depth = 3}).ok());
  }
}

TEST_CASE("text, CDATA, comments and escapes survive a round trip") {
  const std::string xml =
      "<cib epoch=\"1\"><configuration><!-- keep me --><crm_config a=\"x&amp;y&quot;&lt;\tz\"/>"
      "<nodes>t&amp;xt</nodes><resources><![CDATA[<raw>]]></resources></configuration></cib>";
  auto doc = CibDocument::Parse(xml);
  REQUIRE(doc.ok());
  for (bool pretty : {true, false}) {
    auto again = CibDocument::Parse(doc->Serialize(pretty));
    REQUIRE(again.ok());
    CHECK(again->SameContent(*doc));
  }
  CHECK(std::string(doc->Section("crm_config").attribute("a").value()) == "x&y\"< z");
}

}  // namespace
}  // namespace ha::cib
