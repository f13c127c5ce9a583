#include "cibd/cib_diff.h"

#include <charconv>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cibd/cib_path.h"
#include "cibd/cib_xml.h"
#include "common/status_macros.h"

namespace ha::cib {
namespace {

// The identity of a child for matching: kind, name, id (or value for text and comments).
std::string MatchKey(const pugi::xml_node& n) {
  switch (n.type()) {
    case pugi::node_element: {
      const pugi::xml_attribute id = n.attribute("id");
      return id ? absl::StrCat("e", n.name(), "\x01", id.value()) : absl::StrCat("n", n.name());
    }
    case pugi::node_pcdata:
    case pugi::node_cdata:
      return absl::StrCat("t", n.type() == pugi::node_cdata ? "c" : "p", n.value());
    case pugi::node_comment:
      return absl::StrCat("c", n.value());
    case pugi::node_null:
    case pugi::node_document:
    case pugi::node_pi:
    case pugi::node_declaration:
    case pugi::node_doctype:
      break;
  }
  return "";
}

// Index of `child` among the content children of its parent.
int IndexOf(const pugi::xml_node& child) {
  int i = 0;
  for (pugi::xml_node s = child.parent().first_child(); s && s != child; s = s.next_sibling()) {
    i += IsContentNode(s) ? 1 : 0;
  }
  return i;
}

// The content child at `index`, skipping `except`; null past the end.
pugi::xml_node ChildAt(const pugi::xml_node& parent, int index, const pugi::xml_node& except) {
  int i = 0;
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (!IsContentNode(c) || c == except) {
      continue;
    }
    if (i++ == index) {
      return c;
    }
  }
  return {};
}

void CopyAttributes(pugi::xml_node to, const pugi::xml_node& from, std::string_view skip = {}) {
  while (to.first_attribute()) {
    to.remove_attribute(to.first_attribute());
  }
  for (pugi::xml_attribute a : from.attributes()) {
    if (skip.empty() || a.name() != skip) {
      to.append_copy(a);
    }
  }
}

// MatchKey(a) == MatchKey(b), without building the keys.
bool SameMatchKey(const pugi::xml_node& a, const pugi::xml_node& b) {
  if (a.type() != b.type()) {
    return false;
  }
  switch (a.type()) {
    case pugi::node_element: {
      if (std::strcmp(a.name(), b.name()) != 0) {
        return false;
      }
      const pugi::xml_attribute x = a.attribute("id");
      const pugi::xml_attribute y = b.attribute("id");
      return x ? (y && std::strcmp(x.value(), y.value()) == 0) : !y;
    }
    case pugi::node_pcdata:
    case pugi::node_cdata:
    case pugi::node_comment:
      return std::strcmp(a.value(), b.value()) == 0;
    case pugi::node_null:
    case pugi::node_document:
    case pugi::node_pi:
    case pugi::node_declaration:
    case pugi::node_doctype:
      break;
  }
  return true;
}

pugi::xml_node NextContent(pugi::xml_node n) {
  while (n && !IsContentNode(n)) {
    n = n.next_sibling();
  }
  return n;
}

// True when the content children of `a` and `b` pair one to one, in order.
bool Aligned(const pugi::xml_node& a, const pugi::xml_node& b) {
  pugi::xml_node x = NextContent(a.first_child());
  pugi::xml_node y = NextContent(b.first_child());
  for (; x && y; x = NextContent(x.next_sibling()), y = NextContent(y.next_sibling())) {
    if (!SameMatchKey(x, y)) {
      return false;
    }
  }
  return !x && !y;
}

// Attributes equal but for `skip` (on either side).
bool SameAttributesBut(const pugi::xml_node& a, const pugi::xml_node& b, std::string_view skip) {
  if (skip.empty()) {
    return SameAttributes(a, b);
  }
  pugi::xml_attribute x = a.first_attribute();
  pugi::xml_attribute y = b.first_attribute();
  while (true) {
    while (x && x.name() == skip) {
      x = x.next_attribute();
    }
    while (y && y.name() == skip) {
      y = y.next_attribute();
    }
    if (!x || !y) {
      return !x && !y;
    }
    if (std::strcmp(x.name(), y.name()) != 0 || std::strcmp(x.value(), y.value()) != 0) {
      return false;
    }
    x = x.next_attribute();
    y = y.next_attribute();
  }
}

pugi::xml_node EmitChange(pugi::xml_node out, const char* operation, const std::string& path) {
  pugi::xml_node change = out.append_child("change");
  change.append_attribute("operation") = operation;
  change.append_attribute("path") = path.c_str();
  return change;
}

// A modify change: the attributes of `n` that `w` lacks or has with another value are set, those
// only `w` has are unset; `skip` is left out on both sides.
void EmitModifyChange(pugi::xml_node out,
                      const pugi::xml_node& w,
                      const pugi::xml_node& n,
                      std::string_view skip) {
  pugi::xml_node change = EmitChange(out, "modify", NodePath(w));
  pugi::xml_node list = change.append_child("change-list");
  for (pugi::xml_attribute a : n.attributes()) {
    if (!skip.empty() && a.name() == skip) {
      continue;
    }
    const pugi::xml_attribute old = w.attribute(a.name());
    if (!old || std::strcmp(old.value(), a.value()) != 0) {
      pugi::xml_node c = list.append_child("change-attr");
      c.append_attribute("name") = a.name();
      c.append_attribute("operation") = "set";
      c.append_attribute("value") = a.value();
    }
  }
  for (pugi::xml_attribute a : w.attributes()) {
    if (!skip.empty() && a.name() == skip) {
      continue;
    }
    if (!n.attribute(a.name())) {
      pugi::xml_node c = list.append_child("change-attr");
      c.append_attribute("name") = a.name();
      c.append_attribute("operation") = "unset";
    }
  }
  pugi::xml_node result = change.append_child("change-result").append_child(n.name());
  CopyAttributes(result, n, skip);
}

// The changes from `w` to `n` when no element is created, deleted or moved anywhere below (the
// children of every parent pair in order): attribute changes only, emitted from `w`'s own tree,
// which is not changed, so no working copy is needed. False at the first parent whose children
// do not pair (what was emitted so far must then be dropped).
bool DiffAttributesOnly(const pugi::xml_node& w,
                        const pugi::xml_node& n,
                        pugi::xml_node out,
                        std::string_view skip) {
  if (!SameAttributesBut(w, n, skip)) {
    EmitModifyChange(out, w, n, skip);
  }
  if (!Aligned(w, n)) {
    return false;
  }
  pugi::xml_node x = NextContent(w.first_child());
  pugi::xml_node y = NextContent(n.first_child());
  for (; x && y; x = NextContent(x.next_sibling()), y = NextContent(y.next_sibling())) {
    if (x.type() == pugi::node_element && !DiffAttributesOnly(x, y, out, {})) {
      return false;
    }
  }
  return true;
}

class Differ {
 public:
  Differ(const CibDocument& from, pugi::xml_node out, std::string_view skip_root_attribute)
      : work_(from.Clone()), out_(out), skip_(skip_root_attribute) {
    if (!skip_.empty()) {
      work_.Root().remove_attribute(std::string(skip_).c_str());
    }
  }

  void Sync(pugi::xml_node w, const pugi::xml_node& n) {
    const std::string_view skip = w == work_.Root() ? skip_ : std::string_view();
    if (!SameAttributesBut(w, n, skip)) {
      EmitModify(w, n, skip);
      CopyAttributes(w, n, skip);
    }
    if (Aligned(w, n)) {
      pugi::xml_node x = NextContent(w.first_child());
      pugi::xml_node y = NextContent(n.first_child());
      for (; x && y; x = NextContent(x.next_sibling()), y = NextContent(y.next_sibling())) {
        if (x.type() == pugi::node_element) {
          Sync(x, y);
        }
      }
      return;
    }
    const auto pairs = MatchChildren(w, n);
    std::unordered_map<pugi::xml_node_struct*, bool> kept;
    for (const auto& [wc, nc] : pairs) {
      if (wc) {
        kept[wc.internal_object()] = true;
      }
    }
    for (pugi::xml_node c = w.first_child(); c;) {
      const pugi::xml_node next = c.next_sibling();
      if (IsContentNode(c) && kept.count(c.internal_object()) == 0) {
        Emit("delete", NodePath(c)).append_attribute("position") = IndexOf(c);
        w.remove_child(c);
      }
      c = next;
    }
    pugi::xml_node cursor = w.first_child();
    int i = 0;
    for (const auto& [wc, nc] : pairs) {
      if (!wc) {
        pugi::xml_node change = Emit("create", NodePath(w));
        change.append_attribute("position") = i;
        change.append_copy(nc);
        if (cursor) {
          w.insert_copy_before(nc, cursor);
        } else {
          w.append_copy(nc);
        }
      } else {
        if (wc == cursor) {
          cursor = cursor.next_sibling();
        } else {
          Emit("move", NodePath(wc)).append_attribute("position") = i;
          if (cursor) {
            w.insert_move_before(wc, cursor);
          } else {
            w.append_move(wc);
          }
        }
        if (wc.type() == pugi::node_element) {
          Sync(wc, nc);  // depth is bounded by the parse limits
        }
      }
      ++i;
    }
  }

  pugi::xml_node WorkRoot() const { return work_.Root(); }

 private:
  pugi::xml_node Emit(const char* operation, const std::string& path) {
    return EmitChange(out_, operation, path);
  }
  void EmitModify(const pugi::xml_node& w, const pugi::xml_node& n, std::string_view skip) {
    EmitModifyChange(out_, w, n, skip);
  }

  CibDocument work_;
  pugi::xml_node out_;
  std::string_view skip_;
};

absl::StatusOr<int> PositionOf(const pugi::xml_node& change) {
  const pugi::xml_attribute a = change.attribute("position");
  if (!a) {
    return -1;
  }
  const std::string_view text = a.value();
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad position \"", a.value(), "\""));
  }
  return value;
}

absl::Status ApplyModify(pugi::xml_node node, const pugi::xml_node& change) {
  for (pugi::xml_node c : change.child("change-list").children("change-attr")) {
    const char* name = c.attribute("name").value();
    const std::string_view op = c.attribute("operation").value();
    if (!IsXmlName(name)) {
      return absl::InvalidArgumentError(absl::StrCat("bad attribute name \"", name, "\""));
    }
    if (op == "set") {
      pugi::xml_attribute a = node.attribute(name);
      if (!a) {
        a = node.append_attribute(name);
      }
      a.set_value(c.attribute("value").value());
    } else if (op == "unset") {
      node.remove_attribute(name);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown change-attr operation \"", Sv(op), "\""));
    }
  }
  // The change-result gives the attributes' order after the change.
  const pugi::xml_node result = change.child("change-result").first_child();
  if (result.type() == pugi::node_element) {
    pugi::xml_document ordered;
    pugi::xml_node tmp = ordered.append_child("x");
    bool complete = true;
    for (pugi::xml_attribute a : result.attributes()) {
      const pugi::xml_attribute mine = node.attribute(a.name());
      complete = complete && mine;
      if (mine) {
        tmp.append_copy(mine);
      }
    }
    size_t count = 0;
    for (pugi::xml_attribute a = node.first_attribute(); a; a = a.next_attribute()) {
      ++count;
    }
    size_t result_count = 0;
    for (pugi::xml_attribute a = result.first_attribute(); a; a = a.next_attribute()) {
      ++result_count;
    }
    if (complete && count == result_count) {
      CopyAttributes(node, tmp);
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyChange(pugi::xml_document& doc, const pugi::xml_node& change) {
  const std::string_view op = change.attribute("operation").value();
  const char* path = change.attribute("path").value();
  pugi::xml_node node = ResolvePath(doc, path);
  if (!node) {
    return absl::InvalidArgumentError(absl::StrCat("path \"", path, "\" does not resolve"));
  }
  HA_ASSIGN_OR_RETURN(const int position, PositionOf(change));
  if (op == "create") {
    pugi::xml_node content;
    for (pugi::xml_node c = change.first_child(); c && !content; c = c.next_sibling()) {
      content = IsContentNode(c) ? c : pugi::xml_node();
    }
    if (!content || node.type() != pugi::node_element) {
      return absl::InvalidArgumentError(absl::StrCat("create at \"", path, "\" has no content"));
    }
    const pugi::xml_node before = position < 0 ? pugi::xml_node() : ChildAt(node, position, {});
    if (before) {
      node.insert_copy_before(content, before);
    } else {
      node.append_copy(content);
    }
  } else if (op == "delete") {
    if (node == doc.document_element()) {
      return absl::InvalidArgumentError("a patchset cannot delete <cib>");
    }
    node.parent().remove_child(node);
  } else if (op == "modify") {
    if (node.type() != pugi::node_element) {
      return absl::InvalidArgumentError(absl::StrCat("modify of a non-element at \"", path, "\""));
    }
    return ApplyModify(node, change);
  } else if (op == "move") {
    if (node == doc.document_element() || position < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad move of \"", path, "\""));
    }
    pugi::xml_node parent = node.parent();
    const pugi::xml_node before = ChildAt(parent, position, node);
    if (before) {
      parent.insert_move_before(node, before);
    } else {
      parent.append_move(node);
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown change operation \"", Sv(op), "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<CibVersion, CibVersion>> VersionsOf(const pugi::xml_node& diff) {
  if (std::strcmp(diff.name(), "diff") != 0 ||
      std::strcmp(diff.attribute("format").value(), "2") != 0) {
    return absl::InvalidArgumentError("not a <diff format=\"2\"> patchset");
  }
  const pugi::xml_node version = diff.child("version");
  if (!version.child("source") || !version.child("target")) {
    return absl::InvalidArgumentError("the patchset has no source and target versions");
  }
  HA_ASSIGN_OR_RETURN(const CibVersion source, ReadVersion(version.child("source")));
  HA_ASSIGN_OR_RETURN(const CibVersion target, ReadVersion(version.child("target")));
  return std::make_pair(source, target);
}

// A patchset wraps CIB content in <diff><change>: two levels more than a CIB may have.
ParseLimits PatchsetLimits() {
  ParseLimits limits;
  limits.max_depth += 2;
  return limits;
}

}  // namespace

std::vector<std::pair<pugi::xml_node, pugi::xml_node>> MatchChildren(const pugi::xml_node& a,
                                                                     const pugi::xml_node& b) {
  std::unordered_map<std::string, std::deque<pugi::xml_node>> candidates;
  for (pugi::xml_node c = a.first_child(); c; c = c.next_sibling()) {
    if (IsContentNode(c)) {
      candidates[MatchKey(c)].push_back(c);
    }
  }
  std::vector<std::pair<pugi::xml_node, pugi::xml_node>> out;
  for (pugi::xml_node c = b.first_child(); c; c = c.next_sibling()) {
    if (!IsContentNode(c)) {
      continue;
    }
    pugi::xml_node match;
    auto it = candidates.find(MatchKey(c));
    if (it != candidates.end() && !it->second.empty()) {
      match = it->second.front();
      it->second.pop_front();
    }
    out.emplace_back(match, c);
  }
  return out;
}

std::string Diff(const CibDocument& from, const CibDocument& to, const DiffOptions& options) {
  pugi::xml_document out;
  pugi::xml_node diff = out.append_child("diff");
  diff.append_attribute("format") = "2";
  diff.append_attribute("digest") =
      options.to_digest.empty() ? to.Digest().c_str() : std::string(options.to_digest).c_str();
  pugi::xml_node version = diff.append_child("version");
  WriteVersion(version.append_child("source"), from.Version());
  WriteVersion(version.append_child("target"), to.Version());
  if (!DiffAttributesOnly(from.Root(), to.Root(), diff, options.skip_root_attribute)) {
    // Elements were created, deleted or moved: on a working copy, which tracks their paths.
    while (pugi::xml_node change = diff.child("change")) {
      diff.remove_child(change);
    }
    Differ differ(from, diff, options.skip_root_attribute);
    differ.Sync(differ.WorkRoot(), to.Root());
  }
  return ToXml(diff, true);
}

absl::StatusOr<std::pair<CibVersion, CibVersion>> PatchsetVersions(std::string_view patchset) {
  HA_ASSIGN_OR_RETURN(auto parsed, ParseXml(patchset, PatchsetLimits()));
  return VersionsOf(parsed->document_element());
}

absl::StatusOr<AppliedPatchset> ApplyPatchsetInPlace(CibDocument& doc, std::string_view patchset) {
  HA_ASSIGN_OR_RETURN(auto parsed, ParseXml(patchset, PatchsetLimits()));
  const pugi::xml_node diff = parsed->document_element();
  HA_ASSIGN_OR_RETURN(const auto versions, VersionsOf(diff));
  if (versions.first != doc.Version()) {
    return absl::AbortedError(absl::StrCat("the patchset applies to version ",
                                           ToString(versions.first),
                                           ", not ",
                                           ToString(doc.Version())));
  }
  int index = 0;
  for (pugi::xml_node change : diff.children("change")) {
    const absl::Status s = ApplyChange(doc.Xml(), change);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("change ", index, ": ", s.message()));
    }
    ++index;
  }
  if (std::strcmp(doc.Root().name(), "cib") != 0) {
    return absl::InvalidArgumentError("the patchset's result is not a <cib>");
  }
  if (TreeDepth(doc.Root()) > ParseLimits{}.max_depth) {
    return absl::InvalidArgumentError("the patchset's result is nested too deeply");
  }
  if (doc.Version() != versions.second) {
    doc.SetVersion(versions.second);
  }
  AppliedPatchset applied;
  applied.digest = doc.Digest();
  applied.expected_digest = diff.attribute("digest").value();
  applied.digest_matches =
      applied.expected_digest.empty() || applied.expected_digest == applied.digest;
  return applied;
}

absl::StatusOr<CibDocument> ApplyPatchset(const CibDocument& doc, std::string_view patchset) {
  CibDocument result = doc.Clone();
  HA_ASSIGN_OR_RETURN(const AppliedPatchset applied, ApplyPatchsetInPlace(result, patchset));
  if (!applied.digest_matches) {
    return absl::DataLossError(absl::StrCat("the result's digest ",
                                            applied.digest,
                                            " is not the patchset's ",
                                            applied.expected_digest));
  }
  return result;
}

}  // namespace ha::cib
