#include "pengine/graph.h"

#include <sstream>

#include "absl/strings/str_cat.h"

namespace ha::pengine {

namespace {

// Only actions that will happen go into the graph.
bool InGraph(const Action& action) {
  return !action.optional && action.runnable;
}

void AppendAction(pugi::xml_node parent, const Action& action) {
  const char* tag = action.task == "stonith" ? "crm_event"
                    : action.pseudo          ? "pseudo_event"
                                             : "rsc_op";
  pugi::xml_node op = parent.append_child(tag);
  op.append_attribute("id") = action.id;
  op.append_attribute("operation") = action.task.c_str();
  std::string key = action.task == "stonith"
                        ? absl::StrCat("stonith-", action.node->uname, "-", action.fence_action)
                        : action.Key();
  op.append_attribute("operation_key") = key.c_str();
  if (action.node && !action.pseudo) {
    op.append_attribute("on_node") = action.node->uname.c_str();
    op.append_attribute("on_node_uuid") = action.node->id.c_str();
  }
  if (action.rsc && !action.pseudo) {
    pugi::xml_node primitive = op.append_child("primitive");
    primitive.append_attribute("id") = action.rsc->id.c_str();
    primitive.append_attribute("class") = action.rsc->rsc_class.c_str();
    if (!action.rsc->provider.empty())
      primitive.append_attribute("provider") = action.rsc->provider.c_str();
    primitive.append_attribute("type") = action.rsc->type.c_str();
  }
  pugi::xml_node attributes = op.append_child("attributes");
  if (action.interval_ms)
    attributes.append_attribute("CRM_meta_interval") = std::to_string(action.interval_ms).c_str();
  if (action.task == "stonith") {
    attributes.append_attribute("CRM_meta_stonith_action") = action.fence_action.c_str();
    attributes.append_attribute("CRM_meta_on_node") = action.node->uname.c_str();
  }
  if (action.rsc && !action.pseudo)
    for (const auto& [name, value] : action.rsc->params)
      attributes.append_attribute(name.c_str()) = value.c_str();
}

}  // namespace

std::string TransitionGraphXml(const WorkingSet& ws, int transition_id) {
  pugi::xml_document doc;
  pugi::xml_node graph = doc.append_child("transition_graph");
  // The cluster's own values (crm_config), Pacemaker's defaults otherwise.
  auto option = [&ws](const char* name, const char* fallback) {
    auto it = ws.raw_options.find(name);
    return it == ws.raw_options.end() ? std::string(fallback) : it->second;
  };
  graph.append_attribute("cluster-delay") = option("cluster-delay", "60s").c_str();
  graph.append_attribute("stonith-timeout") = option("stonith-timeout", "60s").c_str();
  graph.append_attribute("failed-stop-offset") = "INFINITY";
  graph.append_attribute("failed-start-offset") = "INFINITY";
  graph.append_attribute("transition_id") = transition_id;
  int synapse_id = 0;
  for (const auto& action : ws.actions) {
    if (!InGraph(*action))
      continue;
    pugi::xml_node synapse = graph.append_child("synapse");
    synapse.append_attribute("id") = synapse_id++;
    AppendAction(synapse.append_child("action_set"), *action);
    pugi::xml_node inputs = synapse.append_child("inputs");
    for (const ActionOrder* order : action->before)
      if (InGraph(*order->first))
        AppendAction(inputs.append_child("trigger"), *order->first);
  }
  std::ostringstream out;
  doc.save(out, "  ");
  return out.str();
}

std::string TransitionGraphDot(const WorkingSet& ws) {
  auto label = [](const Action& action) {
    std::string name =
        action.task == "stonith" ? absl::StrCat("stonith ", action.node->uname) : action.Key();
    if (action.node && action.task != "stonith")
      absl::StrAppend(&name, " ", action.node->uname);
    return name;
  };
  std::string out = "digraph \"g\" {\n";
  for (const auto& action : ws.actions) {
    if (action->optional && !action->after.empty() == false)
      continue;
    const char* style = !action->runnable ? "dashed" : action->optional ? "dotted" : "bold";
    const char* color = !action->runnable ? "red" : action->optional ? "blue" : "green";
    absl::StrAppend(&out,
                    "\"",
                    label(*action),
                    "\" [ style=",
                    style,
                    " color=\"",
                    color,
                    "\" fontcolor=\"black\"]\n");
  }
  for (const auto& order : ws.orders) {
    if (order->first->optional && order->then->optional)
      continue;
    absl::StrAppend(&out,
                    "\"",
                    label(*order->first),
                    "\" -> \"",
                    label(*order->then),
                    "\" [ style = ",
                    InGraph(*order->then) ? "bold" : "dashed",
                    "]\n");
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

}  // namespace ha::pengine
