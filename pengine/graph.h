// The transition graph in Pacemaker's XML shape (<transition_graph> of <synapse>s, each an
// action with the actions it waits for), which crmd executes; and the same as a dot graph.
#pragma once

#include <string>

#include "pengine/model.h"

namespace ha::pengine {

std::string TransitionGraphXml(const WorkingSet& ws, int transition_id = 0);
std::string TransitionGraphDot(const WorkingSet& ws);

}  // namespace ha::pengine
