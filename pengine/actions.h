// Actions, orderings and their propagation (see actions.cc).
#pragma once

#include <string_view>
#include <vector>

#include "pengine/model.h"

namespace ha::pengine {

// Creates every action after placement.
void CreateActions(WorkingSet& ws);

// The resource's non-recurring actions of `task` (on `node`, or on any node when null).
std::vector<Action*> ResourceActions(const WorkingSet& ws,
                                     const Resource* rsc,
                                     std::string_view task,
                                     const Node* node);

}  // namespace ha::pengine
