#include "stonithd/proto_convert.h"

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "stonithd/fence_agent.h"

namespace ha::stonithd {
namespace {

int64_t UnixMillis(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t);
}

}  // namespace

v1::FenceAction ToProto(FenceAction action) {
  switch (action) {
    case FenceAction::kReboot:
      return v1::FENCE_REBOOT;
    case FenceAction::kOff:
      return v1::FENCE_OFF;
    case FenceAction::kOn:
      return v1::FENCE_ON;
  }
  return v1::FENCE_ACTION_UNSPECIFIED;
}

absl::StatusOr<FenceAction> FromProto(v1::FenceAction action) {
  if (action == v1::FENCE_REBOOT) {
    return FenceAction::kReboot;
  }
  if (action == v1::FENCE_OFF) {
    return FenceAction::kOff;
  }
  if (action == v1::FENCE_ON) {
    return FenceAction::kOn;
  }
  return absl::InvalidArgumentError("the fencing action is not specified");
}

v1::FenceState ToProto(FenceState state) {
  switch (state) {
    case FenceState::kPending:
      return v1::FENCE_PENDING;
    case FenceState::kDone:
      return v1::FENCE_DONE;
    case FenceState::kFailed:
      return v1::FENCE_FAILED;
  }
  return v1::FENCE_STATE_UNSPECIFIED;
}

v1::FenceOperation ToProto(const FenceRecord& record) {
  v1::FenceOperation op;
  op.set_id(record.id);
  op.set_target(record.target);
  op.set_action(ToProto(record.action));
  op.set_state(ToProto(record.state));
  op.set_device(record.device);
  op.set_delegate(record.delegate);
  op.set_origin(record.origin);
  op.set_client(record.client);
  op.set_requested_unix_ms(UnixMillis(record.requested));
  op.set_completed_unix_ms(UnixMillis(record.completed));
  op.set_exit_reason(record.exit_reason);
  op.set_level(static_cast<uint32_t>(record.level));
  op.set_within_tolerance(record.within_tolerance);
  return op;
}

v1::Device ToProto(const FenceDevice& device,
                   v1::DeviceSource source,
                   const std::string& node,
                   const DeviceHealth& health) {
  v1::Device out;
  out.set_id(device.id);
  out.set_agent(device.agent);
  for (const auto& [name, value] : device.params) {
    (*out.mutable_parameters())[name] = IsSecretParameter(name) ? "****" : value;
  }
  out.set_source(source);
  out.set_host_check(std::string(HostCheckName(device.host_check)));
  out.add_nodes(node);
  out.set_status(DeviceHealthName(health.state));
  out.set_status_reason(health.reason);
  out.set_last_check_unix_ms(UnixMillis(health.last_check));
  out.set_monitor_interval_s(static_cast<uint32_t>(absl::ToInt64Seconds(device.monitor_interval)));
  return out;
}

absl::StatusOr<LevelTarget> FromProto(const v1::LevelTarget& target) {
  LevelTarget out;
  switch (target.target_case()) {
    case v1::LevelTarget::kNode:
      out.kind = LevelTarget::kNode;
      out.node = target.node();
      if (out.node.empty()) {
        return absl::InvalidArgumentError("the level's target node is empty");
      }
      return out;
    case v1::LevelTarget::kPattern:
      out.kind = LevelTarget::kPattern;
      out.pattern = target.pattern();
      if (out.pattern.empty()) {
        return absl::InvalidArgumentError("the level's target pattern is empty");
      }
      return out;
    case v1::LevelTarget::kAttribute:
      out.kind = LevelTarget::kAttribute;
      out.attribute = target.attribute().name();
      out.value = target.attribute().value();
      if (out.attribute.empty()) {
        return absl::InvalidArgumentError("the level's target attribute is empty");
      }
      return out;
    case v1::LevelTarget::TARGET_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("the level has no target");
}

v1::LevelTarget ToProto(const LevelTarget& target) {
  v1::LevelTarget out;
  switch (target.kind) {
    case LevelTarget::kNode:
      out.set_node(target.node);
      break;
    case LevelTarget::kPattern:
      out.set_pattern(target.pattern);
      break;
    case LevelTarget::kAttribute:
      out.mutable_attribute()->set_name(target.attribute);
      out.mutable_attribute()->set_value(target.value);
      break;
  }
  return out;
}

v1::FencingLevel ToProto(const FencingLevel& level, v1::DeviceSource source) {
  v1::FencingLevel out;
  *out.mutable_target() = ToProto(level.target);
  out.set_index(static_cast<uint32_t>(level.index));
  for (const std::string& device : level.devices) {
    out.add_devices(device);
  }
  out.set_source(source);
  return out;
}

}  // namespace ha::stonithd
