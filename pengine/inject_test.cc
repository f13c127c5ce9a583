// crm_simulate's what-if injections, applied to a CIB before scheduling.
#include "pengine/inject.h"

#include <catch2/catch.hpp>
#include <sstream>

#include "pengine/scheduler.h"
#include "pengine/summary.h"

namespace ha::pengine {
namespace {

constexpr char kCib[] =
    "<cib validate-with=\"pacemaker-3.7\" crm_feature_set=\"3.16.2\" epoch=\"1\" "
    "num_updates=\"1\" admin_epoch=\"0\" have-quorum=\"1\"><configuration><crm_config>"
    "<cluster_property_set id=\"o\"><nvpair id=\"o1\" name=\"stonith-enabled\" value=\"true\"/>"
    "</cluster_property_set></crm_config><nodes><node id=\"1\" uname=\"n1\"/>"
    "<node id=\"2\" uname=\"n2\"/></nodes><resources>"
    "<primitive id=\"fence\" class=\"stonith\" type=\"fence_dummy\"/>"
    "<primitive id=\"a\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"/></resources>"
    "<constraints><rsc_location id=\"l\" rsc=\"a\" node=\"n1\" score=\"10\"/>"
    "<rsc_location id=\"lf\" rsc=\"fence\" node=\"n2\" score=\"10\"/></constraints>"
    "</configuration><status>"
    "<node_state id=\"1\" uname=\"n1\" in_ccm=\"true\" crmd=\"online\" join=\"member\" "
    "expected=\"member\"/><node_state id=\"2\" uname=\"n2\" in_ccm=\"true\" crmd=\"online\" "
    "join=\"member\" expected=\"member\"/></status></cib>";

std::vector<std::string> SummaryAfter(const Injections& injections) {
  pugi::xml_document doc;
  REQUIRE(doc.load_string(kCib));
  REQUIRE(ApplyInjections(doc, injections, 1700000000).ok());
  std::ostringstream xml;
  doc.save(xml);
  auto ws = Schedule(xml.str(), 1700000000);
  REQUIRE(ws.ok());
  std::vector<std::string> lines;
  for (std::string line : TransitionSummary(**ws)) {
    std::string collapsed;
    for (char c : line)
      if (!(c == ' ' && !collapsed.empty() && collapsed.back() == ' '))
        collapsed += c;
    lines.push_back(collapsed.substr(collapsed.find('*')));
  }
  return lines;
}

TEST_CASE("an injected start makes a resource running, a failed monitor recovers it") {
  Injections started;
  started.op_inject = {"a_start_0@n1=0", "fence_start_0@n2=0"};
  CHECK(SummaryAfter(started).empty());
  Injections failed = started;
  failed.op_inject.push_back("a_monitor_10000@n1=7");
  CHECK(SummaryAfter(failed) == std::vector<std::string>{"* Recover a ( n1 )"});
}

TEST_CASE("a failed node is fenced, a node taken down cleanly is not") {
  Injections lost;
  lost.op_inject = {"a_start_0@n1=0", "fence_start_0@n2=0"};
  lost.node_fail = {"n1"};
  CHECK(SummaryAfter(lost) ==
        std::vector<std::string>{"* Fence (reboot) n1 'peer is no longer part of the cluster'",
                                 "* Move a ( n1 -> n2 )"});
  Injections down;
  down.node_down = {"n1"};
  CHECK(SummaryAfter(down) == std::vector<std::string>{"* Start fence ( n2 )", "* Start a ( n2 )"});
}

TEST_CASE("injections that name nothing known are refused") {
  pugi::xml_document doc;
  REQUIRE(doc.load_string(kCib));
  Injections bad_node;
  bad_node.node_fail = {"n9"};
  CHECK(ApplyInjections(doc, bad_node, 0).code() == absl::StatusCode::kNotFound);
  Injections bad_spec;
  bad_spec.op_inject = {"a-start@n1"};
  CHECK(ApplyInjections(doc, bad_spec, 0).code() == absl::StatusCode::kInvalidArgument);
  Injections bad_rsc;
  bad_rsc.op_inject = {"zz_start_0@n1=0"};
  CHECK(ApplyInjections(doc, bad_rsc, 0).code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ha::pengine
