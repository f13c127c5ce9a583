#include "cibd/cib_target.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <string>

#include "absl/strings/str_cat.h"

namespace ha::cib {
namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 20> kTagSections = {{
    {"primitive", "resources"},
    {"group", "resources"},
    {"clone", "resources"},
    {"master", "resources"},
    {"bundle", "resources"},
    {"template", "resources"},
    {"rsc_location", "constraints"},
    {"rsc_colocation", "constraints"},
    {"rsc_order", "constraints"},
    {"rsc_ticket", "constraints"},
    {"node", "nodes"},
    {"cluster_property_set", "crm_config"},
    {"node_state", "status"},
    {"acl_target", "acls"},
    {"acl_group", "acls"},
    {"acl_role", "acls"},
    {"acl_user", "acls"},
    {"tag", "tags"},
    {"alert", "alerts"},
    {"fencing-level", "fencing-topology"},
}};

}  // namespace

bool IsKnownScope(std::string_view scope) {
  return scope == "configuration" || scope == "status" || IsConfigurationSection(scope);
}

absl::StatusOr<pugi::xml_node> FindSection(pugi::xml_node cib,
                                           std::string_view scope,
                                           bool create) {
  if (!IsKnownScope(scope)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown scope \"", Sv(scope), "\""));
  }
  const std::string name(scope);
  pugi::xml_node parent = cib;
  if (scope != "configuration" && scope != "status") {
    parent = cib.child("configuration");
    if (!parent) {
      if (!create) {
        return absl::NotFoundError("the CIB has no <configuration>");
      }
      parent = cib.append_child("configuration");
    }
  }
  pugi::xml_node section = parent.child(name.c_str());
  if (!section) {
    if (!create) {
      return absl::NotFoundError(absl::StrCat("the CIB has no <", name, "> section"));
    }
    section = parent.append_child(name.c_str());
  }
  return section;
}

std::string_view SectionForTag(std::string_view tag) {
  for (const auto& [t, section] : kTagSections) {
    if (t == tag) {
      return section;
    }
  }
  return "";
}

absl::StatusOr<std::vector<pugi::xpath_node>> SelectXPath(pugi::xml_node cib,
                                                          std::string_view xpath) {
  // pugixml reports XPath errors by exception; none may leave this function.
  try {
    const std::string expr(xpath);
    pugi::xpath_query query(expr.c_str());
    if (!query) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid XPath \"", expr, "\": ", query.result().description()));
    }
    if (query.return_type() != pugi::xpath_type_node_set) {
      return absl::InvalidArgumentError(
          absl::StrCat("the XPath \"", expr, "\" does not select nodes"));
    }
    // Evaluated from the document so that absolute paths start at /cib.
    const pugi::xpath_node_set set = query.evaluate_node_set(cib.root());
    std::vector<pugi::xpath_node> out(set.begin(), set.end());
    return out;
  } catch (const pugi::xpath_exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid XPath \"", Sv(xpath), "\": ", e.result().description()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the XPath \"", Sv(xpath), "\" cannot be evaluated: ", e.what()));
  }
}

absl::StatusOr<pugi::xml_node> SelectOneElement(pugi::xml_node cib, std::string_view xpath) {
  auto nodes = SelectXPath(cib, xpath);
  if (!nodes.ok()) {
    return nodes.status();
  }
  if (nodes->empty()) {
    return absl::NotFoundError(absl::StrCat("the XPath \"", Sv(xpath), "\" matches nothing"));
  }
  if (nodes->size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the XPath \"", Sv(xpath), "\" matches ", nodes->size(), " nodes, not one"));
  }
  const pugi::xml_node node = nodes->front().node();
  if (!node || node.type() != pugi::node_element) {
    return absl::InvalidArgumentError(
        absl::StrCat("the XPath \"", Sv(xpath), "\" does not match an element"));
  }
  return node;
}

pugi::xml_node FindMatching(pugi::xml_node root,
                            const pugi::xml_node& pattern,
                            bool all_attributes) {
  const pugi::xml_attribute id = pattern.attribute("id");
  auto matches = [&](const pugi::xml_node& n) {
    if (std::strcmp(n.name(), pattern.name()) != 0) {
      return false;
    }
    if (id && std::strcmp(n.attribute("id").value(), id.value()) != 0) {
      return false;
    }
    if (id && !n.attribute("id")) {
      return false;
    }
    if (all_attributes) {
      for (pugi::xml_attribute a : pattern.attributes()) {
        const pugi::xml_attribute mine = n.attribute(a.name());
        if (!mine || std::strcmp(mine.value(), a.value()) != 0) {
          return false;
        }
      }
    }
    return true;
  };
  std::vector<pugi::xml_node> stack{root};
  while (!stack.empty()) {
    const pugi::xml_node n = stack.back();
    stack.pop_back();
    if (matches(n)) {
      return n;
    }
    for (pugi::xml_node c = n.last_child(); c; c = c.previous_sibling()) {
      if (c.type() == pugi::node_element) {
        stack.push_back(c);
      }
    }
  }
  return {};
}

}  // namespace ha::cib
