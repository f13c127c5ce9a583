// Placement of every resource (see assign.cc).
#pragma once

#include "pengine/model.h"

namespace ha::pengine {

// Sets each resource's `assigned` node and `next_role`.
void AssignResources(WorkingSet& ws);

}  // namespace ha::pengine
