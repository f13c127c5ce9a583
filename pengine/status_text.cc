#include "pengine/status_text.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pengine/actions.h"
#include "pengine/score.h"

namespace ha::pengine {

namespace {

std::string NodeListText(const WorkingSet& ws) {
  std::vector<std::string> online, offline, special;
  std::vector<const Node*> nodes;
  for (const auto& node : ws.nodes)
    nodes.push_back(node.get());
  std::sort(
      nodes.begin(), nodes.end(), [](const Node* a, const Node* b) { return a->uname < b->uname; });
  for (const Node* node : nodes) {
    if (node->unclean)
      special.push_back(absl::StrCat(
          "    * Node ", node->uname, ": UNCLEAN (", node->online ? "online" : "offline", ")"));
    else if (node->pending)
      special.push_back(absl::StrCat("    * Node ", node->uname, ": pending"));
    else if (node->online && node->maintenance)
      special.push_back(absl::StrCat("    * Node ", node->uname, ": maintenance"));
    else if (node->online && (node->standby || node->standby_onfail))
      special.push_back(absl::StrCat("    * Node ", node->uname, ": standby"));
    else if (node->online)
      online.push_back(node->uname);
    else
      offline.push_back(node->uname);
  }
  std::string out = "  * Node List:\n";
  for (const std::string& line : special)
    absl::StrAppend(&out, line, "\n");
  if (!online.empty())
    absl::StrAppend(&out, "    * Online: [ ", absl::StrJoin(online, " "), " ]\n");
  if (!offline.empty())
    absl::StrAppend(&out, "    * OFFLINE: [ ", absl::StrJoin(offline, " "), " ]\n");
  return out;
}

using Placement = std::map<const Resource*, std::vector<const Node*>>;

std::string ResourceLine(const Resource& rsc,
                         const std::vector<const Node*>& nodes,
                         bool failed,
                         const std::string& indent) {
  std::string state;
  if (nodes.empty()) {
    state = "Stopped";
  } else {
    std::vector<std::string> names;
    for (const Node* node : nodes)
      names.push_back(node->uname);
    state = absl::StrCat(failed ? "FAILED " : "Started ", absl::StrJoin(names, " "));
  }
  std::string flags;
  if (!rsc.managed)
    flags = " (unmanaged)";
  if (rsc.orphan)
    flags += " (ORPHANED)";
  return absl::StrCat(indent, "* ", rsc.id, "\t(", rsc.agent_text, "):\t ", state, flags, "\n");
}

std::string ResourcesText(const WorkingSet& ws, const Placement& placement, bool show_failed) {
  std::string out = "  * Full List of Resources:\n";
  for (const Resource* rsc : ws.top_level) {
    if (rsc->orphan && placement.at(rsc).empty())
      continue;
    if (rsc->IsPrimitive()) {
      absl::StrAppend(&out,
                      ResourceLine(*rsc, placement.at(rsc), show_failed && rsc->failed, "    "));
      continue;
    }
    absl::StrAppend(&out, "    * Resource Group: ", rsc->id, ":\n");
    for (const Resource* child : rsc->children)
      absl::StrAppend(
          &out, ResourceLine(*child, placement.at(child), show_failed && child->failed, "      "));
  }
  return out;
}

}  // namespace

std::string ClusterStatusText(const WorkingSet& ws) {
  Placement placement;
  for (const auto& rsc : ws.resources)
    placement[rsc.get()] = std::vector<const Node*>(rsc->running_on.begin(), rsc->running_on.end());
  return absl::StrCat(NodeListText(ws), "\n", ResourcesText(ws, placement, true));
}

std::string RevisedStatusText(const WorkingSet& ws) {
  Placement placement;
  for (const auto& rsc : ws.resources) {
    std::vector<const Node*> nodes(rsc->running_on.begin(), rsc->running_on.end());
    if (rsc->IsPrimitive() && rsc->managed) {
      for (const Action* stop : ResourceActions(ws, rsc.get(), "stop", nullptr))
        if (stop->runnable && !stop->optional)
          nodes.erase(std::remove(nodes.begin(), nodes.end(), stop->node), nodes.end());
      for (const Action* start : ResourceActions(ws, rsc.get(), "start", nullptr))
        if (start->runnable && !start->optional && start->node &&
            std::find(nodes.begin(), nodes.end(), start->node) == nodes.end())
          nodes.push_back(start->node);
    }
    placement[rsc.get()] = nodes;
  }
  // Fenced nodes are down afterwards; the node list is shown as before otherwise.
  return absl::StrCat(NodeListText(ws), "\n", ResourcesText(ws, placement, false));
}

std::vector<std::string> ExecutedActionLines(const WorkingSet& ws) {
  // Kahn's algorithm over the orderings, lowest action id first among the ready ones.
  std::map<const Action*, int> waiting;
  auto counts = [](const Action* a) { return !a->optional && a->runnable; };
  for (const auto& action : ws.actions)
    waiting[action.get()] = 0;
  for (const auto& order : ws.orders)
    if (counts(order->first) && counts(order->then))
      waiting[order->then]++;
  std::set<std::pair<int, const Action*>> ready;
  for (const auto& action : ws.actions)
    if (waiting[action.get()] == 0)
      ready.insert({action->id, action.get()});
  std::vector<std::string> lines;
  while (!ready.empty()) {
    const Action* action = ready.begin()->second;
    ready.erase(ready.begin());
    if (counts(action)) {
      if (action->task == "stonith")
        lines.push_back(
            absl::StrCat("  * Fencing ", action->node->uname, " (", action->fence_action, ")"));
      else if (action->pseudo)
        lines.push_back(absl::StrCat("  * Pseudo action:   ", action->Key()));
      else if (action->rsc)
        lines.push_back(
            absl::StrCat("  * Resource action: ",
                         action->rsc->id,
                         " ",
                         action->task,
                         action->interval_ms ? absl::StrCat("=", action->interval_ms) : "",
                         " on ",
                         action->node ? action->node->uname : "<none>"));
    }
    for (const ActionOrder* order : action->after) {
      if (!counts(action) || !counts(order->then))
        continue;
      if (--waiting[order->then] == 0)
        ready.insert({order->then->id, order->then});
    }
  }
  return lines;
}

std::vector<std::string> AllocationScoreLines(const WorkingSet& ws) {
  std::vector<std::string> lines;
  for (const auto& rsc : ws.resources) {
    if (!rsc->IsPrimitive())
      continue;
    std::vector<std::pair<std::string, int>> scores;
    for (const auto& [node, score] : rsc->final_weights)
      scores.push_back({node->uname, score});
    std::sort(scores.begin(), scores.end());
    for (const auto& [node, score] : scores)
      lines.push_back(absl::StrCat("pcmk__primitive_assign: ",
                                   rsc->id,
                                   " allocation score on ",
                                   node,
                                   ": ",
                                   ScoreToString(score)));
  }
  return lines;
}

}  // namespace ha::pengine
