// Reading one CIB into a WorkingSet: cluster options, nodes, resources, constraints and the
// status section (node states, resource histories, fail counts).
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "pengine/model.h"

namespace ha::pengine {

// Parses `cib_xml` and fills `ws`. `now` is used unless the CIB carries an execution-date.
// Errors only for input that is not a CIB at all; everything else becomes ws.problems.
absl::Status UnpackCib(std::string_view cib_xml, std::optional<int64_t> now, WorkingSet& ws);

// The parts, in the order UnpackCib calls them.
void UnpackClusterOptions(WorkingSet& ws);
void UnpackNodes(WorkingSet& ws);
void UnpackResources(WorkingSet& ws);
void UnpackStatus(WorkingSet& ws);
void UnpackConstraints(WorkingSet& ws);

// Helpers shared by the unpackers.
bool IsTrue(std::string_view text);  // Pacemaker's crm_is_true
int64_t ParseDurationMs(std::string_view text, int64_t fallback);

}  // namespace ha::pengine
