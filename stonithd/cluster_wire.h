// The messages stonithd's nodes exchange in the `stonithd` process group (fencing_cluster.h), and
// their encoding: a header line "stonithd-fencing 1 KIND" then one `key=value` line per field, the
// value C-escaped. Unknown keys are ignored (newer senders may add fields).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stonithd/fencing_core.h"

namespace ha::stonithd {

struct WireMessage {
  enum Kind {
    kRequest,  // a fencing request (origin, client, target, action, timeouts)
    kAnswer,   // a node's answer to a request: whether it can fence the target
    kResult,   // an attempt's (or the request's) result
    kExpire,   // a node's deadline for the request passed
    kConfirm,  // a manual confirmation that the target is off
  };
  Kind kind = kRequest;
  std::string id;  // the operation
  std::string target;
  FenceAction action = FenceAction::kReboot;
  std::string node;  // kRequest, kConfirm: the origin; kAnswer: the answering node's name
  std::string client;
  int64_t time_ms = 0;  // the sender's wall clock (Unix ms) when it sent the message
  int64_t timeout_ms = 0;
  int64_t delay_ms = 0;
  int64_t tolerance_ms = 0;
  bool allow_self = false;
  bool capable = false;  // kAnswer
  int level = 0;         // kAnswer: the first usable topology level; kResult: the device's
  std::vector<std::string> devices;  // kAnswer
  int attempt = 0;                   // kResult
  FenceState state = FenceState::kFailed;
  std::string device;  // kResult
  std::string reason;  // kResult
};

std::string EncodeWire(const WireMessage& message);
absl::StatusOr<WireMessage> DecodeWire(const std::string& payload);

}  // namespace ha::stonithd
