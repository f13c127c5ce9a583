// The writes of cib_ops.h: each operation edits a working copy; Finish validates it against the
// input and applies the version rules.
#include "cibd/cib_ops.h"

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cibd/cib_merge.h"
#include "cibd/cib_target.h"
#include "cibd/cib_validate.h"
#include "common/status_macros.h"

namespace ha::cib {
namespace {

// What the operations of one write did, beyond editing the tree.
struct Effects {
  bool whole_replace = false;  // a `<cib>` replaced the whole document
  bool bump = false;           // BumpEpoch
};

absl::StatusOr<std::unique_ptr<pugi::xml_document>> ParseFragment(const std::string& xml) {
  if (xml.empty()) {
    return absl::InvalidArgumentError("the request has no XML");
  }
  return ParseXml(xml);
}

absl::Status CheckTarget(const Target& target) {
  if (!target.scope.empty() && !target.xpath.empty()) {
    return absl::InvalidArgumentError("a request takes a scope or an XPath, not both");
  }
  return absl::OkStatus();
}

bool IsSectionTag(std::string_view tag) {
  return tag == "configuration" || tag == "status" || IsConfigurationSection(tag);
}

// Where Create and Modify(allow_create) add an element that has no explicit target.
absl::StatusOr<pugi::xml_node> ImpliedParent(pugi::xml_node cib, const pugi::xml_node& element) {
  const std::string_view section = SectionForTag(element.name());
  if (section.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(element), ": no scope given and the element belongs to no known section"));
  }
  return FindSection(cib, section, /*create=*/true);
}

absl::Status DoCreate(pugi::xml_node cib, const CreateOp& op) {
  HA_RETURN_IF_ERROR(CheckTarget(op.target));
  HA_ASSIGN_OR_RETURN(auto fragment, ParseFragment(op.xml));
  const pugi::xml_node root = fragment->document_element();
  pugi::xml_node parent;
  std::vector<pugi::xml_node> elements{root};
  if (!op.target.xpath.empty()) {
    HA_ASSIGN_OR_RETURN(parent, SelectOneElement(cib, op.target.xpath));
  } else if (!op.target.scope.empty()) {
    HA_ASSIGN_OR_RETURN(parent, FindSection(cib, op.target.scope, /*create=*/true));
  } else if (IsSectionTag(root.name())) {
    HA_ASSIGN_OR_RETURN(parent, FindSection(cib, root.name(), /*create=*/true));
  } else {
    HA_ASSIGN_OR_RETURN(parent, ImpliedParent(cib, root));
  }
  // `<resources><primitive .../></resources>` creates the children in that section.
  if (std::strcmp(root.name(), parent.name()) == 0 && IsSectionTag(root.name())) {
    elements.clear();
    for (pugi::xml_node c : root.children()) {
      if (c.type() == pugi::node_element) {
        elements.push_back(c);
      }
    }
  }
  for (const pugi::xml_node& e : elements) {
    if (e.attribute("id") && FindMatching(parent, e, /*all_attributes=*/false)) {
      return absl::AlreadyExistsError(absl::StrCat(Describe(e), " already exists"));
    }
    parent.append_copy(e);
  }
  return absl::OkStatus();
}

absl::Status DoModify(pugi::xml_node cib, const ModifyOp& op) {
  HA_RETURN_IF_ERROR(CheckTarget(op.target));
  HA_ASSIGN_OR_RETURN(auto fragment, ParseFragment(op.xml));
  const pugi::xml_node update = fragment->document_element();
  pugi::xml_node scope = cib;
  if (!op.target.xpath.empty()) {
    HA_ASSIGN_OR_RETURN(scope, SelectOneElement(cib, op.target.xpath));
  } else if (!op.target.scope.empty()) {
    const bool create = op.allow_create && op.target.scope == update.name();
    HA_ASSIGN_OR_RETURN(scope, FindSection(cib, op.target.scope, create));
  } else if (IsSectionTag(update.name())) {
    HA_ASSIGN_OR_RETURN(scope, FindSection(cib, update.name(), op.allow_create));
  }
  pugi::xml_node match = FindMatching(scope, update, /*all_attributes=*/false);
  if (!match) {
    if (!op.allow_create) {
      return absl::NotFoundError(absl::StrCat(Describe(update), " not found"));
    }
    pugi::xml_node parent = scope;
    if (scope == cib) {
      HA_ASSIGN_OR_RETURN(parent, ImpliedParent(cib, update));
    }
    parent.append_copy(update);
    return absl::OkStatus();
  }
  MergeInto(match, update, op.score_update);
  return absl::OkStatus();
}

void ReplaceNode(pugi::xml_node old_node, const pugi::xml_node& with) {
  pugi::xml_node parent = old_node.parent();
  parent.insert_copy_before(with, old_node);
  parent.remove_child(old_node);
}

absl::Status DoReplace(CibDocument& work, const ReplaceOp& op, Effects& effects) {
  HA_RETURN_IF_ERROR(CheckTarget(op.target));
  HA_ASSIGN_OR_RETURN(auto fragment, ParseFragment(op.xml));
  const pugi::xml_node with = fragment->document_element();
  pugi::xml_node cib = work.Root();
  if (op.target.scope.empty() && op.target.xpath.empty() && std::strcmp(with.name(), "cib") == 0) {
    HA_RETURN_IF_ERROR(ReadVersion(with).status());
    work.Xml().reset();
    work.Xml().append_copy(with);
    effects.whole_replace = true;
    return absl::OkStatus();
  }
  if (!op.target.xpath.empty()) {
    HA_ASSIGN_OR_RETURN(pugi::xml_node node, SelectOneElement(cib, op.target.xpath));
    if (node == cib) {
      return absl::InvalidArgumentError("replace the whole CIB without an XPath");
    }
    ReplaceNode(node, with);
    return absl::OkStatus();
  }
  pugi::xml_node scope = cib;
  const std::string_view scope_name = op.target.scope.empty() && IsSectionTag(with.name())
                                          ? std::string_view(with.name())
                                          : std::string_view(op.target.scope);
  if (!scope_name.empty()) {
    HA_ASSIGN_OR_RETURN(scope, FindSection(cib, scope_name, /*create=*/scope_name == with.name()));
    if (scope_name == with.name()) {
      ReplaceNode(scope, with);
      return absl::OkStatus();
    }
  }
  pugi::xml_node match = FindMatching(scope, with, /*all_attributes=*/false);
  if (!match || !with.attribute("id")) {
    return absl::NotFoundError(absl::StrCat(Describe(with), " not found"));
  }
  ReplaceNode(match, with);
  return absl::OkStatus();
}

absl::Status DoDelete(pugi::xml_node cib, const DeleteOp& op) {
  HA_RETURN_IF_ERROR(CheckTarget(op.target));
  if (op.xml.empty()) {
    if (op.target.xpath.empty()) {
      return absl::InvalidArgumentError("delete needs XML or an XPath");
    }
    HA_ASSIGN_OR_RETURN(std::vector<pugi::xpath_node> matches, SelectXPath(cib, op.target.xpath));
    if (matches.empty()) {
      return absl::NotFoundError(
          absl::StrCat("the XPath \"", op.target.xpath, "\" matches nothing"));
    }
    if (matches.size() > 1 && !op.delete_all) {
      return absl::InvalidArgumentError(absl::StrCat("the XPath \"",
                                                     op.target.xpath,
                                                     "\" matches ",
                                                     matches.size(),
                                                     " nodes; delete_all deletes them all"));
    }
    for (const auto& m : matches) {
      if (m.node() == cib) {
        return absl::InvalidArgumentError("the <cib> element cannot be deleted");
      }
    }
    // Attributes first: removing an element may free an attribute matched inside it.
    for (const auto& m : matches) {
      if (m.attribute()) {
        m.parent().remove_attribute(m.attribute());
      }
    }
    for (const auto& m : matches) {
      if (m.node() && m.node().parent()) {
        m.node().parent().remove_child(m.node());  // an already removed subtree is skipped
      }
    }
    return absl::OkStatus();
  }
  HA_ASSIGN_OR_RETURN(auto fragment, ParseFragment(op.xml));
  const pugi::xml_node pattern = fragment->document_element();
  pugi::xml_node scope = cib;
  if (!op.target.xpath.empty()) {
    HA_ASSIGN_OR_RETURN(scope, SelectOneElement(cib, op.target.xpath));
  } else if (!op.target.scope.empty()) {
    HA_ASSIGN_OR_RETURN(scope, FindSection(cib, op.target.scope, /*create=*/false));
  }
  pugi::xml_node match = FindMatching(scope, pattern, /*all_attributes=*/true);
  if (!match) {
    return absl::NotFoundError(absl::StrCat(Describe(pattern), " not found"));
  }
  if (match == cib) {
    return absl::InvalidArgumentError("the <cib> element cannot be deleted");
  }
  match.parent().remove_child(match);
  return absl::OkStatus();
}

absl::Status DoErase(pugi::xml_node cib, const EraseOp& op) {
  if (!op.force) {
    return absl::InvalidArgumentError("erasing the CIB needs force");
  }
  for (const char* section : {"configuration", "status"}) {
    while (pugi::xml_node n = cib.child(section)) {
      cib.remove_child(n);
    }
  }
  pugi::xml_node config = cib.append_child("configuration");
  for (const char* section : {"crm_config", "nodes", "resources", "constraints"}) {
    config.append_child(section);
  }
  cib.append_child("status");
  return absl::OkStatus();
}

absl::Status DoOne(CibDocument& work, const WriteOp& op, Effects& effects) {
  return std::visit(
      [&](const auto& o) -> absl::Status {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, CreateOp>) {
          return DoCreate(work.Root(), o);
        } else if constexpr (std::is_same_v<T, ModifyOp>) {
          return DoModify(work.Root(), o);
        } else if constexpr (std::is_same_v<T, ReplaceOp>) {
          return DoReplace(work, o, effects);
        } else if constexpr (std::is_same_v<T, DeleteOp>) {
          return DoDelete(work.Root(), o);
        } else if constexpr (std::is_same_v<T, EraseOp>) {
          return DoErase(work.Root(), o);
        } else {
          effects.bump = true;
          return absl::OkStatus();
        }
      },
      op);
}

void SetIfGiven(pugi::xml_node cib, const char* name, const std::string& value) {
  if (value.empty()) {
    return;
  }
  pugi::xml_attribute a = cib.attribute(name);
  if (!a) {
    a = cib.append_attribute(name);
  }
  a.set_value(value.c_str());
}

// SameTree(a, b) for two `<cib>` elements whose children `skip_a` and `skip_b` (at the same
// rank) are known to be the same.
bool SameBesides(const pugi::xml_node& a,
                 const pugi::xml_node& b,
                 const pugi::xml_node& skip_a,
                 const pugi::xml_node& skip_b) {
  if (std::strcmp(a.name(), b.name()) != 0 || !SameAttributes(a, b)) {
    return false;
  }
  pugi::xml_node x = a.first_child();
  pugi::xml_node y = b.first_child();
  for (; x && y; x = x.next_sibling(), y = y.next_sibling()) {
    if ((x == skip_a) != (y == skip_b)) {
      return false;
    }
    if (x != skip_a && !SameTree(x, y)) {
      return false;
    }
  }
  return !x && !y;
}

// Validates `work` against `input` and gives it its version.
absl::StatusOr<WriteResult> Finish(const CibDocument& input,
                                   CibDocument work,
                                   const Effects& effects,
                                   const WriteContext& context) {
  if (std::strcmp(work.Root().name(), "cib") != 0) {
    return absl::InvalidArgumentError("the result is not a <cib>");
  }
  const CibVersion old_version = input.Version();
  HA_ASSIGN_OR_RETURN(const CibVersion requested, ReadVersion(work.Root()));
  if (effects.whole_replace && requested < old_version) {
    return absl::AbortedError(absl::StrCat("the replacement CIB's version ",
                                           ToString(requested),
                                           " is older than the current ",
                                           ToString(old_version)));
  }
  // One walk of each tree: the configuration, then the rest only if that is the same.
  const pugi::xml_node old_config = input.Root().child("configuration");
  const pugi::xml_node new_config = work.Root().child("configuration");
  const bool config_same = SameTree(old_config, new_config);
  if (!effects.bump && config_same &&
      SameBesides(input.Root(), work.Root(), old_config, new_config)) {
    return WriteResult{input.Clone(), false};
  }
  HA_RETURN_IF_ERROR(ValidateChange(input, work));
  CibVersion version = requested;
  const bool explicit_counters =
      requested.epoch != old_version.epoch || requested.num_updates != old_version.num_updates;
  const bool keep_replacement_version = effects.whole_replace && requested > old_version;
  if (!explicit_counters && !keep_replacement_version) {
    if (effects.bump || !config_same) {
      ++version.epoch;
      version.num_updates = 0;
    } else {
      ++version.num_updates;
    }
  }
  if (version < old_version) {
    return absl::AbortedError(absl::StrCat(
        "the version would go back from ", ToString(old_version), " to ", ToString(version)));
  }
  work.SetVersion(version);
  SetIfGiven(work.Root(), "update-client", context.client_name);
  SetIfGiven(work.Root(), "update-user", context.user);
  SetIfGiven(work.Root(), "update-origin", context.origin);
  return WriteResult{std::move(work), true};
}

absl::Status CheckExpected(const CibDocument& doc, const WriteContext& context) {
  if (context.expected_version && *context.expected_version != doc.Version()) {
    return absl::AbortedError(absl::StrCat("the CIB is at version ",
                                           ToString(doc.Version()),
                                           ", not the expected ",
                                           ToString(*context.expected_version)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WriteResult> ApplyWrite(const CibDocument& doc,
                                       const WriteOp& op,
                                       const WriteContext& context) {
  HA_RETURN_IF_ERROR(CheckExpected(doc, context));
  CibDocument work = doc.Clone();
  Effects effects;
  HA_RETURN_IF_ERROR(DoOne(work, op, effects));
  return Finish(doc, std::move(work), effects, context);
}

absl::StatusOr<WriteResult> ApplyTransaction(const CibDocument& doc,
                                             std::span<const WriteOp> ops,
                                             const WriteContext& context) {
  HA_RETURN_IF_ERROR(CheckExpected(doc, context));
  CibDocument work = doc.Clone();
  Effects effects;
  for (size_t i = 0; i < ops.size(); ++i) {
    const absl::Status s = DoOne(work, ops[i], effects);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("operation ", i, ": ", s.message()));
    }
  }
  return Finish(doc, std::move(work), effects, context);
}

const char* OperationName(const WriteOp& op) {
  static constexpr const char* kNames[] = {
      "create", "modify", "replace", "delete", "erase", "bump"};
  return kNames[op.index()];
}

}  // namespace ha::cib
