// The "Transition Summary" of crm_simulate: one line per resource that changes, and one per
// node to fence, in Pacemaker 2.1's wording.
#pragma once

#include <string>
#include <vector>

#include "pengine/model.h"

namespace ha::pengine {

std::vector<std::string> TransitionSummary(const WorkingSet& ws);

}  // namespace ha::pengine
