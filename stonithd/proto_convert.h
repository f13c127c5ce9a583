// Conversions between stonithd's core values (fencing_core.h, fence_device.h) and the Fencer
// API's messages (proto/stonithd.proto).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "proto/stonithd.pb.h"
#include "stonithd/fence_device.h"
#include "stonithd/fencing_core.h"

namespace ha::stonithd {

v1::FenceAction ToProto(FenceAction action);
// InvalidArgument for FENCE_ACTION_UNSPECIFIED (or an unknown value).
absl::StatusOr<FenceAction> FromProto(v1::FenceAction action);
v1::FenceState ToProto(FenceState state);
v1::FenceOperation ToProto(const FenceRecord& record);

// A device as the API shows it: secrets replaced by "****"; `node` is the node holding it;
// `health` its last monitor.
v1::Device ToProto(const FenceDevice& device,
                   v1::DeviceSource source,
                   const std::string& node,
                   const DeviceHealth& health = {});

// InvalidArgument when no target is set or it is empty.
absl::StatusOr<LevelTarget> FromProto(const v1::LevelTarget& target);
v1::LevelTarget ToProto(const LevelTarget& target);
v1::FencingLevel ToProto(const FencingLevel& level, v1::DeviceSource source);

}  // namespace ha::stonithd
