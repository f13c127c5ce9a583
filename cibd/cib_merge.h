// Modify's merge by id (cibadmin --modify), internal to ha_cib: the attributes of `update` are
// set on `target` (the others kept), and each child element of `update` is merged into the
// child of `target` with the same tag and id (the first with that tag when it has no id), or
// appended when there is none. Text in `update` replaces the text of `target`.
#pragma once

#include <string>
#include <string_view>

#include "pugixml.hpp"

namespace ha::cib {

void MergeInto(pugi::xml_node target, const pugi::xml_node& update, bool score_update);

// cibadmin --score: "NAME++" adds 1 and "NAME+=N" adds N to the current value of attribute NAME
// (0 when missing or not a number), with score arithmetic (+/-INFINITY = +/-1000000, saturating).
// Any other value is returned as it is.
std::string ExpandScoreUpdate(std::string_view name,
                              std::string_view value,
                              std::string_view current);

}  // namespace ha::cib
