// Finding what a request's Target names, shared by the queries and the writes (internal to
// ha_cib).
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cibd/cib_document.h"
#include "pugixml.hpp"

namespace ha::cib {

// True for the names cib.proto accepts as a scope.
bool IsKnownScope(std::string_view scope);

// The section element a scope names. INVALID_ARGUMENT for an unknown scope; NOT_FOUND when
// absent and `create` is false, else the section is added (empty) and returned.
absl::StatusOr<pugi::xml_node> FindSection(pugi::xml_node cib, std::string_view scope, bool create);

// The section an element of this tag belongs in, when there is one ("" otherwise): primitive ->
// resources, rsc_order -> constraints, node_state -> status, ...
std::string_view SectionForTag(std::string_view tag);

// Evaluates an XPath 1.0 expression over the whole CIB. INVALID_ARGUMENT when it does not
// compile or does not select nodes.
absl::StatusOr<std::vector<pugi::xpath_node>> SelectXPath(pugi::xml_node cib,
                                                          std::string_view xpath);

// The single element an XPath selects: NOT_FOUND for none, INVALID_ARGUMENT for several or for
// a non-element.
absl::StatusOr<pugi::xml_node> SelectOneElement(pugi::xml_node cib, std::string_view xpath);

// The first element at or under `root` (preorder) with the tag of `pattern`, its id if it has
// one, and, when `all_attributes`, every other attribute of `pattern` equal too.
pugi::xml_node FindMatching(pugi::xml_node root,
                            const pugi::xml_node& pattern,
                            bool all_attributes);

}  // namespace ha::cib
