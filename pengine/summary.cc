#include "pengine/summary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pengine/actions.h"

namespace ha::pengine {

namespace {

const Action* First(const std::vector<Action*>& actions) {
  return actions.empty() ? nullptr : actions.front();
}

std::string NodeName(const Node* node) {
  return node ? node->uname : "<none>";
}

// One "  * Verb rsc ( details )  due to reason" line.
std::string Item(const std::string& verb,
                 const Resource& rsc,
                 const Node* origin,
                 const Node* destination,
                 const Action* action,
                 const Action* source) {
  std::string details;
  if (!origin && destination)
    details = NodeName(destination);
  else if (origin && !destination)
    details = NodeName(origin);
  else if (origin && destination && origin != destination)
    details = absl::StrCat(NodeName(origin), " -> ", NodeName(destination));
  else
    details = NodeName(origin);
  std::string line = absl::StrCat("  * ", verb, " ", rsc.id, " ( ", details, " )");
  if (!source)
    source = action;
  if (source && !source->reason.empty()) {
    absl::StrAppend(&line, "  due to ", source->reason);
    if (action && !action->runnable)
      absl::StrAppend(&line, " (blocked)");
  } else if (action && !action->runnable) {
    absl::StrAppend(&line, "  blocked");
  }
  return line;
}

void SummarizePrimitive(const WorkingSet& ws, const Resource& rsc, std::vector<std::string>& out) {
  const Node* current = rsc.CurrentNode();
  const Node* next = rsc.assigned;
  if (!rsc.managed || rsc.blocked || (!current && !next))
    return;
  bool moving = current && next && current != next;

  const Action* start = First(ResourceActions(ws, &rsc, "start", next));
  const Node* start_node = start && start->runnable ? current : nullptr;
  const Action* stop = First(ResourceActions(ws, &rsc, "stop", start_node));

  if (rsc.role == rsc.next_role) {
    if (!next)
      return;
    const Action* migrate = First(ResourceActions(ws, &rsc, "migrate_from", next));
    if (migrate && current && migrate->runnable) {
      out.push_back(Item("Migrate", rsc, current, next, start, nullptr));
      return;
    }
    if (rsc.reload) {
      out.push_back(Item("Reload", rsc, current, next, start, nullptr));
      return;
    }
    if (!start || start->optional)
      return;
    if (!start->runnable) {
      out.push_back(
          Item("Stop", rsc, current, nullptr, stop, stop && !stop->reason.empty() ? stop : start));
    } else if (moving && current) {
      out.push_back(Item(rsc.failed ? "Recover" : "Move", rsc, current, next, stop, nullptr));
    } else if (rsc.failed) {
      out.push_back(Item("Recover", rsc, current, nullptr, stop, nullptr));
    } else {
      out.push_back(Item("Restart", rsc, current, next, start, nullptr));
    }
    return;
  }
  if (stop && (rsc.next_role == Role::kStopped || (start && !start->runnable))) {
    for (const Node* node : rsc.running_on) {
      const Action* stop_op = First(ResourceActions(ws, &rsc, "stop", node));
      out.push_back(Item("Stop",
                         rsc,
                         node,
                         nullptr,
                         stop_op,
                         stop_op && !stop_op->reason.empty() ? stop_op : start));
    }
  } else if (stop && rsc.failed) {
    out.push_back(Item("Recover", rsc, current, next, stop, start));
  } else if (moving) {
    out.push_back(Item("Move", rsc, current, next, stop, nullptr));
  } else if (stop && !stop->optional) {
    out.push_back(Item("Restart", rsc, current, next, start, nullptr));
  } else if (rsc.role == Role::kStopped && rsc.next_role > Role::kStopped) {
    out.push_back(Item("Start", rsc, current, next, start, nullptr));
  }
}

void Summarize(const WorkingSet& ws, const Resource& rsc, std::vector<std::string>& out) {
  if (rsc.IsPrimitive()) {
    SummarizePrimitive(ws, rsc, out);
    return;
  }
  for (const Resource* child : rsc.children)
    Summarize(ws, *child, out);
}

}  // namespace

std::vector<std::string> TransitionSummary(const WorkingSet& ws) {
  std::vector<std::string> out;
  for (const auto& action : ws.actions) {
    if (action->rsc || action->task != "stonith" || action->optional)
      continue;
    out.push_back(absl::StrCat("  * Fence (",
                               action->fence_action,
                               ") ",
                               NodeName(action->node),
                               " '",
                               action->reason,
                               "'"));
  }
  std::vector<const Resource*> order(ws.top_level.begin(), ws.top_level.end());
  std::stable_sort(order.begin(), order.end(), [](const Resource* a, const Resource* b) {
    return a->priority > b->priority;
  });
  for (const Resource* rsc : order)
    Summarize(ws, *rsc, out);
  return out;
}

}  // namespace ha::pengine
