#include "pengine/scheduler.h"

#include "common/status_macros.h"
#include "pengine/actions.h"
#include "pengine/assign.h"
#include "pengine/unpack.h"

namespace ha::pengine {

absl::StatusOr<std::unique_ptr<WorkingSet>> Schedule(std::string_view cib_xml,
                                                     std::optional<int64_t> now) {
  auto ws = std::make_unique<WorkingSet>();
  HA_RETURN_IF_ERROR(UnpackCib(cib_xml, now, *ws));
  AssignResources(*ws);
  CreateActions(*ws);
  return ws;
}

}  // namespace ha::pengine
