// crm_simulate's views of the cluster: the node and resource lists ("Current cluster status",
// "Revised Cluster Status"), the executed actions, and allocation scores.
#pragma once

#include <string>
#include <vector>

#include "pengine/model.h"

namespace ha::pengine {

// The cluster as the input describes it.
std::string ClusterStatusText(const WorkingSet& ws);
// The cluster after every runnable, mandatory action of the transition has succeeded.
std::string RevisedStatusText(const WorkingSet& ws);
// "  * Resource action: rsc start on node" lines, in an order that respects the orderings.
std::vector<std::string> ExecutedActionLines(const WorkingSet& ws);
// "pcmk__primitive_assign: rsc allocation score on node: N" lines.
std::vector<std::string> AllocationScoreLines(const WorkingSet& ws);

}  // namespace ha::pengine
