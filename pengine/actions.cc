// Actions and their orderings: what each resource must do to get from its current state to its
// assigned one, fencing of unclean nodes, the orderings from constraints and groups, and the
// propagation of "mandatory" and "unrunnable" along them.
#include "pengine/actions.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pengine/digest.h"
#include "pengine/score.h"

namespace ha::pengine {

namespace {

class ActionBuilder {
 public:
  explicit ActionBuilder(WorkingSet& ws) : ws_(ws) {}

  void Run() {
    CreateFencing();
    for (auto& rsc : ws_.resources) {
      if (rsc->IsPrimitive())
        CreatePrimitiveActions(*rsc);
      else
        CreateGroupActions(*rsc);
    }
    for (auto& rsc : ws_.resources)
      if (rsc->IsPrimitive())
        OrderPrimitiveInternals(*rsc);
    for (auto& rsc : ws_.resources)
      if (!rsc->IsPrimitive())
        OrderGroupInternals(*rsc);
    for (const OrderConstraint& order : ws_.order_constraints)
      ApplyOrderConstraint(order);
    ImplyStopsByFencing();
    Propagate();
  }

 private:
  // Finds the action, or creates it (optional as asked). Asking for a mandatory action makes
  // an existing optional one mandatory.
  Action* Get(Resource* rsc,
              const std::string& task,
              Node* node,
              bool optional,
              int64_t interval_ms = 0,
              bool pseudo = false) {
    for (Action* action : by_rsc_[rsc]) {
      if (action->task == task && action->node == node && action->interval_ms == interval_ms) {
        if (!optional)
          action->optional = false;
        return action;
      }
    }
    auto action = std::make_unique<Action>();
    action->id = static_cast<int>(ws_.actions.size());
    action->rsc = rsc;
    action->task = task;
    action->node = node;
    action->interval_ms = interval_ms;
    action->optional = optional;
    action->pseudo = pseudo;
    SetInitialRunnable(*action);
    Action* raw = action.get();
    ws_.actions.push_back(std::move(action));
    by_rsc_[rsc].push_back(raw);
    ws_.actions_by_rsc[rsc].push_back(raw);
    return raw;
  }

  void SetInitialRunnable(Action& action) {
    action.runnable = true;
    if (action.pseudo)
      return;
    if (!action.node) {
      action.runnable = false;
      return;
    }
    if (action.task == "stonith")
      return;
    if (!action.node->online) {
      action.runnable = false;
      return;
    }
    if (action.node->pending) {
      action.runnable = false;
      return;
    }
    bool needs_quorum = action.task == "start" || action.task == "promote";
    if (!needs_quorum || !action.rsc || action.rsc->requires_ == "nothing")
      return;
    if (ws_.options.have_quorum)
      return;
    if (ws_.options.no_quorum_policy == "ignore")
      return;
    if (ws_.options.no_quorum_policy != "freeze") {
      action.runnable = false;
      action.reason = "no quorum";
    } else {
      Resource* rsc = action.rsc;
      if (rsc->running_on.empty() || rsc->next_role > rsc->role) {
        action.runnable = false;
        action.reason = "quorum freeze";
      }
    }
  }

  bool CanFence(const Node& node) const {
    if (!ws_.options.stonith_enabled)
      return false;
    (void)node;
    return ws_.options.have_quorum || ws_.options.no_quorum_policy == "ignore" ||
           ws_.options.no_quorum_policy == "suicide";
  }

  void CreateFencing() {
    std::vector<Node*> nodes;
    for (auto& node : ws_.nodes)
      nodes.push_back(node.get());
    // Pacemaker lists fencing in reverse node order.
    std::reverse(nodes.begin(), nodes.end());
    for (Node* node_ptr : nodes) {
      Node* node = node_ptr;
      if (!node->unclean || !CanFence(*node))
        continue;
      auto action = std::make_unique<Action>();
      action->id = static_cast<int>(ws_.actions.size());
      action->task = "stonith";
      action->node = node;
      action->optional = false;
      action->runnable = true;
      action->fence_action = ws_.options.stonith_action;
      action->reason = node->fence_reason;
      fencing_[node] = action.get();
      ws_.actions.push_back(std::move(action));
    }
  }

  void StopOn(Resource& rsc, bool optional) {
    for (Node* node : rsc.running_on) {
      Action* stop = Get(&rsc, "stop", node, optional);
      if (!rsc.assigned && stop->reason.empty())
        stop->reason = "node availability";
      if (!rsc.managed || rsc.blocked)
        stop->runnable = false;
    }
  }

  void StartOn(Resource& rsc, Node* node, bool optional) {
    Action* start = Get(&rsc, "start", node, true);
    if (start->runnable && !optional)
      start->optional = false;
  }

  void CreatePrimitiveActions(Resource& rsc) {
    if (rsc.role == Role::kPromoted || rsc.role == Role::kUnpromoted)
      rsc.role = Role::kStarted;
    if (rsc.next_role == Role::kPromoted || rsc.next_role == Role::kUnpromoted)
      rsc.next_role = Role::kStarted;
    if (rsc.next_role == Role::kUnknown)
      rsc.next_role = rsc.assigned ? Role::kStarted : Role::kStopped;
    if (rsc.role == Role::kUnknown)
      rsc.role = Role::kStopped;
    if (!rsc.managed || rsc.blocked) {
      // Left alone, but its actions exist (optional) so that orderings through it hold.
      if (rsc.role == Role::kStarted) {
        StopOn(rsc, true);
        if (rsc.assigned)
          Get(&rsc, "start", rsc.assigned, true);
      }
      return;
    }
    Node* current = rsc.CurrentNode();
    Node* chosen = rsc.assigned;
    bool need_stop = false;
    if (rsc.running_on.size() > 1) {
      if (rsc.multiple_active == "stop_only") {
        rsc.next_role = Role::kStopped;
        rsc.assigned = chosen = nullptr;
      }
      need_stop = true;
    }
    if (current && chosen && current != chosen) {
      need_stop = true;
    } else if (rsc.failed) {
      need_stop = true;
    }
    if (rsc.role == Role::kStarted)
      StopOn(rsc, !need_stop);
    if (rsc.role == Role::kStarted && rsc.next_role == Role::kStarted && chosen)
      StartOn(rsc, chosen, !need_stop);
    if (rsc.role == Role::kStarted && rsc.next_role == Role::kStopped)
      StopOn(rsc, false);
    if (rsc.role == Role::kStopped && rsc.next_role == Role::kStarted)
      StartOn(rsc, chosen, false);
    if (rsc.role == Role::kStarted && rsc.next_role == Role::kStarted && current == chosen &&
        !need_stop)
      CheckDefinition(rsc, chosen);
    if (rsc.next_role != Role::kStopped && chosen)
      CreateMonitors(rsc, chosen);
    // A live migration instead of stop + start, where the agent and the situation allow it.
    bool moving = current && chosen && current != chosen && rsc.running_on.size() == 1;
    if (moving && rsc.allow_migrate && !rsc.failed && !rsc.pending_start && current->online &&
        !current->unclean && rsc.next_role == Role::kStarted) {
      Action* migrate_to = Get(&rsc, "migrate_to", current, false);
      Action* migrate_from = Get(&rsc, "migrate_from", chosen, false);
      Order(migrate_to, migrate_from, kOrderRunnableLeft | kOrderImpliesThen);
      for (Action* stop : Actions(&rsc, "stop")) {
        Order(migrate_from, stop, kOrderOptional);
        migrating_starts_.insert(stop);
      }
      for (Action* start : Actions(&rsc, "start")) {
        Order(start, migrate_to, kOrderRunnableLeft);  // needs the start to be possible
        migrating_starts_.insert(start);
      }
    }
  }

  // Restarts (or reloads) a resource whose parameters changed since it was started here.
  void CheckDefinition(Resource& rsc, Node* node) {
    auto it = rsc.last_start_op.find(node);
    if (it == rsc.last_start_op.end())
      return;
    pugi::xml_node op = it->second;
    std::string recorded = op.attribute("op-digest").value();
    std::string recorded_restart = op.attribute("op-restart-digest").value();
    bool restart = false;
    if (!recorded_restart.empty()) {
      std::set<std::string> names =
          absl::StrSplit(op.attribute("op-force-restart").value(), ' ', absl::SkipEmpty());
      restart = ParametersDigest(rsc.params, names) != recorded_restart;
    }
    bool changed = recorded.empty() || recorded != ParametersDigest(rsc.params);
    // A CIB with its secrets masked ("****") is compared by the digest without them (and
    // without the fencer's own pcmk_* options), as Pacemaker's simulations do.
    std::string recorded_secure = op.attribute("op-secure-digest").value();
    if (changed && !recorded_secure.empty()) {
      std::set<std::string> secret =
          absl::StrSplit(op.attribute("op-secure-params").value(), ' ', absl::SkipEmpty());
      std::map<std::string, std::string> shown;
      for (const auto& [name, value] : rsc.params)
        if (!secret.count(name) && name.rfind("pcmk_", 0) != 0)
          shown[name] = value;
      changed = ParametersDigest(shown) != recorded_secure;
    }
    if (!restart && !changed)
      return;
    if (!restart && !recorded_restart.empty()) {
      rsc.reload = true;
      return;
    }
    Action* start = Get(&rsc, "start", node, true);
    if (start->reason.empty())
      start->reason = "resource definition change";
    if (start->runnable)
      start->optional = false;
  }

  void CreateMonitors(Resource& rsc, Node* node) {
    Action* start = Get(&rsc, "start", node, true);
    for (const OpConfig& op : rsc.ops) {
      if (op.name != "monitor" || op.interval_ms <= 0 || !op.enabled)
        continue;
      if (!op.role.empty() && op.role != "Started")
        continue;
      bool active = false;
      auto it = rsc.active_monitors.find(node);
      if (it != rsc.active_monitors.end())
        for (const auto& [task, interval] : it->second)
          active |= interval == op.interval_ms;
      Action* monitor = Get(&rsc, "monitor", node, start->optional && active, op.interval_ms);
      Order(start, monitor, kOrderRunnableLeft);
    }
  }

  void CreateGroupActions(Resource& group) {
    for (const char* task : {"start", "running", "stop", "stopped"})
      Get(&group, task, nullptr, true, 0, /*pseudo=*/true);
  }

  void OrderPrimitiveInternals(Resource& rsc) {
    // Every stop before every start: a mandatory stop makes the start mandatory, and the other
    // way round (the "restart" rule below, in Propagate).
    for (Action* stop : by_rsc_[&rsc]) {
      if (stop->task != "stop")
        continue;
      for (Action* start : by_rsc_[&rsc])
        if (start->task == "start")
          Order(stop, start, kOrderImpliesThen | kOrderRestart);
    }
  }

  void OrderGroupInternals(Resource& group) {
    Action* start = Get(&group, "start", nullptr, true, 0, true);
    Action* running = Get(&group, "running", nullptr, true, 0, true);
    Action* stop = Get(&group, "stop", nullptr, true, 0, true);
    Action* stopped = Get(&group, "stopped", nullptr, true, 0, true);
    Order(start, running, kOrderRunnableLeft);
    Order(stop, stopped, kOrderRunnableLeft);
    Order(stopped, start, kOrderOptional);
    Resource* previous = nullptr;
    for (Resource* child : group.children) {
      // The group is running only when every member can be: a member that cannot start
      // (disabled, banned, unmanaged and stopped) makes "running" unrunnable.
      for (Action* a : ActionsOrPlaceholder(child, "start")) {
        Order(start, a, kOrderRunnableLeft | kOrderImpliesFirst);
        Order(a, running, kOrderImpliesThen | kOrderRunnableLeft);
      }
      for (Action* a : Actions(child, "stop")) {
        Order(stop, a, kOrderImpliesFirst);
        Order(a, stopped, kOrderImpliesThen);
      }
      if (previous && group.group_ordered) {
        for (Action* first : ActionsOrPlaceholder(previous, "start"))
          for (Action* then : Actions(child, "start"))
            Order(first, then, kOrderImpliesThen | kOrderRunnableLeft);
        // A member that cannot stop keeps the ones before it from stopping.
        for (Action* first : Actions(child, "stop"))
          for (Action* then : Actions(previous, "stop"))
            Order(first, then, kOrderRunnableLeft);
      }
      previous = child;
    }
  }

  std::vector<Action*> Actions(Resource* rsc, std::string_view task) {
    std::vector<Action*> out;
    for (Action* action : by_rsc_[rsc])
      if (action->task == task && action->interval_ms == 0)
        out.push_back(action);
    return out;
  }

  std::vector<Action*> ActionsOrPlaceholder(Resource* rsc, const std::string& task) {
    std::vector<Action*> out = Actions(rsc, task);
    if (out.empty() && task != "stop")
      out.push_back(Get(rsc, task, nullptr, true));
    return out;
  }

  void ApplyOrderConstraint(const OrderConstraint& order) {
    std::string first_task = order.first_action;
    std::string then_task = order.then_action;
    if (!order.first->IsPrimitive()) {
      if (first_task == "start")
        first_task = "running";
      if (first_task == "stop")
        first_task = "stopped";
    }
    uint32_t flags = 0;
    switch (order.kind) {
      case OrderKind::kOptional:
        flags = kOrderOptional;
        break;
      case OrderKind::kSerialize:
        flags = kOrderSerialize;
        break;
      case OrderKind::kMandatory:
        if (order.inverse) {
          flags = kOrderImpliesFirst;
        } else if (!order.symmetrical) {
          // One direction only: "then" cannot start without "first", nothing more (what
          // already runs is not stopped for it).
          if (order.first_action == "start" || order.first_action == "promote")
            flags |= kOrderRunnableLeftIfRequired;
        } else {
          flags = kOrderImpliesThen;
          if (order.first_action == "start" || order.first_action == "promote")
            flags |= kOrderRunnableLeft;
        }
        break;
    }
    // The deprecated restart-type=restart makes any ordering restart its "then" resource.
    auto restart_type = order.then->meta.find("restart-type");
    if (!order.inverse && restart_type != order.then->meta.end() &&
        restart_type->second == "restart")
      flags |= kOrderImpliesThen;
    if (!order.any_of.empty()) {
      // first -> one-or-more pseudo-action -> then.
      Action*& meeting = one_or_more_[order.any_of];
      if (!meeting) {
        meeting = Get(nullptr, order.any_of, nullptr, true, 0, /*pseudo=*/true);
        meeting->runnable = true;
      }
      std::vector<Action*> any_firsts = order.first->IsPrimitive()
                                            ? ActionsOrPlaceholder(order.first, first_task)
                                            : Actions(order.first, first_task);
      for (Action* first : any_firsts)
        Order(first, meeting, kOrderRunnableAny);
      for (Action* then : Actions(order.then, then_task))
        if (std::find_if(meeting->after.begin(), meeting->after.end(), [&](ActionOrder* o) {
              return o->then == then;
            }) == meeting->after.end())
          Order(meeting, then, flags);
      return;
    }
    std::vector<Action*> firsts = order.first->IsPrimitive()
                                      ? ActionsOrPlaceholder(order.first, first_task)
                                      : Actions(order.first, first_task);
    std::vector<Action*> thens = Actions(order.then, then_task);
    // An ordering before a group holds for each of its members too (Pacemaker updates the
    // members' actions with the group's), so their reasons name the real first action.
    if (!order.then->IsPrimitive())
      for (Resource* child : order.then->children)
        for (Action* action : Actions(child, then_task))
          thens.push_back(action);
    for (Action* first : firsts)
      for (Action* then : thens) {
        // A second configured order between the same two actions adds nothing: the first one
        // configured stands (Pacemaker keeps one ordering per pair).
        bool already = false;
        for (const ActionOrder* existing : then->before)
          already |= existing->first == first && configured_.count(existing);
        if (already)
          continue;
        Order(first, then, flags);
        configured_.insert(ws_.orders.back().get());
      }
  }

  void ImplyStopsByFencing() {
    for (auto& rsc : ws_.resources) {
      if (!rsc->IsPrimitive())
        continue;
      for (Action* stop : Actions(rsc.get(), "stop")) {
        auto fence = fencing_.find(stop->node);
        if (fence == fencing_.end())
          continue;
        // The node's fencing stops the resource: no agent call, only ordering.
        stop->pseudo = true;
        stop->runnable = true;
        stop->optional = false;
        Order(fence->second, stop, kOrderImpliesThen);
        for (Action* start : Actions(rsc.get(), "start"))
          Order(fence->second, start, kOrderNone);
      }
    }
  }

  void Order(Action* first, Action* then, uint32_t flags) {
    auto order = std::make_unique<ActionOrder>();
    order->first = first;
    order->then = then;
    order->flags = flags;
    first->after.push_back(order.get());
    then->before.push_back(order.get());
    ws_.orders.push_back(std::move(order));
  }

  static std::string Describe(const Action* action) {
    if (!action->rsc)
      return action->task;
    return absl::StrCat(action->rsc->id, " ", action->task);
  }

  static Resource* FirstPrimitive(Resource* rsc) {
    while (rsc && !rsc->IsPrimitive())
      rsc = rsc->children.empty() ? nullptr : rsc->children.front();
    return rsc;
  }

  static bool Frozen(const Action* action) {
    return action->rsc && (!action->rsc->managed || action->rsc->blocked);
  }

  void Propagate() {
    bool changed = true;
    int rounds = 0;
    while (changed && rounds++ < 1000) {
      changed = false;
      // A resource that must run with another cannot start where that one cannot.
      for (const Colocation& c : ws_.colocations) {
        if (c.score < kInfinity)
          continue;
        Resource* dependent = FirstPrimitive(c.dependent);
        // Only with a primitive: Pacemaker does not block a group's dependents this way.
        if (!c.primary->IsPrimitive())
          continue;
        Resource* primary = c.primary;
        if (!dependent || !primary || !dependent->assigned)
          continue;
        const std::vector<Action*> primary_starts = Actions(primary, "start");
        if (primary_starts.empty())
          continue;
        bool primary_can_start = false;
        for (Action* a : primary_starts)
          primary_can_start |= a->runnable;
        if (primary_can_start)
          continue;
        for (Action* start : Actions(dependent, "start")) {
          if (!start->runnable || start->node != dependent->assigned)
            continue;
          start->runnable = false;
          if (start->reason.empty())
            start->reason = "colocation with " + primary->id;
          changed = true;
        }
      }
      // A one-or-more pseudo-action stays runnable while any of its firsts is.
      for (auto& [name, meeting] : one_or_more_) {
        if (!meeting->runnable)
          continue;
        bool any = false;
        for (ActionOrder* o : meeting->before)
          any |= (o->flags & kOrderRunnableAny) && o->first->runnable;
        if (!any) {
          meeting->runnable = false;
          changed = true;
        }
      }
      // "Required" first, each action taking its orderings newest first, actions in creation
      // order: the order Pacemaker's update walks them in, which decides whose reason shows.
      for (const auto& action : ws_.actions) {
        for (auto it = action->before.rbegin(); it != action->before.rend(); ++it) {
          ActionOrder& order = **it;
          Action* first = order.first;
          Action* then = order.then;
          if ((order.flags & kOrderImpliesThen) && !first->optional && then->optional &&
              !(migrating_starts_.count(first) && then->rsc != first->rsc) && !Frozen(then)) {
            then->optional = false;
            if (then->reason.empty())
              then->reason = "required " + Describe(first);
            changed = true;
          }
        }
      }
      for (auto& order_ptr : ws_.orders) {
        ActionOrder& order = *order_ptr;
        Action* first = order.first;
        Action* then = order.then;
        if ((order.flags & kOrderRunnableLeftIfRequired) && !first->runnable && then->runnable &&
            !then->optional) {
          then->runnable = false;
          if (then->reason.empty())
            then->reason = "unrunnable " + Describe(first);
          changed = true;
        }
        if ((order.flags & kOrderRunnableLeft) && !first->runnable && then->runnable) {
          then->runnable = false;
          if (then->reason.empty())
            then->reason = "unrunnable " + Describe(first);
          changed = true;
        }
        if ((order.flags & kOrderImpliesFirst) && !then->optional && first->optional &&
            !(migrating_starts_.count(then) && then->rsc != first->rsc) && !Frozen(first)) {
          first->optional = false;  // no reason: the summary names the start's
          changed = true;
        }
        if (order.flags & kOrderRestart) {
          // first = stop, then = start of one resource.
          bool shutdown = !then->runnable;
          bool recover = !then->optional;
          if ((shutdown || recover) && first->optional && (first->runnable || !then->optional) &&
              !Frozen(first)) {
            first->optional = false;
            changed = true;
          }
          // A stop that must happen but cannot blocks the start.
          if (!first->optional && !first->runnable && then->runnable) {
            then->runnable = false;
            changed = true;
          }
        }
      }
    }
  }

  WorkingSet& ws_;
  std::map<Resource*, std::vector<Action*>> by_rsc_;
  std::map<Node*, Action*> fencing_;
  std::map<std::string, Action*> one_or_more_;
  std::set<const ActionOrder*> configured_;  // orders that come from constraints
  // The start and stop of a live migration: they make nothing ordered with them restart.
  std::set<Action*> migrating_starts_;
};

}  // namespace

void CreateActions(WorkingSet& ws) {
  ActionBuilder(ws).Run();
}

std::vector<Action*> ResourceActions(const WorkingSet& ws,
                                     const Resource* rsc,
                                     std::string_view task,
                                     const Node* node) {
  std::vector<Action*> out;
  auto list = ws.actions_by_rsc.find(rsc);
  if (list == ws.actions_by_rsc.end())
    return out;
  for (Action* action : list->second)
    if (action->task == task && action->interval_ms == 0 && (!node || action->node == node))
      out.push_back(action);
  return out;
}

}  // namespace ha::pengine
