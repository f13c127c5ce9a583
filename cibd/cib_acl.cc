#include "cibd/cib_acl.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cibd/cib_diff.h"
#include "cibd/cib_path.h"
#include "cibd/cib_target.h"
#include "common/status_macros.h"

namespace ha::cib {
namespace {

AclMode Stronger(AclMode a, AclMode b) {
  auto rank = [](AclMode m) {
    switch (m) {
      case AclMode::kNone:
        return 0;
      case AclMode::kRead:
        return 1;
      case AclMode::kWrite:
        return 2;
      case AclMode::kDeny:
        return 3;
    }
    return 0;
  };
  return rank(a) >= rank(b) ? a : b;
}

bool Readable(AclMode m) {
  return m == AclMode::kRead || m == AclMode::kWrite;
}

AclMode ModeAt(const AclPolicy::Marks& marks, const pugi::xml_node& n, AclMode inherited) {
  auto it = marks.find(n.internal_object());
  return it == marks.end() ? inherited : it->second;
}

// The name an acl_target or acl_group stands for.
std::string_view SubjectName(const pugi::xml_node& n) {
  const pugi::xml_attribute name = n.attribute("name");
  return name ? name.value() : n.attribute("id").value();
}

// `<cib>` attributes a write's own bookkeeping changes.
bool IsBookkeeping(std::string_view name) {
  return name == kEpoch || name == kNumUpdates || name == "update-origin" ||
         name == "update-client" || name == "update-user" || name == "cib-last-written";
}

bool SameAttributesExcept(const pugi::xml_node& a, const pugi::xml_node& b, bool is_root) {
  if (!is_root) {
    return SameAttributes(a, b);
  }
  auto filtered = [](const pugi::xml_node& n) {
    std::vector<std::pair<std::string, std::string>> out;
    for (pugi::xml_attribute x : n.attributes()) {
      if (!IsBookkeeping(x.name())) {
        out.emplace_back(x.name(), x.value());
      }
    }
    return out;
  };
  return filtered(a) == filtered(b);
}

bool IsScaffolding(const pugi::xml_node& n) {
  for (pugi::xml_attribute a : n.attributes()) {
    if (std::strcmp(a.name(), "id") != 0) {
      return false;
    }
  }
  return true;
}

absl::Status Denied(const pugi::xml_node& n, std::string_view what) {
  return absl::PermissionDeniedError(
      absl::StrCat("permission denied: ", Sv(what), " ", NodePath(n)));
}

void StripToScaffolding(pugi::xml_node node);

// Removes from `node`'s subtree what is not readable; returns whether `node` stays.
bool FilterNode(pugi::xml_node node, AclMode inherited, const AclPolicy::Marks& marks) {
  const AclMode mode = ModeAt(marks, node, inherited);
  bool any_child = false;
  for (pugi::xml_node c = node.first_child(); c;) {
    const pugi::xml_node next = c.next_sibling();
    bool keep;
    if (c.type() == pugi::node_element) {
      keep = FilterNode(c, mode, marks);  // depth is bounded by the parse limits
    } else {
      keep = Readable(mode);
    }
    if (keep) {
      any_child = true;
    } else {
      node.remove_child(c);
    }
    c = next;
  }
  if (Readable(mode)) {
    return true;
  }
  if (!any_child) {
    return false;
  }
  StripToScaffolding(node);
  return true;
}

// Keeps only what scaffolding shows of an unreadable element.
void StripToScaffolding(pugi::xml_node node) {
  const bool is_root = node.parent().type() == pugi::node_document;
  for (pugi::xml_attribute a = node.first_attribute(); a;) {
    const pugi::xml_attribute next = a.next_attribute();
    const std::string_view name = a.name();
    const bool keep = name == "id" || (is_root && (name == kAdminEpoch || name == kEpoch ||
                                                   name == kNumUpdates || name == "validate-with"));
    if (!keep) {
      node.remove_attribute(a);
    }
    a = next;
  }
}

class WriteChecker {
 public:
  WriteChecker(const AclPolicy::Marks& before, const AclPolicy::Marks& after)
      : before_(before), after_(after) {}

  absl::Status Check(const pugi::xml_node& b,
                     const pugi::xml_node& a,
                     AclMode inherited_b,
                     AclMode inherited_a,
                     bool is_root) {
    const AclMode mb = ModeAt(before_, b, inherited_b);
    const AclMode ma = ModeAt(after_, a, inherited_a);
    const bool writable = mb == AclMode::kWrite && ma == AclMode::kWrite;
    if (!SameAttributesExcept(b, a, is_root) && !writable) {
      return Denied(a, "changing attributes of");
    }
    const auto pairs = MatchChildren(b, a);
    std::unordered_set<const void*> kept;
    std::vector<int> order;  // positions in `b` of the matched children, in `a`'s order
    for (const auto& [bc, ac] : pairs) {
      if (bc) {
        kept.insert(bc.internal_object());
      }
    }
    int index = 0;
    for (pugi::xml_node bc = b.first_child(); bc; bc = bc.next_sibling()) {
      if (!IsContentNode(bc)) {
        continue;
      }
      if (kept.count(bc.internal_object()) == 0) {
        HA_RETURN_IF_ERROR(CheckDeleted(bc, mb));
      }
      positions_[bc.internal_object()] = index++;
    }
    for (const auto& [bc, ac] : pairs) {
      if (!bc) {
        HA_RETURN_IF_ERROR(CheckCreated(ac, ma));
        continue;
      }
      order.push_back(positions_[bc.internal_object()]);
      if (bc.type() == pugi::node_element) {
        HA_RETURN_IF_ERROR(Check(bc, ac, mb, ma, false));
      }
    }
    if (!std::is_sorted(order.begin(), order.end()) && !writable) {
      return Denied(a, "reordering the children of");
    }
    return absl::OkStatus();
  }

 private:
  absl::Status CheckDeleted(const pugi::xml_node& n, AclMode parent_mode) {
    const AclMode mode =
        n.type() == pugi::node_element ? ModeAt(before_, n, parent_mode) : parent_mode;
    if (mode != AclMode::kWrite) {
      return Denied(n, "deleting");
    }
    for (pugi::xml_node c : n.children()) {
      if (c.type() == pugi::node_element) {
        HA_RETURN_IF_ERROR(CheckDeleted(c, mode));
      }
    }
    return absl::OkStatus();
  }

  // A created element needs write, unless it is scaffolding: no attribute but `id`, enclosing
  // created content that is writable (a bare `<role id=.../>` is not scaffolding).
  absl::Status CheckCreated(const pugi::xml_node& n, AclMode parent_mode) {
    bool writable_content = false;
    return CheckCreated(n, parent_mode, writable_content);
  }

  absl::Status CheckCreated(const pugi::xml_node& n, AclMode parent_mode, bool& writable) {
    if (n.type() != pugi::node_element) {
      if (parent_mode != AclMode::kWrite) {
        return Denied(n.parent(), "writing in");
      }
      writable = true;
      return absl::OkStatus();
    }
    const AclMode mode = ModeAt(after_, n, parent_mode);
    bool inner = false;
    for (pugi::xml_node c : n.children()) {
      if (IsContentNode(c)) {
        HA_RETURN_IF_ERROR(CheckCreated(c, mode, inner));
      }
    }
    if (mode != AclMode::kWrite && !(IsScaffolding(n) && inner)) {
      return Denied(n, "creating");
    }
    writable = true;
    return absl::OkStatus();
  }

  const AclPolicy::Marks& before_;
  const AclPolicy::Marks& after_;
  std::unordered_map<const void*, int> positions_;
};

}  // namespace

bool AclsEnabled(const CibDocument& doc) {
  for (pugi::xml_node set : doc.Section("crm_config").children("cluster_property_set")) {
    for (pugi::xml_node nv : set.children("nvpair")) {
      if (std::strcmp(nv.attribute("name").value(), "enable-acl") == 0) {
        const std::string v = absl::AsciiStrToLower(nv.attribute("value").value());
        return v == "true" || v == "yes" || v == "on" || v == "y" || v == "1";
      }
    }
  }
  return false;
}

bool IsPrivilegedUser(std::string_view user) {
  return user == "root" || user == "hacluster";
}

AclPolicy AclPolicy::For(const CibDocument& doc, const AclUser& user) {
  AclPolicy policy;
  if (IsPrivilegedUser(user.name) || !AclsEnabled(doc)) {
    policy.unrestricted_ = true;
    return policy;
  }
  const pugi::xml_node acls = doc.Section("acls");
  std::vector<std::string> roles;
  for (pugi::xml_node subject : acls.children()) {
    const std::string_view tag = subject.name();
    const std::string_view name = SubjectName(subject);
    const bool mine =
        (tag == "acl_target" && name == user.name) ||
        (tag == "acl_group" &&
         std::find(user.groups.begin(), user.groups.end(), name) != user.groups.end());
    if (!mine) {
      continue;
    }
    for (pugi::xml_node role : subject.children("role")) {
      roles.emplace_back(role.attribute("id").value());
    }
  }
  for (const std::string& role_id : roles) {
    for (pugi::xml_node role : acls.children("acl_role")) {
      if (role_id != role.attribute("id").value()) {
        continue;
      }
      for (pugi::xml_node p : role.children("acl_permission")) {
        Permission perm;
        const std::string_view kind = p.attribute("kind").value();
        perm.mode = kind == "write"  ? AclMode::kWrite
                    : kind == "read" ? AclMode::kRead
                                     : AclMode::kDeny;  // unknown kinds deny: fail closed
        perm.xpath = p.attribute("xpath").value();
        perm.reference = p.attribute("reference").value();
        perm.object_type = p.attribute("object-type").value();
        perm.attribute = p.attribute("attribute").value();
        policy.permissions_.push_back(std::move(perm));
      }
    }
  }
  return policy;
}

AclPolicy::Marks AclPolicy::MarkDocument(const CibDocument& doc) const {
  Marks marks;
  auto mark = [&](const pugi::xml_node& n, AclMode mode) {
    auto [it, fresh] = marks.emplace(n.internal_object(), mode);
    if (!fresh) {
      it->second = Stronger(it->second, mode);
    }
  };
  std::vector<pugi::xml_node> all;
  if (std::any_of(permissions_.begin(), permissions_.end(), [](const Permission& p) {
        return p.xpath.empty();
      })) {
    std::vector<pugi::xml_node> stack{doc.Root()};
    while (!stack.empty()) {
      const pugi::xml_node n = stack.back();
      stack.pop_back();
      all.push_back(n);
      for (pugi::xml_node c = n.last_child(); c; c = c.previous_sibling()) {
        if (c.type() == pugi::node_element) {
          stack.push_back(c);
        }
      }
    }
  }
  for (const Permission& p : permissions_) {
    if (!p.xpath.empty()) {
      auto nodes = SelectXPath(doc.Root(), p.xpath);
      if (!nodes.ok()) {
        continue;  // an invalid XPath selects nothing
      }
      for (const pugi::xpath_node& x : *nodes) {
        const pugi::xml_node n = x.attribute() ? x.parent() : x.node();
        if (n.type() == pugi::node_element) {
          mark(n, p.mode);
        }
      }
      continue;
    }
    for (const pugi::xml_node& n : all) {
      if (!p.reference.empty()) {
        if (p.reference == n.attribute("id").value()) {
          mark(n, p.mode);
        }
      } else if (!p.object_type.empty() && p.object_type == n.name() &&
                 (p.attribute.empty() || n.attribute(p.attribute.c_str()))) {
        mark(n, p.mode);
      }
    }
  }
  return marks;
}

absl::StatusOr<CibDocument> AclPolicy::FilterForRead(const CibDocument& doc) const {
  CibDocument copy = doc.Clone();
  if (unrestricted_) {
    return copy;
  }
  const Marks marks = MarkDocument(copy);
  if (!FilterNode(copy.Root(), AclMode::kNone, marks)) {
    return absl::PermissionDeniedError("permission denied: nothing in the CIB is readable");
  }
  return copy;
}

absl::Status AclPolicy::CheckWrite(const CibDocument& before, const CibDocument& after) const {
  if (unrestricted_) {
    return absl::OkStatus();
  }
  const Marks marks_before = MarkDocument(before);
  const Marks marks_after = MarkDocument(after);
  WriteChecker checker(marks_before, marks_after);
  return checker.Check(before.Root(), after.Root(), AclMode::kNone, AclMode::kNone, true);
}

absl::StatusOr<std::string> AclPolicy::FilterPatchset(const CibDocument& before,
                                                      const CibDocument& after) const {
  HA_ASSIGN_OR_RETURN(const CibDocument visible_after, FilterForRead(after));
  auto visible_before = FilterForRead(before);
  if (!visible_before.ok()) {
    // Nothing was visible before: the subscriber's copy is the bare scaffolding of `<cib>`.
    CibDocument empty = before.Clone();
    pugi::xml_node root = empty.Root();
    while (root.first_child()) {
      root.remove_child(root.first_child());
    }
    StripToScaffolding(root);
    return Diff(empty, visible_after);
  }
  return Diff(*visible_before, visible_after);
}

}  // namespace ha::cib
