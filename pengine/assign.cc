// Placement: node weights from locations, stickiness and fail counts, then each resource to
// the best node, colocations pulling dependents to (or away from) their primaries, the way
// Pacemaker's scheduler does it (Pacemaker Explained, "Resource placement"; crm_simulate -s
// prints the scores this file computes).
#include "pengine/assign.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "pengine/score.h"

namespace ha::pengine {

namespace {

using Weights = std::map<Node*, int>;

enum MergeFlags : unsigned {
  kMergeInit = 1,
  kMergeForward = 2,
  kMergeRollback = 4,
  kMergePositive = 8,
};

std::string NodeAttribute(const Node* node, const std::string& name) {
  auto it = node->attributes.find(name);
  return it == node->attributes.end() ? std::string() : it->second;
}

bool SameValue(const std::string& a, const std::string& b) {
  return absl::AsciiStrToLower(a) == absl::AsciiStrToLower(b);
}

class Assigner {
 public:
  explicit Assigner(WorkingSet& ws) : ws_(ws) {}

  void Run() {
    AddGroupInternalColocations();
    InitialWeights();
    ApplyLocations();
    ApplyStickinessAndFailures();
    ApplyNodeHealth();
    ApplyTickets();
    IndexColocations();
    for (auto& node : ws_.nodes)
      node->remaining = node->utilization;
    std::vector<Resource*> order = ws_.top_level;
    std::stable_sort(order.begin(), order.end(), [](const Resource* a, const Resource* b) {
      return a->priority > b->priority;
    });
    if (UsesUtilization())
      SortByPlacementScores(order);
    for (Resource* rsc : order)
      Assign(rsc);
  }

 private:
  static Resource* FirstMember(Resource* rsc) {
    while (!rsc->IsPrimitive() && !rsc->children.empty())
      rsc = rsc->children.front();
    return rsc;
  }
  static Resource* LastMember(Resource* rsc) {
    while (!rsc->IsPrimitive() && !rsc->children.empty())
      rsc = rsc->children.back();
    return rsc;
  }

  void AddGroupInternalColocations() {
    for (auto& rsc : ws_.resources) {
      if (rsc->IsPrimitive() || !rsc->group_colocated)
        continue;
      for (size_t i = 1; i < rsc->children.size(); ++i)
        internal_.push_back({"group:internal_colocation",
                             rsc->children[i],
                             rsc->children[i - 1],
                             kInfinity,
                             Role::kUnknown,
                             Role::kUnknown,
                             "#uname",
                             rsc->children[i]->critical});
    }
  }

  void InitialWeights() {
    for (auto& rsc : ws_.resources) {
      rsc->allowed.clear();
      if (ws_.options.symmetric)
        for (auto& node : ws_.nodes)
          rsc->allowed[node.get()] = 0;
    }
  }

  void AddWeight(Resource* rsc, Node* node, int score) {
    auto it = rsc->allowed.find(node);
    if (it == rsc->allowed.end())
      rsc->allowed[node] = score;
    else
      it->second = AddScores(it->second, score);
    for (Resource* child : rsc->children)
      AddWeight(child, node, score);
  }

  void ApplyLocations() {
    for (const LocationConstraint& location : ws_.locations) {
      if (location.role != Role::kUnknown && location.role != Role::kStarted)
        continue;
      for (const auto& [node, score] : location.node_scores)
        AddWeight(location.rsc, node, score);
    }
  }

  void ApplyStickinessAndFailures() {
    for (auto& rsc : ws_.resources) {
      if (!rsc->IsPrimitive())
        continue;
      if (rsc->managed && rsc->stickiness != 0 && rsc->running_on.size() == 1) {
        Node* node = rsc->running_on.front();
        auto it = rsc->allowed.find(node);
        if (it != rsc->allowed.end())
          it->second = AddScores(it->second, rsc->stickiness);
      }
      // An unmanaged resource stays where it runs, and pulls what must go with it there.
      if (!rsc->managed && !rsc->orphan)
        for (Node* node : rsc->running_on)
          rsc->allowed[node] = kInfinity;
      for (const auto& [node, count] : rsc->fail_counts) {
        if (count < rsc->migration_threshold)
          continue;
        rsc->allowed[node] = -kInfinity;
      }
    }
  }

  // node-health-strategy: the "#health*" node attributes (red/yellow/green or a score) become
  // a node score for every resource that does not allow unhealthy nodes.
  void ApplyNodeHealth() {
    const ClusterOptions& o = ws_.options;
    if (o.node_health_strategy == "none" || o.node_health_strategy.empty())
      return;
    ScoreColours colours;
    if (o.node_health_strategy == "migrate-on-red") {
      colours = {-kInfinity, 0, 0};
    } else if (o.node_health_strategy == "only-green") {
      colours = {-kInfinity, -kInfinity, 0};
    } else {
      colours = {o.node_health_red, o.node_health_yellow, o.node_health_green};
    }
    for (auto& node : ws_.nodes) {
      int health = 0;
      for (const auto& [name, value] : node->attributes)
        if (name.rfind("#health", 0) == 0)
          health = AddScores(health, ParseScore(value, colours));
      if (health == 0)
        continue;
      for (Resource* rsc : ws_.top_level) {
        auto allow = rsc->meta.find("allow-unhealthy-nodes");
        if (allow != rsc->meta.end() && (allow->second == "true" || allow->second == "1"))
          continue;
        AddWeight(rsc, node.get(), health);
      }
    }
  }

  void ApplyTickets() {
    for (const TicketConstraint& tc : ws_.ticket_constraints) {
      const Ticket& ticket = ws_.tickets[tc.ticket];
      if (ticket.granted && !ticket.standby)
        continue;
      if (tc.role == Role::kPromoted)
        continue;
      bool running = !tc.rsc->running_on.empty();
      // A revoked ticket applies the loss-policy; a ticket in standby just stops.
      if (running && tc.loss_policy == "freeze" && !ticket.granted)
        continue;
      if (running && tc.loss_policy == "fence" && !ticket.granted) {
        for (Node* node : tc.rsc->running_on) {
          if (!node->unclean)
            node->fence_reason = "deadman ticket was lost";
          node->unclean = true;
        }
      }
      for (auto& node : ws_.nodes)
        AddWeight(tc.rsc, node.get(), -kInfinity);
    }
  }

  void IndexColocations() {
    auto add = [&](const Colocation* c) {
      Resource* dependent = FirstMember(c->dependent);
      Resource* primary_side = LastMember(c->primary);
      this_with_[dependent].push_back(c);
      with_this_[primary_side].push_back(c);
    };
    for (const Colocation& c : ws_.colocations)
      add(&c);
    for (const Colocation& c : internal_)
      add(&c);
    // Pacemaker's order: higher priority first, groups before primitives, then by id.
    auto before = [](const Resource* a, const Resource* b) {
      if (a->priority != b->priority)
        return a->priority > b->priority;
      if (a->IsPrimitive() != b->IsPrimitive())
        return !a->IsPrimitive();
      return a->id < b->id;
    };
    for (auto& [rsc, list] : this_with_)
      std::stable_sort(list.begin(), list.end(), [&](const Colocation* a, const Colocation* b) {
        return before(a->primary, b->primary);
      });
    for (auto& [rsc, list] : with_this_)
      std::stable_sort(list.begin(), list.end(), [&](const Colocation* a, const Colocation* b) {
        return before(a->dependent, b->dependent);
      });
  }

  bool CanRunAny(const Weights& weights) const {
    for (const auto& [node, weight] : weights)
      if (weight >= 0 && node->CanRunResources())
        return true;
    return false;
  }

  static bool HasInfluence(const Colocation* c) {
    return c->influence || c->primary->running_on.empty();
  }

  void Assign(Resource* rsc) {
    if (rsc->IsPrimitive())
      AssignPrimitive(rsc);
    else
      AssignGroup(rsc);
  }

  void AssignGroup(Resource* group) {
    if (!group->provisional || group->assigning)
      return;
    group->assigning = true;
    for (Resource* child : group->children)
      AssignPrimitive(child);
    if (!group->children.empty()) {
      group->next_role = group->children.front()->next_role;
      group->assigned = group->children.front()->assigned;
    }
    group->assigning = false;
    group->provisional = false;
  }

  void AssignPrimitive(Resource* rsc) {
    if (!rsc->provisional)
      return;
    if (rsc->assigning)
      return;  // a colocation loop: Pacemaker breaks it here too
    rsc->assigning = true;

    for (const Colocation* c : this_with_[rsc]) {
      std::optional<Weights> archive;
      if (c->dependent_role >= Role::kPromoted || (c->score < 0 && c->score > -kInfinity))
        archive = rsc->allowed;
      Assign(c->primary);
      ApplyColocation(rsc, c);
      if (archive && !CanRunAny(rsc->allowed))
        rsc->allowed = *archive;
    }
    for (const Colocation* c : with_this_[rsc]) {
      if (!HasInfluence(c))
        continue;
      rsc->allowed = Merge(c->dependent,
                           rsc->allowed,
                           c->node_attribute,
                           static_cast<float>(c->score) / kInfinity,
                           kMergeRollback);
    }

    if (rsc->next_role == Role::kStopped || (rsc->target_role == Role::kStopped)) {
      rsc->next_role = Role::kStopped;
      for (auto& [node, weight] : rsc->allowed)
        weight = -kInfinity;
    } else if (!ws_.options.have_quorum && ws_.options.no_quorum_policy == "freeze" &&
               rsc->running_on.empty()) {
      // Frozen: nothing new starts without quorum.
    }

    if (!rsc->managed || rsc->blocked) {
      rsc->next_role = rsc->role;
      rsc->assigned = rsc->CurrentNode();
      if (rsc->assigned)
        rsc->assigned->assigned_count++;
    } else if (ws_.options.stop_all_resources) {
      rsc->assigned = nullptr;
      rsc->next_role = Role::kStopped;
    } else {
      ChooseNode(rsc);
    }
    rsc->assigning = false;
    rsc->provisional = false;
  }

  bool UsesUtilization() const { return ws_.options.placement_strategy != "default"; }

  // With a placement strategy, resources are placed in Pacemaker's process order: priority,
  // then the score where they run, then their best scores.
  void SortByPlacementScores(std::vector<Resource*>& order) {
    std::vector<Node*> nodes;
    for (auto& node : ws_.nodes)
      nodes.push_back(node.get());
    std::sort(nodes.begin(), nodes.end(), [](const Node* a, const Node* b) {
      return a->uname < b->uname;
    });
    auto score_on = [](Resource* rsc, Node* node) {
      Resource* first = FirstMember(rsc);
      auto it = first->allowed.find(node);
      return it == first->allowed.end() ? -kInfinity : it->second;
    };
    std::stable_sort(order.begin(), order.end(), [&](Resource* a, Resource* b) {
      if (a->priority != b->priority)
        return a->priority > b->priority;
      Node* ca = FirstMember(a)->CurrentNode();
      Node* cb = FirstMember(b)->CurrentNode();
      int sa = ca ? score_on(a, ca) : -kInfinity;
      int sb = cb ? score_on(b, cb) : -kInfinity;
      if (sa != sb)
        return sa > sb;
      for (Node* node : nodes) {
        int wa = score_on(a, node), wb = score_on(b, node);
        if (wa != wb)
          return wa > wb;
      }
      return false;
    });
  }

  static bool Fits(const Node* node, const std::map<std::string, int64_t>& needed) {
    for (const auto& [name, amount] : needed) {
      auto it = node->remaining.find(name);
      if ((it == node->remaining.end() ? 0 : it->second) < amount)
        return false;
    }
    return true;
  }

  // Nodes without the capacity for the resource (and, for a group's first member, the whole
  // group when some node could hold it) cannot take it.
  void BanInsufficientCapacity(Resource* rsc) {
    std::map<std::string, int64_t> needed = rsc->utilization;
    // What must go wherever this goes: its group and the unplaced resources colocated with it
    // (mandatory), transitively.
    std::vector<Resource*> together = {rsc};
    for (size_t i = 0; i < together.size(); ++i) {
      Resource* r = together[i];
      std::vector<Resource*> more;
      if (r->parent && r->parent->group_colocated)
        for (Resource* member : r->parent->children)
          more.push_back(member);
      for (const Colocation* c : with_this_[LastMember(r)])
        if (c->score >= kInfinity)
          more.push_back(FirstMember(c->dependent));
      for (Resource* m : more) {
        if (!m->IsPrimitive() || !m->provisional || m == rsc)
          continue;
        if (std::find(together.begin(), together.end(), m) == together.end())
          together.push_back(m);
      }
    }
    if (together.size() > 1) {
      std::map<std::string, int64_t> group_needed;
      for (Resource* member : together)
        for (const auto& [name, amount] : member->utilization)
          group_needed[name] += amount;
      bool any = false;
      for (const auto& [node, weight] : rsc->allowed)
        any |= node->CanRunResources() && weight >= 0 && Fits(node, group_needed);
      if (any)
        needed = group_needed;
    }
    for (auto& [node, weight] : rsc->allowed)
      if (!Fits(node, needed))
        weight = -kInfinity;
  }

  // Pacemaker's compare_capacity: > 0 when `a` has more room left than `b`.
  static int CompareCapacity(const Node* a, const Node* b) {
    int result = 0;
    for (const auto& [name, value] : a->remaining) {
      auto it = b->remaining.find(name);
      int64_t other = it == b->remaining.end() ? 0 : it->second;
      result += value > other ? 1 : value < other ? -1 : 0;
    }
    for (const auto& [name, value] : b->remaining)
      if (!a->remaining.count(name))
        result += value > 0 ? -1 : 0;
    return result;
  }

  void ChooseNode(Resource* rsc) {
    if (UsesUtilization())
      BanInsufficientCapacity(rsc);
    rsc->final_weights = rsc->allowed;
    std::vector<std::pair<Node*, int>> nodes(rsc->allowed.begin(), rsc->allowed.end());
    Node* current = rsc->CurrentNode();
    auto effective = [](const std::pair<Node*, int>& entry) {
      return entry.first->CanRunResources() ? entry.second : -kInfinity;
    };
    std::sort(nodes.begin(), nodes.end(), [&](const auto& a, const auto& b) {
      int wa = effective(a), wb = effective(b);
      if (wa != wb)
        return wa > wb;
      const std::string& strategy = ws_.options.placement_strategy;
      if (strategy == "minimal")
        return a.first->uname < b.first->uname;
      if (strategy == "balanced") {
        int capacity = CompareCapacity(a.first, b.first);
        if (capacity != 0)
          return capacity > 0;
      }
      if (a.first->assigned_count != b.first->assigned_count)
        return a.first->assigned_count < b.first->assigned_count;
      if (current && (a.first == current) != (b.first == current))
        return a.first == current;
      return a.first->uname < b.first->uname;
    });
    Node* chosen = nullptr;
    if (!nodes.empty()) {
      chosen = nodes.front().first;
      int best = effective(nodes.front());
      // On a tie, stay where the resource runs.
      if (best > 0 && current && current->CanRunResources())
        for (const auto& entry : nodes) {
          if (effective(entry) != best)
            break;
          if (entry.first == current)
            chosen = current;
        }
      if (best < 0)
        chosen = nullptr;
    }
    rsc->assigned = chosen;
    if (!chosen) {
      rsc->next_role = Role::kStopped;
      return;
    }
    chosen->assigned_count++;
    if (UsesUtilization())
      for (const auto& [name, amount] : rsc->utilization)
        chosen->remaining[name] -= amount;
    if (rsc->next_role == Role::kUnknown)
      rsc->next_role = Role::kStarted;
  }

  void ApplyColocation(Resource* dependent, const Colocation* c) {
    if (c->score == 0)
      return;
    Resource* primary = c->primary;
    if (c->dependent_role > Role::kStarted && c->dependent_role != dependent->next_role)
      return;
    // With a group: a mandatory colocation needs all of it (its last member, placed last), an
    // advisory one follows where the group starts (its first member).
    Resource* primary_rsc = primary->IsPrimitive()  ? primary
                            : c->score >= kInfinity ? LastMember(primary)
                                                    : FirstMember(primary);
    // A primary not placed yet (a colocation loop) cannot say anything.
    if (primary_rsc->provisional)
      return;
    if (c->primary_role > Role::kStarted && c->primary_role != primary_rsc->next_role)
      return;
    Node* primary_node = primary_rsc->assigned;
    if (!primary_node && c->score < 0)
      return;
    Weights work = dependent->allowed;
    std::string value = primary_node ? NodeAttribute(primary_node, c->node_attribute) : "";
    for (auto& [node, weight] : work) {
      if (!primary_node) {
        weight = AddScores(-c->score, weight);
      } else if (SameValue(NodeAttribute(node, c->node_attribute), value)) {
        if (c->score < kInfinity)
          weight = AddScores(c->score, weight);
      } else if (c->score >= kInfinity) {
        weight = -kInfinity;
      }
    }
    if (CanRunAny(work) || c->score <= -kInfinity || c->score >= kInfinity)
      dependent->allowed = std::move(work);
  }

  // The best weight `rsc` has on an available node whose attribute equals `value`.
  int BestMatching(const Resource* rsc, const std::string& attribute, const std::string& value) {
    int best = -kInfinity;
    bool found = false;
    for (const auto& [node, weight] : rsc->allowed) {
      if (!node->CanRunResources())
        continue;
      if (!SameValue(NodeAttribute(node, attribute), value))
        continue;
      if (!found || weight > best)
        best = weight;
      found = true;
    }
    return best;
  }

  void AddMatching(Weights& nodes,
                   const Resource* rsc,
                   const std::string& attribute,
                   float factor,
                   bool only_positive) {
    for (auto& [node, weight] : nodes) {
      int other = BestMatching(rsc, attribute, NodeAttribute(node, attribute));
      if (factor < 0 && other < 0)
        continue;
      if (only_positive && other < 0 && weight > 0) {
        weight = kInfinityHack;
        continue;
      }
      if (only_positive && other < 0 && weight == 0)
        continue;
      // A fraction of a score still counts: at least 1 either way, as in Pacemaker.
      float scaled = factor * static_cast<float>(other);
      int add = static_cast<int>(scaled);
      if (add == 0 && scaled != 0)
        add = scaled > 0 ? 1 : -1;
      weight = AddScores(weight, add);
    }
  }

  Weights Merge(Resource* rsc,
                const Weights& nodes,
                const std::string& attribute,
                float factor,
                unsigned flags) {
    if (rsc->merging)
      return nodes;
    rsc->merging = true;
    Weights work;
    if (flags & kMergeInit) {
      work = !rsc->IsPrimitive() && !rsc->children.empty()
                 ? Merge(rsc->children.back(), {}, attribute, factor, flags)
                 : rsc->allowed;
      flags &= ~kMergeInit;
    } else if (!rsc->IsPrimitive() && !rsc->children.empty()) {
      work = Merge(rsc->children.front(), nodes, attribute, factor, flags);  // the group's start
    } else {
      work = nodes;
      AddMatching(work, rsc, attribute, factor, flags & kMergePositive);
    }
    if (CanRunAny(work)) {
      int multiplier = factor < 0 ? -1 : 1;
      std::vector<const Colocation*> list;
      Resource* anchor = rsc;
      if (!rsc->IsPrimitive() && !rsc->children.empty())
        anchor = LastMember(rsc);
      list = (flags & kMergeForward) ? this_with_[rsc] : with_this_[anchor];
      for (const Colocation* c : list) {
        Resource* other;
        if (flags & kMergeForward) {
          other = c->primary;
        } else {
          if (!HasInfluence(c))
            continue;
          other = c->dependent;
        }
        work = Merge(other,
                     work,
                     c->node_attribute,
                     static_cast<float>(multiplier * c->score) / kInfinity,
                     flags | kMergeRollback);
      }
    } else if (flags & kMergeRollback) {
      rsc->merging = false;
      return nodes;
    }
    if (flags & kMergePositive)
      for (auto& [node, weight] : work)
        if (weight == kInfinityHack)
          weight = 1;
    rsc->merging = false;
    return work;
  }

  static constexpr int kInfinityHack = kInfinity * -2;

  WorkingSet& ws_;
  std::vector<Colocation> internal_;
  std::map<Resource*, std::vector<const Colocation*>> this_with_;
  std::map<Resource*, std::vector<const Colocation*>> with_this_;
};

}  // namespace

void AssignResources(WorkingSet& ws) {
  Assigner(ws).Run();
}

}  // namespace ha::pengine
