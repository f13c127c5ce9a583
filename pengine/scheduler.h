// The policy engine as one pure function: a CIB (with status) and "now" in, the placement, the
// actions and the transition summary out. No I/O and no clock reads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "pengine/model.h"

namespace ha::pengine {

// "now" is the CIB's execution-date when present, else `now`, else 0.
absl::StatusOr<std::unique_ptr<WorkingSet>> Schedule(std::string_view cib_xml,
                                                     std::optional<int64_t> now);

}  // namespace ha::pengine
