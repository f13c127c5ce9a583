// The CIB root, cluster options (crm_config) and the node list.
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pengine/score.h"
#include "pengine/unpack.h"

namespace ha::pengine {

bool IsTrue(std::string_view text) {
  std::string lower = absl::AsciiStrToLower(std::string(text));
  return lower == "true" || lower == "on" || lower == "yes" || lower == "y" || lower == "1";
}

int64_t ParseDurationMs(std::string_view text, int64_t fallback) {
  if (text.empty())
    return fallback;
  std::optional<int64_t> ms = ParseIntervalMs(text);
  return ms ? *ms : fallback;
}

absl::Status UnpackCib(std::string_view cib_xml, std::optional<int64_t> now, WorkingSet& ws) {
  pugi::xml_parse_result parsed =
      ws.doc.load_buffer(cib_xml.data(), cib_xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!parsed)
    return absl::InvalidArgumentError(absl::StrCat(
        "input is not well-formed XML at offset ", parsed.offset, ": ", parsed.description()));
  pugi::xml_node cib = ws.doc.child("cib");
  if (!cib)
    return absl::InvalidArgumentError("input has no <cib> root element");
  if (!cib.child("configuration"))
    return absl::InvalidArgumentError("<cib> has no <configuration> element");
  ws.ids = std::make_unique<IdIndex>(cib);
  int64_t execution_date = 0;
  if (absl::SimpleAtoi(cib.attribute("execution-date").value(), &execution_date))
    ws.now = execution_date;
  else
    ws.now = now.value_or(0);
  ws.options.have_quorum = IsTrue(cib.attribute("have-quorum").value());
  ws.dc_uuid = cib.attribute("dc-uuid").value();
  ws.per_op_fail_counts = static_cast<bool>(cib.attribute("crm_feature_set"));

  UnpackClusterOptions(ws);
  ws.options.suicide = !ws.options.have_quorum && ws.options.stonith_enabled &&
                       ws.options.no_quorum_policy == "suicide" &&
                       IsTrue(cib.attribute("no-quorum-panic").value());
  UnpackNodes(ws);
  UnpackResources(ws);
  UnpackStatus(ws);
  if (ws.options.suicide) {
    // Without quorum, with no-quorum-policy=suicide, this partition fences itself.
    for (auto& node : ws.nodes)
      if (node->online && !node->unclean) {
        node->unclean = true;
        node->fence_reason = "cluster does not have quorum";
      }
  }
  UnpackConstraints(ws);
  return absl::OkStatus();
}

void UnpackClusterOptions(WorkingSet& ws) {
  pugi::xml_node config = ws.doc.child("cib").child("configuration");
  RuleContext context;
  context.now = ws.now;
  std::map<std::string, std::string> values;
  UnpackAttributeSets(config.child("crm_config"),
                      "cluster_property_set",
                      context,
                      *ws.ids,
                      values,
                      "cib-bootstrap-options");
  auto get = [&](const char* name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end())
      return std::nullopt;
    return it->second;
  };
  ws.raw_options = values;
  ClusterOptions& o = ws.options;
  if (auto v = get("stonith-enabled"))
    o.stonith_enabled = IsTrue(*v);
  if (auto v = get("symmetric-cluster"))
    o.symmetric = IsTrue(*v);
  if (auto v = get("no-quorum-policy"))
    o.no_quorum_policy = *v;
  if (auto v = get("stop-orphan-resources"))
    o.stop_orphan_resources = IsTrue(*v);
  if (auto v = get("stop-orphan-actions"))
    o.stop_orphan_actions = IsTrue(*v);
  if (auto v = get("start-failure-is-fatal"))
    o.start_failure_is_fatal = IsTrue(*v);
  if (auto v = get("maintenance-mode"))
    o.maintenance_mode = IsTrue(*v);
  if (auto v = get("startup-fencing"))
    o.startup_fencing = IsTrue(*v);
  if (auto v = get("stonith-action"))
    o.stonith_action = *v == "poweroff" ? "off" : *v;
  if (auto v = get("placement-strategy"))
    o.placement_strategy = *v;
  if (auto v = get("default-resource-stickiness"))
    o.default_stickiness = ParseScore(*v);
  if (auto v = get("node-health-strategy"))
    o.node_health_strategy = *v;
  if (auto v = get("node-health-red"))
    o.node_health_red = ParseScore(*v);
  if (auto v = get("node-health-yellow"))
    o.node_health_yellow = ParseScore(*v);
  if (auto v = get("node-health-green"))
    o.node_health_green = ParseScore(*v);
  if (auto v = get("stop-all-resources"))
    o.stop_all_resources = IsTrue(*v);
  if (auto v = get("shutdown-lock"))
    o.shutdown_lock = IsTrue(*v);
  if (auto v = get("priority-fencing-delay"))
    o.priority_fencing_delay_ms = ParseDurationMs(*v, 0);
  if (o.no_quorum_policy == "suicide" && !o.stonith_enabled)
    o.no_quorum_policy = "stop";
  if (!o.stonith_enabled)
    o.startup_fencing = false;
}

void UnpackNodes(WorkingSet& ws) {
  pugi::xml_node nodes = ws.doc.child("cib").child("configuration").child("nodes");
  RuleContext context;
  context.now = ws.now;
  int order = 0;
  for (pugi::xml_node xml : nodes.children("node")) {
    auto node = std::make_unique<Node>();
    node->id = xml.attribute("id").value();
    node->uname = xml.attribute("uname").value();
    if (node->uname.empty())
      node->uname = node->id;
    if (xml.attribute("type"))
      node->type = xml.attribute("type").value();
    if (node->type == "normal")
      node->type = "member";
    node->order = order++;
    if (ws.FindNode(node->uname)) {
      ws.Error("duplicate-node", absl::StrCat("node ", node->uname, " is listed twice"));
      continue;
    }
    // Until its node_state is seen, a node is unclean when startup fencing is on.
    node->unclean = ws.options.startup_fencing && node->type != "ping";
    node->fence_reason = "node is unclean";
    UnpackAttributeSets(xml, "instance_attributes", context, *ws.ids, node->attributes);
    std::map<std::string, std::string> utilization;
    UnpackAttributeSets(xml, "utilization", context, *ws.ids, utilization);
    for (const auto& [name, value] : utilization) {
      int64_t amount = 0;
      if (absl::SimpleAtoi(value, &amount))
        node->utilization[name] = amount;
    }
    node->is_dc = node->id == ws.dc_uuid;
    ws.nodes.push_back(std::move(node));
  }
}

}  // namespace ha::pengine
