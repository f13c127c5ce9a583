// The policy engine's decisions, one rule of Pacemaker Explained at a time, on small CIBs built
// here (not taken from Pacemaker's regression cases, which tests/scheduler runs separately).
#include "pengine/scheduler.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "pengine/graph.h"
#include "pengine/score.h"
#include "pengine/summary.h"

namespace ha::pengine {
namespace {

// A CIB assembled from parts: options, nodes (all online unless listed), resources,
// constraints, and each node's history and transient attributes.
struct CibBuilder {
  std::vector<std::string> options = {"stonith-enabled=false"};
  std::vector<std::string> nodes = {"n1", "n2", "n3"};
  std::map<std::string, std::string> node_state;  // node -> node_state attributes
  std::string resources;
  std::string constraints;
  std::map<std::string, std::string> history;    // node -> lrm_resource elements
  std::map<std::string, std::string> transient;  // node -> nvpairs
  std::string cib_attributes = "have-quorum=\"1\"";
  static constexpr char kVersion[] =
      "validate-with=\"pacemaker-3.7\" crm_feature_set=\"3.16.2\" epoch=\"1\" num_updates=\"1\" "
      "admin_epoch=\"0\"";
  std::string node_xml_extra;
  std::vector<std::string> extra_states;  // node_state for nodes given in node_xml_extra

  // A resource running on `node` (a successful start) or failed there (a failed monitor).
  CibBuilder& Running(const std::string& rsc, const std::string& node, int monitor_rc = -1) {
    std::string ops = absl::StrCat("<lrm_rsc_op id=\"",
                                   rsc,
                                   "_last_0\" operation=\"start\" interval=\"0\" rc-code=\"0\" ",
                                   "op-status=\"0\" call-id=\"2\" transition-key=\"1:1:0:x\" "
                                   "op-digest=\"f2317cad3d54cec5d7d7aa7d0bf35cf8\"/>");
    if (monitor_rc >= 0)
      absl::StrAppend(&ops,
                      "<lrm_rsc_op id=\"",
                      rsc,
                      "_monitor_10000\" operation=\"monitor\" interval=\"10000\" rc-code=\"",
                      monitor_rc,
                      "\" op-status=\"0\" call-id=\"3\" transition-key=\"1:1:0:x\"/>");
    absl::StrAppend(&history[node],
                    "<lrm_resource id=\"",
                    rsc,
                    "\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\">",
                    ops,
                    "</lrm_resource>");
    return *this;
  }
  CibBuilder& Attribute(const std::string& node,
                        const std::string& name,
                        const std::string& value) {
    absl::StrAppend(&transient[node],
                    "<nvpair id=\"",
                    node,
                    "-",
                    name,
                    "\" name=\"",
                    name,
                    "\" value=\"",
                    value,
                    "\"/>");
    return *this;
  }

  std::string Xml() const {
    std::string xml = absl::StrCat("<cib ",
                                   kVersion,
                                   " ",
                                   cib_attributes,
                                   " execution-date=\"1700000000\"><configuration><crm_config>"
                                   "<cluster_property_set id=\"cib-bootstrap-options\">");
    int i = 0;
    for (const std::string& option : options) {
      std::string name = option.substr(0, option.find('='));
      std::string value = option.substr(option.find('=') + 1);
      absl::StrAppend(
          &xml, "<nvpair id=\"o", i++, "\" name=\"", name, "\" value=\"", value, "\"/>");
    }
    absl::StrAppend(&xml, "</cluster_property_set></crm_config><nodes>");
    for (const std::string& node : nodes)
      absl::StrAppend(&xml, "<node id=\"", node, "\" uname=\"", node, "\"/>");
    absl::StrAppend(&xml,
                    node_xml_extra,
                    "</nodes><resources>",
                    resources,
                    "</resources><constraints>",
                    constraints,
                    "</constraints></configuration>",
                    "<status>");
    std::vector<std::string> all_nodes = nodes;
    all_nodes.insert(all_nodes.end(), extra_states.begin(), extra_states.end());
    for (const std::string& node : all_nodes) {
      auto state = node_state.find(node);
      std::string attrs = state != node_state.end()
                              ? state->second
                              : "in_ccm=\"true\" crmd=\"online\" join=\"member\" "
                                "expected=\"member\"";
      absl::StrAppend(&xml, "<node_state id=\"", node, "\" uname=\"", node, "\" ", attrs, ">");
      if (auto it = transient.find(node); it != transient.end())
        absl::StrAppend(&xml,
                        "<transient_attributes id=\"",
                        node,
                        "\"><instance_attributes id=\"status-",
                        node,
                        "\">",
                        it->second,
                        "</instance_attributes></transient_attributes>");
      if (auto it = history.find(node); it != history.end())
        absl::StrAppend(
            &xml, "<lrm id=\"", node, "\"><lrm_resources>", it->second, "</lrm_resources></lrm>");
      absl::StrAppend(&xml, "</node_state>");
    }
    absl::StrAppend(&xml, "</status></cib>");
    return xml;
  }
};

std::string Primitive(const std::string& id, const std::string& meta = "") {
  std::string xml = absl::StrCat(
      "<primitive id=\"", id, "\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\">");
  if (!meta.empty()) {
    absl::StrAppend(&xml, "<meta_attributes id=\"", id, "-meta\">");
    int i = 0;
    for (absl::string_view pair : absl::StrSplit(meta, ',')) {
      std::string text(pair);
      absl::StrAppend(&xml,
                      "<nvpair id=\"",
                      id,
                      "-m",
                      i++,
                      "\" name=\"",
                      text.substr(0, text.find('=')),
                      "\" value=\"",
                      text.substr(text.find('=') + 1),
                      "\"/>");
    }
    absl::StrAppend(&xml, "</meta_attributes>");
  }
  absl::StrAppend(&xml,
                  "<operations><op id=\"",
                  id,
                  "-mon\" name=\"monitor\" interval=\"10s\"/></operations></primitive>");
  return xml;
}

std::string Location(const std::string& rsc, const std::string& node, const std::string& score) {
  return absl::StrCat("<rsc_location id=\"loc-",
                      rsc,
                      "-",
                      node,
                      "\" rsc=\"",
                      rsc,
                      "\" node=\"",
                      node,
                      "\" score=\"",
                      score,
                      "\"/>");
}

// The summary lines with runs of spaces collapsed, as the regression cases compare them.
// HA_PENGINE_TEST_DUMP=DIR writes every CIB used here to DIR, so that the expectations can be
// checked against Pacemaker's own crm_simulate.
std::vector<std::string> Summary(const CibBuilder& cib) {
  if (const char* dir = std::getenv("HA_PENGINE_TEST_DUMP")) {
    static int counter = 0;
    std::ofstream(absl::StrCat(dir,
                               "/",
                               Catch::getResultCapture().getCurrentTestName().substr(0, 20),
                               "-",
                               counter++,
                               ".xml"))
        << cib.Xml();
  }
  auto ws = Schedule(cib.Xml(), std::nullopt);
  REQUIRE(ws.ok());
  std::vector<std::string> lines;
  for (std::string line : TransitionSummary(**ws)) {
    while (line.find("  ") != std::string::npos)
      line = absl::StrReplaceAll(line, {{"  ", " "}});
    if (!line.empty() && line[0] == ' ')
      line.erase(0, 1);
    lines.push_back(line);
  }
  return lines;
}

using Lines = std::vector<std::string>;

TEST_CASE("scores add with INFINITY arithmetic") {
  CHECK(AddScores(kInfinity, -kInfinity) == -kInfinity);
  CHECK(AddScores(kInfinity, 5) == kInfinity);
  CHECK(AddScores(999999, 999999) == kInfinity);
  CHECK(ParseScore("-INFINITY") == -kInfinity);
  CHECK(ParseScore("+INFINITY") == kInfinity);
  CHECK(ParseScore("12") == 12);
  CHECK(ParseScore("99999999999") == kInfinity);
}

TEST_CASE("a new resource starts on the best node; ties go by name") {
  CibBuilder cib;
  cib.resources = Primitive("a");
  CHECK(Summary(cib) == Lines{"* Start a ( n1 )"});
  cib.constraints = Location("a", "n3", "10");
  CHECK(Summary(cib) == Lines{"* Start a ( n3 )"});
}

TEST_CASE("equal resources spread over the nodes") {
  CibBuilder cib;
  cib.resources = Primitive("a") + Primitive("b") + Primitive("c");
  CHECK(Summary(cib) == Lines{"* Start a ( n1 )", "* Start b ( n2 )", "* Start c ( n3 )"});
}

TEST_CASE("-INFINITY location bans a node; asymmetric clusters need an opt-in") {
  CibBuilder cib;
  cib.resources = Primitive("a");
  cib.constraints = Location("a", "n1", "-INFINITY");
  CHECK(Summary(cib) == Lines{"* Start a ( n2 )"});
  cib.options.push_back("symmetric-cluster=false");
  CHECK(Summary(cib).empty());
  cib.constraints = Location("a", "n3", "0");
  CHECK(Summary(cib) == Lines{"* Start a ( n3 )"});
}

TEST_CASE("stickiness keeps a running resource where it is, unless outweighed") {
  CibBuilder cib;
  cib.resources = Primitive("a", "resource-stickiness=100");
  cib.constraints = Location("a", "n2", "50");
  cib.Running("a", "n1");
  CHECK(Summary(cib).empty());
  cib.constraints = Location("a", "n2", "200");
  CHECK(Summary(cib) == Lines{"* Move a ( n1 -> n2 )"});
}

TEST_CASE("mandatory colocation places the dependent with its primary, or not at all") {
  CibBuilder cib;
  cib.resources = Primitive("a") + Primitive("b");
  cib.constraints = Location("a", "n2", "10") +
                    "<rsc_colocation id=\"c\" rsc=\"b\" with-rsc=\"a\" score=\"INFINITY\"/>";
  CHECK(Summary(cib) == Lines{"* Start a ( n2 )", "* Start b ( n2 )"});
  cib.resources = Primitive("a", "target-role=Stopped") + Primitive("b");
  CHECK(Summary(cib).empty());
}

TEST_CASE("negative colocation keeps resources apart") {
  CibBuilder cib;
  cib.nodes = {"n1", "n2"};
  cib.resources = Primitive("a") + Primitive("b");
  cib.constraints = Location("a", "n1", "10") + Location("b", "n1", "10") +
                    "<rsc_colocation id=\"c\" rsc=\"b\" with-rsc=\"a\" score=\"-INFINITY\"/>";
  CHECK(Summary(cib) == Lines{"* Start a ( n1 )", "* Start b ( n2 )"});
}

TEST_CASE("a mandatory order blocks the second start when the first cannot start") {
  CibBuilder cib;
  cib.resources = Primitive("a") + Primitive("b");
  cib.constraints = Location("a", "n1", "-INFINITY") + Location("a", "n2", "-INFINITY") +
                    Location("a", "n3", "-INFINITY") +
                    "<rsc_order id=\"o\" first=\"a\" then=\"b\" kind=\"Mandatory\"/>";
  CHECK(Summary(cib) == Lines{"* Start b ( n1 ) due to unrunnable a start (blocked)"});
}

TEST_CASE("recovering the first resource of an order restarts the second") {
  CibBuilder cib;
  // Sticky, or b would move to an emptier node instead of restarting in place.
  cib.resources =
      Primitive("a", "resource-stickiness=100") + Primitive("b", "resource-stickiness=100");
  cib.constraints = "<rsc_order id=\"o\" first=\"a\" then=\"b\"/>";
  cib.Running("a", "n1", /*monitor_rc=*/1).Running("b", "n1");
  CHECK(Summary(cib) == Lines{"* Recover a ( n1 )", "* Restart b ( n1 ) due to required a start"});
}

TEST_CASE("a group runs its members together, in order") {
  CibBuilder cib;
  cib.resources = "<group id=\"g\">" + Primitive("a") + Primitive("b") + "</group>";
  cib.constraints = Location("g", "n2", "10");
  CHECK(Summary(cib) == Lines{"* Start a ( n2 )", "* Start b ( n2 )"});
}

TEST_CASE("a group member that cannot run stops the members after it") {
  CibBuilder cib;
  cib.resources =
      "<group id=\"g\">" + Primitive("a") + Primitive("b") + Primitive("c") + "</group>";
  cib.Running("a", "n1").Running("b", "n1").Running("c", "n1");
  cib.Attribute("n1", "fail-count-b#monitor_10000", "INFINITY");
  cib.Attribute("n2", "fail-count-b#monitor_10000", "INFINITY");
  cib.Attribute("n3", "fail-count-b#monitor_10000", "INFINITY");
  CHECK(Summary(cib) == Lines{"* Stop b ( n1 ) due to node availability",
                              "* Stop c ( n1 ) due to node availability"});
}

TEST_CASE("target-role=Stopped stops a running resource") {
  CibBuilder cib;
  cib.resources = Primitive("a", "target-role=Stopped");
  cib.Running("a", "n2");
  CHECK(Summary(cib) == Lines{"* Stop a ( n2 ) due to node availability"});
}

TEST_CASE("an unmanaged resource is left alone, even when failed") {
  CibBuilder cib;
  cib.resources = Primitive("a", "is-managed=false");
  cib.Running("a", "n2", /*monitor_rc=*/1);
  CHECK(Summary(cib).empty());
  cib.resources = Primitive("a");
  cib.options.push_back("maintenance-mode=true");
  CHECK(Summary(cib).empty());
}

TEST_CASE("a standby node gives its resources away") {
  CibBuilder cib;
  cib.resources = Primitive("a");
  cib.Running("a", "n1");
  cib.Attribute("n1", "standby", "on");
  CHECK(Summary(cib) == Lines{"* Move a ( n1 -> n2 )"});
}

TEST_CASE("a failed resource is recovered in place, or moved at its migration-threshold") {
  CibBuilder cib;
  cib.resources = Primitive("a", "migration-threshold=3");
  cib.Running("a", "n1", /*monitor_rc=*/1);
  cib.Attribute("n1", "fail-count-a#monitor_10000", "1");
  CHECK(Summary(cib) == Lines{"* Recover a ( n1 )"});
  cib.transient.clear();
  cib.Attribute("n1", "fail-count-a#monitor_10000", "3");
  CHECK(Summary(cib) == Lines{"* Recover a ( n1 -> n2 )"});
}

TEST_CASE("failure-timeout expires old failures") {
  CibBuilder cib;
  cib.resources = Primitive("a", "migration-threshold=1,failure-timeout=60");
  cib.Running("a", "n1");
  cib.Attribute("n1", "fail-count-a#monitor_10000", "1");
  cib.Attribute("n1", "last-failure-a#monitor_10000", "1699999990");  // 10 s before "now"
  CHECK(Summary(cib) == Lines{"* Move a ( n1 -> n2 )"});
  cib.transient.clear();
  cib.Attribute("n1", "fail-count-a#monitor_10000", "1");
  cib.Attribute("n1", "last-failure-a#monitor_10000", "1699990000");  // long expired
  CHECK(Summary(cib).empty());
}

TEST_CASE("on-fail=block leaves a failed resource alone; on-fail=stop stops it") {
  for (const char* on_fail : {"block", "stop"}) {
    CibBuilder cib;
    cib.resources = absl::StrCat(
        "<primitive id=\"a\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"><operations>",
        "<op id=\"a-mon\" name=\"monitor\" interval=\"10s\" on-fail=\"",
        on_fail,
        "\"/></operations></primitive>");
    cib.Running("a", "n1", /*monitor_rc=*/1);
    if (std::string(on_fail) == "block")
      CHECK(Summary(cib).empty());
    else
      CHECK(Summary(cib) == Lines{"* Stop a ( n1 ) due to node availability"});
  }
}

TEST_CASE("no-quorum-policy decides what happens without quorum") {
  CibBuilder cib;
  cib.cib_attributes = "have-quorum=\"0\"";
  cib.resources = Primitive("a") + Primitive("b");
  cib.Running("a", "n1");
  cib.options.push_back("no-quorum-policy=stop");
  CHECK(Summary(cib) ==
        Lines{"* Stop a ( n1 ) due to no quorum", "* Start b ( n2 ) due to no quorum (blocked)"});
  cib.options.back() = "no-quorum-policy=freeze";
  CHECK(Summary(cib) == Lines{"* Start b ( n2 ) due to quorum freeze (blocked)"});
  cib.options.back() = "no-quorum-policy=ignore";
  CHECK(Summary(cib) == Lines{"* Start b ( n2 )"});
}

TEST_CASE("a lost node is fenced before its resources move") {
  CibBuilder cib;
  cib.options = {"stonith-enabled=true"};
  cib.resources =
      "<primitive id=\"fence\" class=\"stonith\" type=\"fence_dummy\"/>" + Primitive("a");
  cib.constraints = Location("fence", "n2", "10");
  cib.Running("a", "n1");
  cib.history["n2"] +=
      "<lrm_resource id=\"fence\" class=\"stonith\" type=\"fence_dummy\"><lrm_rsc_op "
      "id=\"fence_last_0\" operation=\"start\" interval=\"0\" rc-code=\"0\" op-status=\"0\" "
      "call-id=\"1\" transition-key=\"1:1:0:x\" op-digest=\"f2317cad3d54cec5d7d7aa7d0bf35cf8\"/>"
      "</lrm_resource>";
  cib.node_state["n1"] = "in_ccm=\"false\" crmd=\"offline\" join=\"down\" expected=\"member\"";
  auto lines = Summary(cib);
  // n2 already runs the fence device: a goes to the emptier n3.
  CHECK(lines == Lines{"* Fence (reboot) n1 'peer is no longer part of the cluster'",
                       "* Move a ( n1 -> n3 )"});
  auto ws = Schedule(cib.Xml(), std::nullopt);
  REQUIRE(ws.ok());
  std::string graph = TransitionGraphXml(**ws);
  CHECK(graph.find("operation=\"stonith\"") != std::string::npos);
  CHECK(graph.find("stonith-timeout=\"60s\"") != std::string::npos);  // the default
  cib.options.push_back("stonith-timeout=90s");
  ws = Schedule(cib.Xml(), std::nullopt);
  REQUIRE(ws.ok());
  CHECK(TransitionGraphXml(**ws).find("stonith-timeout=\"90s\"") != std::string::npos);
  CHECK(graph.find("operation_key=\"a_start_0\"") != std::string::npos);
}

TEST_CASE("without fencing, an offline node's resources are taken as stopped") {
  CibBuilder cib;
  cib.resources = Primitive("a");
  cib.Running("a", "n1");
  cib.node_state["n1"] = "in_ccm=\"false\" crmd=\"offline\" join=\"down\" expected=\"down\"";
  CHECK(Summary(cib) == Lines{"* Start a ( n2 )"});
}

TEST_CASE("a running resource that is no longer configured is stopped") {
  CibBuilder cib;
  cib.resources = Primitive("a");
  cib.Running("a", "n1").Running("gone", "n2");
  CHECK(Summary(cib) == Lines{"* Stop gone ( n2 ) due to node availability"});
  cib.options.push_back("stop-orphan-resources=false");
  CHECK(Summary(cib).empty());
}

TEST_CASE("a location rule with a date applies only in its time range") {
  CibBuilder cib;
  cib.resources = Primitive("a");
  std::string rule = absl::StrCat(
      "<rsc_location id=\"l\" rsc=\"a\"><rule id=\"r\" score=\"100\">",
      "<expression id=\"e\" attribute=\"#uname\" operation=\"eq\" value=\"n3\"/>",
      "<date_expression id=\"d\" operation=\"gt\" start=\"%s\"/></rule></rsc_location>");
  cib.constraints = absl::StrReplaceAll(rule, {{"%s", "2020-01-01"}});
  CHECK(Summary(cib) == Lines{"* Start a ( n3 )"});
  cib.constraints = absl::StrReplaceAll(rule, {{"%s", "2030-01-01"}});
  CHECK(Summary(cib) == Lines{"* Start a ( n1 )"});
}

TEST_CASE("a resource active on two nodes is stopped on both and started on one") {
  CibBuilder cib;
  cib.resources = Primitive("a");
  cib.Running("a", "n1").Running("a", "n2");
  auto lines = Summary(cib);
  REQUIRE_FALSE(lines.empty());
  auto ws = Schedule(cib.Xml(), std::nullopt);
  REQUIRE(ws.ok());
  int stops = 0;
  for (const auto& action : (*ws)->actions)
    if (action->task == "stop" && !action->optional && action->runnable)
      ++stops;
  CHECK(stops == 2);
}

TEST_CASE("allow-migrate moves a resource by live migration, without restarting its dependents") {
  CibBuilder cib;
  cib.resources = Primitive("a", "allow-migrate=true") + Primitive("b", "resource-stickiness=100");
  cib.constraints = Location("a", "n2", "100") + "<rsc_order id=\"o\" first=\"a\" then=\"b\"/>";
  cib.Running("a", "n1").Running("b", "n3");
  CHECK(Summary(cib) == Lines{"* Migrate a ( n1 -> n2 )"});
  cib.resources = Primitive("a") + Primitive("b", "resource-stickiness=100");
  CHECK(Summary(cib) ==
        Lines{"* Move a ( n1 -> n2 )", "* Restart b ( n3 ) due to required a start"});
}

TEST_CASE("placement-strategy=utilization keeps resources off nodes without capacity") {
  // Two nodes with 2 CPUs each, three resources needing 2 CPUs: the third cannot run.
  auto utilization = [](const std::string& id) {
    return absl::StrCat("<utilization id=\"",
                        id,
                        "-u\"><nvpair id=\"",
                        id,
                        "-cpu\" name=\"cpu\" value=\"2\"/></utilization>");
  };
  CibBuilder cib;
  cib.options.push_back("placement-strategy=utilization");
  cib.nodes = {};
  cib.extra_states = {"n1", "n2"};
  for (const std::string& node : cib.extra_states)
    absl::StrAppend(&cib.node_xml_extra,
                    "<node id=\"",
                    node,
                    "\" uname=\"",
                    node,
                    "\">",
                    utilization(node),
                    "</node>");
  for (const char* id : {"a", "b", "c"})
    absl::StrAppend(&cib.resources,
                    "<primitive id=\"",
                    id,
                    "\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\">",
                    utilization(std::string(id)),
                    "</primitive>");
  CHECK(Summary(cib) == Lines{"* Start a ( n1 )", "* Start b ( n2 )"});
}

TEST_CASE("input that is not a CIB is refused with a clear error") {
  CHECK(Schedule("<cib", std::nullopt).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Schedule("<notcib/>", std::nullopt).status().message() ==
        "input has no <cib> root element");
  CHECK(Schedule("<cib/>", std::nullopt).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("clones are reported as unsupported, not mis-scheduled") {
  CibBuilder cib;
  cib.resources = "<clone id=\"c\">" + Primitive("a") + "</clone>";
  auto ws = Schedule(cib.Xml(), std::nullopt);
  REQUIRE(ws.ok());
  REQUIRE((*ws)->problems.size() == 1);
  CHECK((*ws)->problems[0].code == "unsupported-feature");
  CHECK(TransitionSummary(**ws).empty());
}

}  // namespace
}  // namespace ha::pengine
