// What fencing_cluster.cc and fencing_cluster_sync.cc share: FencingCluster's timer and id
// prefixes and small helpers. Not an interface: include it only from those two files.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "stonithd/fencing_core.h"

namespace ha::stonithd::cluster_internal {

inline constexpr char kDeadlinePrefix[] = "cluster:";  // the cluster deadline's TimerKey::op_id
inline constexpr char kQueryPrefix[] = "query:";       // the core's QueryTargets ids
inline constexpr char kConfirmPrefix[] = "confirm:";   // the core's ConfirmFenced ids
inline constexpr char kSyncTimer[] = "sync:";  // waiting for the group's state after joining

inline int64_t Ms(absl::Time t) {
  return absl::ToUnixMillis(t);
}

inline LogLine Log(LogLine::Level level, std::string text) {
  return LogLine{level, std::move(text)};
}

inline std::string Describe(const FenceRecord& r) {
  return absl::StrCat(FenceActionName(r.action), " of ", r.target, " (op ", r.id, ")");
}

}  // namespace ha::stonithd::cluster_internal
