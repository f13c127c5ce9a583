// The constraints section: locations (scores and rules), colocations and orders (also with
// resource sets), and tickets. References to tags and templates expand to their resources.
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pengine/score.h"
#include "pengine/unpack.h"

namespace ha::pengine {

namespace {

class ConstraintReader {
 public:
  explicit ConstraintReader(WorkingSet& ws) : ws_(ws) {
    pugi::xml_node config = ws.doc.child("cib").child("configuration");
    tags_ = config.child("tags");
  }

  // The resources an id names: a resource, a tag, or a template (its primitives).
  std::vector<Resource*> Expand(std::string_view id, std::string_view constraint_id) {
    if (Resource* rsc = ws_.FindResource(id))
      return {rsc};
    std::vector<Resource*> out;
    for (pugi::xml_node tag : tags_.children("tag")) {
      if (id != tag.attribute("id").value())
        continue;
      for (pugi::xml_node ref : tag.children("obj_ref"))
        for (Resource* rsc : Expand(ref.attribute("id").value(), constraint_id))
          out.push_back(rsc);
      return out;
    }
    pugi::xml_node node = ws_.ids->Find(id);
    if (node && std::string_view(node.name()) == "template") {
      for (auto& rsc : ws_.resources)
        if (rsc->xml && id == rsc->xml.attribute("template").value())
          out.push_back(rsc.get());
      return out;
    }
    if (!ws_.unsupported_ids.count(id))
      ws_.Error("unknown-resource",
                absl::StrCat("constraint ",
                             std::string(constraint_id),
                             " names resource ",
                             std::string(id),
                             " which does not exist"));
    else
      Unsupported(constraint_id, id);
    return out;
  }

  bool IsTemplate(std::string_view id) const {
    pugi::xml_node node = ws_.ids->Find(id);
    return node && std::string_view(node.name()) == "template";
  }

  void Unsupported(std::string_view constraint_id, std::string_view id) {
    ws_.Warn("unsupported-feature",
             absl::StrCat("constraint ",
                          std::string(constraint_id),
                          " involves ",
                          std::string(id),
                          ", which this engine does not handle yet"));
  }

  void ReadLocation(pugi::xml_node xml) {
    std::string id = xml.attribute("id").value();
    std::vector<std::pair<Resource*, std::vector<std::string>>> targets;
    if (xml.attribute("rsc")) {
      for (Resource* rsc : Expand(xml.attribute("rsc").value(), id))
        targets.push_back({rsc, {}});
    } else if (xml.attribute("rsc-pattern")) {
      std::string pattern = xml.attribute("rsc-pattern").value();
      try {
        std::regex re(pattern, std::regex::extended);
        for (auto& rsc : ws_.resources) {
          std::smatch match;
          if (rsc->orphan || !std::regex_search(rsc->id, match, re))
            continue;
          std::vector<std::string> groups;
          for (size_t i = 0; i < match.size(); ++i)
            groups.push_back(match[i].str());
          targets.push_back({rsc.get(), groups});
        }
      } catch (const std::regex_error&) {
        ws_.Error("invalid-pattern",
                  absl::StrCat("constraint ", id, ": invalid rsc-pattern '", pattern, "'"));
      }
    } else {
      for (pugi::xml_node set : xml.children("resource_set"))
        for (pugi::xml_node ref : set.children("resource_ref"))
          for (Resource* rsc : Expand(ref.attribute("id").value(), id))
            targets.push_back({rsc, {}});
    }
    for (auto& [rsc, groups] : targets)
      ReadLocationFor(xml, rsc, groups);
  }

  void ReadColocation(pugi::xml_node xml) {
    std::string id = xml.attribute("id").value();
    int score = ParseScore(xml.attribute("score").value());
    bool influence = !xml.attribute("influence") || IsTrue(xml.attribute("influence").value());
    std::string node_attribute =
        xml.attribute("node-attribute") ? xml.attribute("node-attribute").value() : "#uname";
    auto add = [&](Resource* dependent,
                   Resource* primary,
                   Role dependent_role,
                   Role primary_role,
                   int set_score) {
      if (!dependent || !primary || dependent == primary)
        return;
      ws_.colocations.push_back({id,
                                 dependent,
                                 primary,
                                 set_score,
                                 dependent_role,
                                 primary_role,
                                 node_attribute,
                                 influence});
    };
    auto sets = xml.children("resource_set");
    if (sets.begin() == sets.end()) {
      auto dependents = Expand(xml.attribute("rsc").value(), id);
      auto primaries = Expand(xml.attribute("with-rsc").value(), id);
      Role dependent_role = ParseRole(xml.attribute("rsc-role").value());
      Role primary_role = ParseRole(xml.attribute("with-rsc-role").value());
      // A template on both sides stands for two unordered sets, which Pacemaker 2.1 leaves
      // unconstrained with each other.
      if (IsTemplate(xml.attribute("rsc").value()) && IsTemplate(xml.attribute("with-rsc").value()))
        return;
      for (Resource* d : dependents)
        for (Resource* p : primaries)
          add(d, p, dependent_role, primary_role, score);
      return;
    }
    struct Set {
      std::vector<Resource*> members;
      bool sequential = true;
      bool listed = false;
      Role role = Role::kUnknown;
      int score = 0;
    };
    std::vector<Set> parsed;
    for (pugi::xml_node set_xml : sets) {
      pugi::xml_node set = ws_.ids->Resolve(set_xml);
      Set s;
      s.sequential = !set.attribute("sequential") || IsTrue(set.attribute("sequential").value());
      s.listed = std::string_view(set.attribute("ordering").value()) == "listed";
      s.role = ParseRole(set.attribute("role").value());
      s.score = set.attribute("score") ? ParseScore(set.attribute("score").value()) : score;
      for (pugi::xml_node ref : set.children("resource_ref"))
        for (Resource* rsc : Expand(ref.attribute("id").value(), id))
          s.members.push_back(rsc);
      parsed.push_back(std::move(s));
    }
    for (const Set& s : parsed) {
      if (s.score < 0) {
        // Anti-colocation inside a set: every member away from every other.
        for (size_t i = 0; i < s.members.size(); ++i)
          for (size_t j = 0; j < s.members.size(); ++j)
            if (i != j && (s.sequential ? j < i : true))
              add(s.members[i], s.members[j], s.role, s.role, s.score);
      } else if (s.sequential && s.listed) {
        // ordering="listed" (an older schema's option): each member placed with the next.
        for (size_t i = 1; i < s.members.size(); ++i)
          add(s.members[i - 1], s.members[i], s.role, s.role, s.score);
      } else if (s.sequential) {
        for (size_t i = 1; i < s.members.size(); ++i)
          add(s.members[i], s.members[i - 1], s.role, s.role, s.score);
      }
    }
    // Between sets, a set is placed relative to the one after it.
    for (size_t k = 0; k + 1 < parsed.size(); ++k) {
      const Set& a = parsed[k];
      const Set& b = parsed[k + 1];
      if (a.members.empty() || b.members.empty())
        continue;
      std::vector<Resource*> dependents =
          a.sequential ? std::vector<Resource*>{a.members.front()} : a.members;
      std::vector<Resource*> primaries =
          b.sequential ? std::vector<Resource*>{b.members.back()} : b.members;
      for (Resource* d : dependents)
        for (Resource* p : primaries)
          add(d, p, a.role, b.role, score);
    }
  }

  void ReadOrder(pugi::xml_node xml) {
    std::string id = xml.attribute("id").value();
    OrderKind kind = OrderKind::kMandatory;
    if (xml.attribute("kind")) {
      std::string k = xml.attribute("kind").value();
      if (k == "Optional")
        kind = OrderKind::kOptional;
      if (k == "Serialize")
        kind = OrderKind::kSerialize;
    } else if (xml.attribute("score") && ParseScore(xml.attribute("score").value()) == 0) {
      kind = OrderKind::kOptional;
    }
    bool symmetrical = kind != OrderKind::kSerialize;
    if (xml.attribute("symmetrical"))
      symmetrical = IsTrue(xml.attribute("symmetrical").value());
    auto add =
        [&](Resource* first, std::string first_action, Resource* then, std::string then_action) {
          if (!first || !then || first == then)
            return;
          ws_.order_constraints.push_back(
              {id, first, first_action, then, then_action, kind, false, symmetrical});
          if (symmetrical && kind != OrderKind::kSerialize) {
            std::string inverse_first = InverseAction(then_action);
            std::string inverse_then = InverseAction(first_action);
            if (!inverse_first.empty() && !inverse_then.empty())
              ws_.order_constraints.push_back(
                  {id, then, inverse_first, first, inverse_then, kind, true, true});
          }
        };
    auto sets = xml.children("resource_set");
    if (sets.begin() == sets.end()) {
      std::string first_action =
          xml.attribute("first-action") ? xml.attribute("first-action").value() : "start";
      std::string then_action =
          xml.attribute("then-action") ? xml.attribute("then-action").value() : first_action;
      for (Resource* f : Expand(xml.attribute("first").value(), id))
        for (Resource* t : Expand(xml.attribute("then").value(), id))
          add(f, first_action, t, then_action);
      return;
    }
    struct Set {
      std::vector<Resource*> members;
      bool sequential = true;
      bool require_all = true;
      std::string id;
      std::string action = "start";
    };
    std::vector<Set> parsed;
    for (pugi::xml_node set_xml : sets) {
      pugi::xml_node set = ws_.ids->Resolve(set_xml);
      Set s;
      s.sequential = !set.attribute("sequential") || IsTrue(set.attribute("sequential").value());
      if (set.attribute("action"))
        s.action = set.attribute("action").value();
      s.require_all = !set.attribute("require-all") || IsTrue(set.attribute("require-all").value());
      s.id = set.attribute("id").value();
      for (pugi::xml_node ref : set.children("resource_ref"))
        for (Resource* rsc : Expand(ref.attribute("id").value(), id))
          s.members.push_back(rsc);
      parsed.push_back(std::move(s));
    }
    for (const Set& s : parsed)
      if (s.sequential)
        for (size_t i = 1; i < s.members.size(); ++i)
          add(s.members[i - 1], s.action, s.members[i], s.action);
    for (size_t k = 0; k + 1 < parsed.size(); ++k) {
      const Set& a = parsed[k];
      const Set& b = parsed[k + 1];
      if (a.members.empty() || b.members.empty())
        continue;
      std::vector<Resource*> firsts =
          a.sequential ? std::vector<Resource*>{a.members.back()} : a.members;
      std::vector<Resource*> thens =
          b.sequential ? std::vector<Resource*>{b.members.front()} : b.members;
      if (!a.require_all) {
        // Any one member of the set is enough: the orders meet in a "one-or-more" pseudo-action.
        for (Resource* f : a.members)
          for (Resource* t : thens)
            ws_.order_constraints.push_back(
                {id, f, a.action, t, b.action, kind, false, symmetrical, "one-or-more:" + a.id});
        continue;
      }
      for (Resource* f : firsts)
        for (Resource* t : thens)
          add(f, a.action, t, b.action);
    }
  }

  void ReadTicket(pugi::xml_node xml) {
    std::string id = xml.attribute("id").value();
    std::string ticket_id = xml.attribute("ticket").value();
    Ticket& ticket = ws_.tickets[ticket_id];
    ticket.id = ticket_id;
    std::string policy =
        xml.attribute("loss-policy") ? xml.attribute("loss-policy").value() : "stop";
    Role role = ParseRole(xml.attribute("rsc-role").value());
    std::vector<Resource*> members;
    if (xml.attribute("rsc")) {
      members = Expand(xml.attribute("rsc").value(), id);
    } else {
      for (pugi::xml_node set : xml.children("resource_set"))
        for (pugi::xml_node ref : set.children("resource_ref"))
          for (Resource* rsc : Expand(ref.attribute("id").value(), id))
            members.push_back(rsc);
    }
    for (Resource* rsc : members)
      ws_.ticket_constraints.push_back({id, rsc, ticket_id, policy, role});
  }

 private:
  static std::string InverseAction(std::string_view action) {
    if (action == "start")
      return "stop";
    if (action == "stop")
      return "start";
    if (action == "promote")
      return "demote";
    if (action == "demote")
      return "promote";
    if (action == "promoted")
      return "demoted";
    if (action == "demoted")
      return "promoted";
    if (action == "running")
      return "stopped";
    if (action == "stopped")
      return "running";
    return "";
  }

  void ReadLocationFor(pugi::xml_node xml, Resource* rsc, const std::vector<std::string>& groups) {
    LocationConstraint location;
    location.id = xml.attribute("id").value();
    location.rsc = rsc;
    location.role = ParseRole(xml.attribute("role").value());
    if (xml.attribute("resource-discovery"))
      location.discovery = xml.attribute("resource-discovery").value();
    if (xml.attribute("node")) {
      Node* node = ws_.FindNode(xml.attribute("node").value());
      if (!node)
        return;  // Pacemaker ignores locations for unknown nodes
      location.node_scores[node] = ParseScore(xml.attribute("score").value());
      ws_.locations.push_back(std::move(location));
      return;
    }
    for (pugi::xml_node rule_xml : xml.children("rule")) {
      pugi::xml_node rule = ws_.ids->Resolve(rule_xml);
      if (!rule)
        continue;
      Role rule_role = ParseRole(rule.attribute("role").value());
      LocationConstraint per_rule = location;
      if (rule_role != Role::kUnknown)
        per_rule.role = rule_role;
      for (auto& node : ws_.nodes) {
        RuleContext context;
        context.now = ws_.now;
        context.node_attributes = &node->attributes;
        context.pattern_submatches = groups;
        context.rsc_params = &rsc->params;
        context.rsc_meta = &rsc->meta;
        if (!EvaluateRule(rule, context, *ws_.ids))
          continue;
        int node_score = RuleScore(rule, context, *ws_.ids).value_or(-kInfinity);
        per_rule.node_scores[node.get()] = node_score;
      }
      ws_.locations.push_back(std::move(per_rule));
    }
  }

  WorkingSet& ws_;
  pugi::xml_node tags_;
};

void ReadTicketStates(WorkingSet& ws) {
  pugi::xml_node tickets = ws.doc.child("cib").child("status").child("tickets");
  for (pugi::xml_node state : tickets.children("ticket_state")) {
    Ticket& ticket = ws.tickets[state.attribute("id").value()];
    ticket.id = state.attribute("id").value();
    ticket.granted = IsTrue(state.attribute("granted").value());
    ticket.standby = IsTrue(state.attribute("standby").value());
  }
}

}  // namespace

void UnpackConstraints(WorkingSet& ws) {
  ReadTicketStates(ws);
  ConstraintReader reader(ws);
  pugi::xml_node constraints = ws.doc.child("cib").child("configuration").child("constraints");
  for (pugi::xml_node xml_ref : constraints.children()) {
    pugi::xml_node xml = ws.ids->Resolve(xml_ref);
    if (!xml)
      continue;
    std::string_view tag = xml.name();
    if (tag == "rsc_location")
      reader.ReadLocation(xml);
    else if (tag == "rsc_colocation")
      reader.ReadColocation(xml);
    else if (tag == "rsc_order")
      reader.ReadOrder(xml);
    else if (tag == "rsc_ticket")
      reader.ReadTicket(xml);
    else if (xml.type() == pugi::node_element)
      ws.Warn("unsupported-feature",
              absl::StrCat("constraint <", std::string(tag), "> is not supported; ignored"));
  }
}

}  // namespace ha::pengine
