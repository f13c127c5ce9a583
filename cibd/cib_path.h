// Absolute paths of nodes, as Pacemaker writes them in patchsets and `cibadmin --node-path`:
// "/cib/configuration/resources/primitive[@id='ip']". A step is the element's name, with
// [@id='...'] when it has an id. When that does not single the node out among its siblings, a
// position is added, counted from 1 among the siblings the rest of the step matches
// ("op[2]", "nvpair[@id='x'][2]"), which is valid XPath too. Comments and text are addressed as
// "comment()[N]" and "text()[N]" (text counts CDATA).
//
// Paths are resolved here, not with XPath, so that resolution is exact, fast and cannot be
// made expensive by a hostile patchset.
#pragma once

#include <string>
#include <string_view>

#include "pugixml.hpp"

namespace ha::cib {

// The path of `node` (an element, text or comment under the document element).
std::string NodePath(const pugi::xml_node& node);

// The path of an element as Pacemaker writes it: names and ids only, no positions.
std::string ElementXPath(const pugi::xml_node& node);

// The node `path` names in `doc`, or a null node. Without a position the first match is taken.
pugi::xml_node ResolvePath(const pugi::xml_document& doc, std::string_view path);

}  // namespace ha::cib
