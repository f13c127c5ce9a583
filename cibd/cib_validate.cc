#include "cibd/cib_validate.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cibd/cib_diff.h"

namespace ha::cib {
namespace {

bool OneOf(std::string_view s, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

bool IsResourceTag(std::string_view t) {
  return OneOf(t, {"primitive", "group", "clone", "master", "bundle"});
}
bool IsConstraintTag(std::string_view t) {
  return OneOf(t, {"rsc_location", "rsc_colocation", "rsc_order", "rsc_ticket"});
}
// Elements whose `id` attribute refers to another element instead of naming this one.
bool IsReferenceTag(std::string_view t) {
  return OneOf(t, {"resource_ref", "role", "obj_ref"});
}

bool NeedsId(std::string_view t) {
  return IsResourceTag(t) || IsConstraintTag(t) ||
         OneOf(t, {"template", "op", "node", "acl_role", "acl_permission", "resource_set"});
}

bool IsBooleanOption(std::string_view name) {
  return OneOf(name,
               {"is-managed",
                "maintenance",
                "allow-migrate",
                "globally-unique",
                "ordered",
                "interleave",
                "notify",
                "promotable",
                "critical",
                "enable-acl",
                "stonith-enabled",
                "symmetric-cluster",
                "maintenance-mode",
                "start-failure-is-fatal",
                "enable-startup-probes",
                "stop-orphan-resources",
                "stop-orphan-actions",
                "remove-after-stop",
                "startup-fencing",
                "concurrent-fencing",
                "shutdown-lock"});
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "P[nY][nM][nW][nD][T[nH][nM][nS]]" with at least one component.
bool IsIsoDuration(std::string_view s) {
  if (s.size() < 3 || s[0] != 'P') {
    return false;
  }
  bool time = false;
  bool any = false;
  size_t i = 1;
  while (i < s.size()) {
    if (s[i] == 'T' && !time) {
      time = true;
      ++i;
      continue;
    }
    const size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
      ++i;
    }
    if (i == start || i >= s.size()) {
      return false;
    }
    const char unit = s[i++];
    // Pacemaker also reads "P10S" (no T) as ten seconds.
    const std::string_view allowed = time ? "HMS" : "YMWDHS";
    if (allowed.find(unit) == std::string_view::npos) {
      return false;
    }
    any = true;
  }
  return any;
}

// Collects the problems of one document.
class Checker {
 public:
  explicit Checker(const CibDocument& doc) : doc_(doc) {}

  std::vector<std::string> Run() {
    const pugi::xml_node root = doc_.Root();
    if (auto v = ReadVersion(root); !v.ok()) {
      problems_.emplace_back(v.status().message());
    }
    CheckTopLevel(root);
    Walk(root.child("configuration"));
    CheckStatus(root.child("status"));
    if (TreeDepth(root) > ParseLimits{}.max_depth) {
      Add(root, absl::StrCat("elements nested deeper than ", ParseLimits{}.max_depth, " levels"));
    }
    return TakeProblems();
  }

  // The checks of the whole document that cost little: the version, the top-level structure,
  // the status' node_state ids.
  void CheckDocument() {
    const pugi::xml_node root = doc_.Root();
    if (auto v = ReadVersion(root); !v.ok()) {
      problems_.emplace_back(v.status().message());
    }
    CheckTopLevel(root);
    CheckStatus(root.child("status"));
  }

  // The checks of one configuration element on its own: where it sits, its id's presence, its
  // values, its references (the id index is built at the first reference). Not the uniqueness
  // of its id.
  void CheckElement(const pugi::xml_node& n) {
    const std::string_view tag = n.name();
    CheckParent(n, tag, n.parent().name());
    const pugi::xml_attribute id = n.attribute("id");
    if (!id && NeedsId(tag) && !n.attribute("id-ref")) {
      Add(n, "the id attribute is missing");
    }
    if (id && (id.value()[0] == '\0')) {
      Add(n, "the id is empty");
    }
    CheckValues(n, tag);
    CheckReferences(n, tag);
  }

  void CheckReferencesOf(const pugi::xml_node& n) { CheckReferences(n, n.name()); }

  void AddProblem(const pugi::xml_node& node, std::string_view reason) { Add(node, reason); }

  std::vector<std::string> TakeProblems() { return std::exchange(problems_, {}); }

  bool IsResourceLike(const char* id) {
    EnsureIndex();
    return resource_like_.count(id) > 0;
  }

 private:
  void EnsureIndex() {
    if (!indexed_) {
      indexed_ = true;
      CollectIds(doc_.Root().child("configuration"));
    }
  }

  void Add(const pugi::xml_node& node, std::string_view reason) {
    problems_.push_back(absl::StrCat(Describe(node), ": ", Sv(reason)));
  }

  void CheckTopLevel(const pugi::xml_node& root) {
    int configs = 0;
    int statuses = 0;
    for (pugi::xml_node c : root.children()) {
      configs += std::strcmp(c.name(), "configuration") == 0 ? 1 : 0;
      statuses += std::strcmp(c.name(), "status") == 0 ? 1 : 0;
    }
    if (configs != 1) {
      Add(root, absl::StrCat("needs exactly one <configuration>, has ", configs));
    }
    if (statuses > 1) {
      Add(root, "has more than one <status>");
    }
    const pugi::xml_node config = root.child("configuration");
    if (!config) {
      return;
    }
    std::unordered_map<std::string, int> seen;
    for (pugi::xml_node c : config.children()) {
      if (c.type() == pugi::node_element && IsConfigurationSection(c.name()) &&
          ++seen[c.name()] == 2) {
        Add(c, "section appears more than once");
      }
    }
    for (const char* required : {"crm_config", "nodes", "resources", "constraints"}) {
      if (seen.count(required) == 0) {
        Add(config, absl::StrCat("the <", required, "> section is missing"));
      }
    }
  }

  void CollectIds(const pugi::xml_node& config) {
    if (!config) {
      return;
    }
    std::vector<pugi::xml_node> stack{config};
    while (!stack.empty()) {
      const pugi::xml_node n = stack.back();
      stack.pop_back();
      const pugi::xml_attribute id = n.attribute("id");
      if (id && !IsReferenceTag(n.name())) {
        ids_by_tag_[n.name()].insert(id.value());
        const std::string_view tag = n.name();
        if (IsResourceTag(tag) || tag == "template" || tag == "tag") {
          resource_like_.insert(id.value());
        }
      }
      for (pugi::xml_node c = n.last_child(); c; c = c.previous_sibling()) {
        if (c.type() == pugi::node_element) {
          stack.push_back(c);
        }
      }
    }
  }

  bool HasId(std::string_view tag, const char* id) {
    EnsureIndex();
    auto it = ids_by_tag_.find(std::string(tag));
    return it != ids_by_tag_.end() && it->second.count(id) > 0;
  }

  void CheckRef(const pugi::xml_node& n, const char* attr) {
    const pugi::xml_attribute a = n.attribute(attr);
    if (a && !IsResourceLike(a.value())) {
      Add(n, absl::StrCat(attr, "=\"", a.value(), "\" names no resource, template or tag"));
    }
  }

  void CheckParent(const pugi::xml_node& n, std::string_view tag, std::string_view parent) {
    if (IsConfigurationSection(tag) && parent != "configuration") {
      Add(n, absl::StrCat("the section is not allowed inside <", Sv(parent), ">"));
    } else if (tag == "primitive" &&
               !OneOf(parent, {"resources", "group", "clone", "master", "bundle"})) {
      Add(n, absl::StrCat("a primitive is not allowed inside <", Sv(parent), ">"));
    } else if (tag == "group" && !OneOf(parent, {"resources", "clone", "master"})) {
      Add(n, absl::StrCat("a group is not allowed inside <", Sv(parent), ">"));
    } else if (OneOf(tag, {"clone", "master", "bundle", "template"}) && parent != "resources") {
      Add(n, absl::StrCat("a ", Sv(tag), " is only allowed inside <resources>"));
    } else if (IsConstraintTag(tag) && parent != "constraints") {
      Add(n, absl::StrCat("a constraint is only allowed inside <constraints>"));
    } else if (OneOf(tag, {"configuration", "status"})) {
      Add(n, "only allowed inside <cib>");
    }
  }

  void CheckValues(const pugi::xml_node& n, std::string_view tag) {
    if (IsConstraintTag(tag) || tag == "rule") {
      const pugi::xml_attribute score = n.attribute("score");
      if (score && !IsScore(score.value())) {
        Add(n, absl::StrCat("score=\"", score.value(), "\" is not a score"));
      }
    }
    if (tag == "op") {
      for (const char* attr : {"interval", "timeout"}) {
        const pugi::xml_attribute a = n.attribute(attr);
        if (a && !IsDuration(a.value())) {
          Add(n, absl::StrCat(attr, "=\"", a.value(), "\" is not a duration"));
        }
      }
    }
    if (tag == "nvpair" && IsBooleanOption(n.attribute("name").value())) {
      const pugi::xml_attribute value = n.attribute("value");
      if (value && !IsBoolean(value.value())) {
        Add(n,
            absl::StrCat(n.attribute("name").value(), "=\"", value.value(), "\" is not a boolean"));
      }
    }
    const auto check_bool = [&](const char* attr) {
      const pugi::xml_attribute a = n.attribute(attr);
      if (a && !IsBoolean(a.value())) {
        Add(n, absl::StrCat(attr, "=\"", a.value(), "\" is not a boolean"));
      }
    };
    if (tag == "resource_set") {
      check_bool("sequential");
      check_bool("require-all");
    }
    if (tag == "rsc_order") {
      check_bool("symmetrical");
    }
  }

  void CheckReferences(const pugi::xml_node& n, std::string_view tag) {
    if (IsConstraintTag(tag)) {
      for (const char* attr : {"rsc", "with-rsc", "first", "then"}) {
        CheckRef(n, attr);
      }
    }
    if (tag == "resource_ref") {
      CheckRef(n, "id");
    }
    if (tag == "primitive" && n.attribute("template") &&
        !HasId("template", n.attribute("template").value())) {
      Add(n, absl::StrCat("template=\"", n.attribute("template").value(), "\" names no template"));
    }
    if (const pugi::xml_attribute ref = n.attribute("id-ref"); ref && !HasId(tag, ref.value())) {
      Add(n, absl::StrCat("id-ref=\"", ref.value(), "\" names no <", Sv(tag), ">"));
    }
    if (tag == "role" && OneOf(n.parent().name(), {"acl_target", "acl_group"}) &&
        !HasId("acl_role", n.attribute("id").value())) {
      Add(n, absl::StrCat("names no acl_role"));
    }
  }

  void Walk(const pugi::xml_node& config) {
    if (!config) {
      return;
    }
    std::unordered_map<std::string, std::string> id_owner;  // id -> Describe(first owner)
    std::vector<pugi::xml_node> stack;
    for (pugi::xml_node c = config.last_child(); c; c = c.previous_sibling()) {
      stack.push_back(c);
    }
    while (!stack.empty()) {
      const pugi::xml_node n = stack.back();
      stack.pop_back();
      if (n.type() != pugi::node_element) {
        continue;
      }
      const std::string_view tag = n.name();
      CheckParent(n, tag, n.parent().name());
      const pugi::xml_attribute id = n.attribute("id");
      if (!id && NeedsId(tag) && !n.attribute("id-ref")) {
        Add(n, "the id attribute is missing");
      }
      if (id && (id.value()[0] == '\0')) {
        Add(n, "the id is empty");
      } else if (id && !IsReferenceTag(tag) && tag != "node") {
        auto [it, fresh] = id_owner.emplace(id.value(), Describe(n));
        if (!fresh) {
          Add(n, absl::StrCat("the id is already used by ", it->second));
        }
      }
      CheckValues(n, tag);
      CheckReferences(n, tag);
      for (pugi::xml_node c = n.last_child(); c; c = c.previous_sibling()) {
        stack.push_back(c);
      }
    }
  }

  void CheckStatus(const pugi::xml_node& status) {
    std::unordered_set<std::string> node_states;
    for (pugi::xml_node n : status.children("node_state")) {
      const pugi::xml_attribute id = n.attribute("id");
      if (id && !node_states.insert(id.value()).second) {
        Add(n, "the id is already used by another <node_state>");
      }
    }
  }

  const CibDocument& doc_;
  bool indexed_ = false;
  std::vector<std::string> problems_;
  std::unordered_map<std::string, std::unordered_set<std::string>> ids_by_tag_;
  std::unordered_set<std::string> resource_like_;
};

}  // namespace

bool IsScore(std::string_view s) {
  const std::string lower = absl::AsciiStrToLower(Sv(s));
  if (OneOf(lower, {"infinity", "+infinity", "-infinity", "red", "yellow", "green"})) {
    return true;
  }
  std::string_view digits = s;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    digits.remove_prefix(1);
  }
  return AllDigits(digits);
}

bool IsBoolean(std::string_view s) {
  const std::string lower = absl::AsciiStrToLower(Sv(s));
  return OneOf(lower, {"true", "false", "yes", "no", "on", "off", "y", "n", "1", "0"});
}

bool IsDuration(std::string_view s) {
  const absl::string_view stripped = absl::StripAsciiWhitespace(Sv(s));
  const std::string_view t(stripped.data(), stripped.size());
  if (!t.empty() && t[0] == 'P') {
    return IsIsoDuration(t);
  }
  size_t i = 0;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) {
    ++i;
  }
  if (i == 0) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    const size_t start = ++i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) {
      ++i;
    }
    if (i == start) {
      return false;
    }
  }
  std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(Sv(t.substr(i))));
  return OneOf(unit, {"", "ms", "msec", "us", "usec", "s", "sec", "m", "min", "h", "hr"});
}

std::vector<std::string> FindProblems(const CibDocument& doc) {
  return Checker(doc).Run();
}

absl::Status Validate(const CibDocument& doc) {
  const std::vector<std::string> problems = FindProblems(doc);
  if (problems.empty()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(problems.front());
}

namespace {

bool SameKey(const pugi::xml_node& a, const pugi::xml_node& b) {
  if (std::strcmp(a.name(), b.name()) != 0) {
    return false;
  }
  const pugi::xml_attribute x = a.attribute("id");
  const pugi::xml_attribute y = b.attribute("id");
  return x ? (y && std::strcmp(x.value(), y.value()) == 0) : !y;
}

pugi::xml_node NextElement(pugi::xml_node n) {
  while (n && n.type() != pugi::node_element) {
    n = n.next_sibling();
  }
  return n;
}

// Calls f on every element of the subtree under (and including) `root`, in document order.
template <typename F>
void ForEachElement(const pugi::xml_node& root, F&& f) {
  std::vector<pugi::xml_node> stack{root};
  while (!stack.empty()) {
    const pugi::xml_node n = stack.back();
    stack.pop_back();
    f(n);
    for (pugi::xml_node c = n.last_child(); c; c = c.previous_sibling()) {
      if (c.type() == pugi::node_element) {
        stack.push_back(c);
      }
    }
  }
}

// Whether the element's id names itself (not a reference, not a cluster node id): the ids that
// must be unique.
bool OwnsId(const pugi::xml_node& n) {
  const std::string_view tag = n.name();
  return n.attribute("id") && !IsReferenceTag(tag) && tag != "node";
}

// ValidateChange without a whole-document pass: the two configurations are walked side by
// side (children paired as patchsets pair them: by tag and id) to find the elements whose own
// attributes changed, the subtrees added and those removed; then only those are checked (the
// changed ones against their old problems), plus what a change can break elsewhere: an added
// id that another element already has, a reference to a removed id.
class ChangeValidator {
 public:
  // Both documents must outlive the validator.
  ChangeValidator(const CibDocument& before, const CibDocument& after)
      : before_doc_(before), after_doc_(after), before_(before), after_(after) {}

  absl::Status Run() {
    std::vector<std::string> now;
    std::multiset<std::string> old;
    before_.CheckDocument();
    after_.CheckDocument();
    Collect(before_, old);
    Collect(after_, now);
    const pugi::xml_node config_before = before_doc_.Root().child("configuration");
    const pugi::xml_node config_after = after_doc_.Root().child("configuration");
    if (config_before && config_after) {
      ScanChildren(config_before, config_after);
    } else if (config_after) {
      for (pugi::xml_node c = NextElement(config_after.first_child()); c;
           c = NextElement(c.next_sibling())) {
        added_.push_back(c);
      }
    }
    for (const auto& [b, a] : changed_) {
      before_.CheckElement(b);
      after_.CheckElement(a);
    }
    // What removed elements had does not count against added ones: an element moved elsewhere
    // (removed here, added there) keeps the problems it already had, as the whole-document
    // check sees it.
    for (const pugi::xml_node& root : removed_) {
      ForEachElement(root, [&](const pugi::xml_node& n) { before_.CheckElement(n); });
    }
    Collect(before_, old);
    std::vector<pugi::xml_node> added_ids;
    for (const pugi::xml_node& root : added_) {
      ForEachElement(root, [&](const pugi::xml_node& n) {
        after_.CheckElement(n);
        if (OwnsId(n) && n.attribute("id").value()[0] != '\0') {
          added_ids.push_back(n);
        }
      });
      int depth = TreeDepth(root);
      for (pugi::xml_node p = root.parent(); p && p.type() == pugi::node_element; p = p.parent()) {
        ++depth;
      }
      if (depth > ParseLimits{}.max_depth) {
        after_.AddProblem(
            root, absl::StrCat("elements nested deeper than ", ParseLimits{}.max_depth, " levels"));
      }
    }
    CheckDuplicates(config_after, added_ids);
    CheckDanglingReferences(config_after);
    Collect(after_, now);
    for (const std::string& p : now) {
      auto it = old.find(p);
      if (it == old.end()) {
        return absl::InvalidArgumentError(p);
      }
      old.erase(it);
    }
    return absl::OkStatus();
  }

 private:
  template <typename C>
  static void Collect(Checker& checker, C& into) {
    for (std::string& p : checker.TakeProblems()) {
      into.insert(into.end(), std::move(p));
    }
  }

  // `b` and `a` are paired; their children are compared.
  void ScanChildren(const pugi::xml_node& b, const pugi::xml_node& a) {
    pugi::xml_node x = NextElement(b.first_child());
    pugi::xml_node y = NextElement(a.first_child());
    bool aligned = true;
    for (; x && y; x = NextElement(x.next_sibling()), y = NextElement(y.next_sibling())) {
      if (!SameKey(x, y)) {
        aligned = false;
        break;
      }
    }
    if (aligned && !x && !y) {
      x = NextElement(b.first_child());
      y = NextElement(a.first_child());
      for (; x && y; x = NextElement(x.next_sibling()), y = NextElement(y.next_sibling())) {
        Scan(x, y);
      }
      return;
    }
    std::unordered_set<pugi::xml_node_struct*> matched;
    for (const auto& [m, c] : MatchChildren(b, a)) {
      if (c.type() != pugi::node_element) {
        continue;
      }
      if (m) {
        matched.insert(m.internal_object());
        Scan(m, c);
      } else {
        added_.push_back(c);
      }
    }
    for (pugi::xml_node c = NextElement(b.first_child()); c; c = NextElement(c.next_sibling())) {
      if (matched.count(c.internal_object()) == 0) {
        removed_.push_back(c);
        ForEachElement(c, [&](const pugi::xml_node& n) {
          if (n.attribute("id")) {
            removed_ids_.insert(n.attribute("id").value());
          }
        });
      }
    }
  }

  void Scan(const pugi::xml_node& b, const pugi::xml_node& a) {
    if (!SameAttributes(b, a)) {
      changed_.emplace_back(b, a);
    }
    ScanChildren(b, a);
  }

  // An id of an added element that another element of the configuration has.
  void CheckDuplicates(const pugi::xml_node& config, const std::vector<pugi::xml_node>& added) {
    if (added.empty()) {
      return;
    }
    std::unordered_map<std::string_view, std::vector<pugi::xml_node>> owners;
    for (const pugi::xml_node& n : added) {
      owners[n.attribute("id").value()];
    }
    ForEachElement(config, [&](const pugi::xml_node& n) {
      if (n != config && OwnsId(n)) {
        auto it = owners.find(n.attribute("id").value());
        if (it != owners.end()) {
          it->second.push_back(n);
        }
      }
    });
    // As the whole-document walk reports them: each later holder, naming the first.
    std::unordered_set<std::string_view> reported;
    for (const pugi::xml_node& n : added) {
      const std::string_view id = n.attribute("id").value();
      if (!reported.insert(id).second) {
        continue;
      }
      const std::vector<pugi::xml_node>& holders = owners[id];
      for (size_t i = 1; i < holders.size(); ++i) {
        after_.AddProblem(holders[i],
                          absl::StrCat("the id is already used by ", Describe(holders[0])));
      }
    }
  }

  // Elements that refer to an id a removed element had, and no longer resolve.
  void CheckDanglingReferences(const pugi::xml_node& config) {
    if (removed_ids_.empty() || !config) {
      return;
    }
    std::unordered_set<pugi::xml_node_struct*> checked;
    for (const auto& [b, a] : changed_) {
      checked.insert(a.internal_object());
    }
    for (const pugi::xml_node& root : added_) {
      ForEachElement(root, [&](const pugi::xml_node& n) { checked.insert(n.internal_object()); });
    }
    ForEachElement(config, [&](const pugi::xml_node& n) {
      if (checked.count(n.internal_object()) > 0) {
        return;
      }
      for (const char* attr : {"rsc", "with-rsc", "first", "then", "id", "template", "id-ref"}) {
        const pugi::xml_attribute v = n.attribute(attr);
        if (v && removed_ids_.count(v.value()) > 0) {
          after_.CheckReferencesOf(n);
          return;
        }
      }
    });
  }

  const CibDocument& before_doc_;
  const CibDocument& after_doc_;
  Checker before_;
  Checker after_;
  std::vector<std::pair<pugi::xml_node, pugi::xml_node>> changed_;
  std::vector<pugi::xml_node> added_;
  std::vector<pugi::xml_node> removed_;  // roots of subtrees only `before` has
  std::unordered_set<std::string_view> removed_ids_;
};

}  // namespace

absl::Status ValidateChange(const CibDocument& before, const CibDocument& after) {
  return ChangeValidator(before, after).Run();
}

absl::Status ValidateChangeFully(const CibDocument& before, const CibDocument& after) {
  std::multiset<std::string> old_problems;
  for (auto& p : FindProblems(before)) {
    old_problems.insert(std::move(p));
  }
  for (const std::string& p : FindProblems(after)) {
    auto it = old_problems.find(p);
    if (it == old_problems.end()) {
      return absl::InvalidArgumentError(p);
    }
    old_problems.erase(it);
  }
  return absl::OkStatus();
}

}  // namespace ha::cib
