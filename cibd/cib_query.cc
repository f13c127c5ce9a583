// Query: the read side of cib_ops.h.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cibd/cib_ops.h"
#include "cibd/cib_path.h"
#include "cibd/cib_target.h"
#include "common/status_macros.h"

namespace ha::cib {
namespace {

std::string ElementXml(const pugi::xml_node& node, bool no_children) {
  if (!no_children) {
    return ToXml(node, true);
  }
  pugi::xml_document shallow;
  pugi::xml_node copy = shallow.append_child(node.name());
  for (pugi::xml_attribute a : node.attributes()) {
    copy.append_copy(a);
  }
  return ToXml(copy, true);
}

std::string PathOfMatch(const pugi::xpath_node& match) {
  if (match.attribute()) {
    return absl::StrCat(NodePath(match.parent()), "/@", match.attribute().name());
  }
  return NodePath(match.node());
}

}  // namespace

absl::StatusOr<QueryResult> Query(const CibDocument& doc,
                                  const Target& target,
                                  const QueryOptions& options) {
  if (!target.scope.empty() && !target.xpath.empty()) {
    return absl::InvalidArgumentError("a query takes a scope or an XPath, not both");
  }
  if (target.xpath.empty()) {
    pugi::xml_node node = doc.Root();
    if (!target.scope.empty()) {
      HA_ASSIGN_OR_RETURN(node, FindSection(doc.Root(), target.scope, /*create=*/false));
    }
    return QueryResult{ElementXml(node, options.no_children), 1};
  }
  HA_ASSIGN_OR_RETURN(std::vector<pugi::xpath_node> matches, SelectXPath(doc.Root(), target.xpath));
  if (matches.empty()) {
    return absl::NotFoundError(absl::StrCat("the XPath \"", target.xpath, "\" matches nothing"));
  }
  QueryResult result;
  result.matches = static_cast<uint32_t>(matches.size());
  if (options.node_path) {
    std::vector<std::string> paths;
    for (const auto& m : matches) {
      paths.push_back(PathOfMatch(m));
    }
    result.xml = absl::StrJoin(paths, "\n");
    return result;
  }
  if (matches.size() == 1) {
    const pugi::xpath_node& m = matches.front();
    if (m.attribute()) {
      result.xml = m.attribute().value();
    } else if (m.node().type() == pugi::node_element) {
      result.xml = ElementXml(m.node(), options.no_children);
    } else {
      result.xml = m.node().value();
    }
    return result;
  }
  // Several matches: wrapped as Pacemaker does. Attribute and text matches become text.
  pugi::xml_document wrapper;
  pugi::xml_node root = wrapper.append_child("xpath-query");
  for (const auto& m : matches) {
    if (m.attribute()) {
      root.append_child(pugi::node_pcdata).set_value(m.attribute().value());
    } else if (m.node().type() == pugi::node_element) {
      pugi::xml_node copy =
          options.no_children ? root.append_child(m.node().name()) : root.append_copy(m.node());
      if (options.no_children) {
        for (pugi::xml_attribute a : m.node().attributes()) {
          copy.append_copy(a);
        }
      }
    } else {
      root.append_child(pugi::node_pcdata).set_value(m.node().value());
    }
  }
  result.xml = ToXml(root, true);
  return result;
}

}  // namespace ha::cib
