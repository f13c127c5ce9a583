// The messages stonithd's nodes exchange in the `stonithd` process group (fencing_cluster.h), and
// their encoding: a header line "stonithd-fencing 1 KIND" then one `key=value` line per field, the
// value C-escaped. Unknown keys are ignored (newer senders may add fields).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
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
    kHistory,  // a member's fencing history (and, for a joining member, its whole state)
    kHello,    // a member's name and incarnation, sent at every view that adds members
    kFenced,   // tells a member of a fenced incarnation (target, fenced_incarnation) to stop
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
  bool only_if_lost = false;  // kRequest: RequestFence::only_if_lost
  bool capable = false;       // kAnswer
  int level = 0;              // kAnswer: the first usable topology level; kResult: the device's
  std::vector<std::string> devices;  // kAnswer
  // kAnswer: every device of the node that can fence the target, and the target's topology
  // levels as the node has them ("1=d1+d2;2=d3").
  std::vector<std::string> capable_devices;
  std::string levels;
  bool degraded = false;  // kAnswer: the node's first device failed its last monitor
  int attempt = 0;        // kResult
  FenceState state = FenceState::kFailed;
  std::string device;  // kResult
  std::string reason;  // kResult
  // kHistory: finished operations; the running ones and the merged requests waiting for them
  // (FencingCluster's own encoding); the members this state is for ("node:pid:views,..." where
  // views counts the views since that member's join view), and the members already in step.
  std::vector<FenceRecord> records;
  std::vector<std::string> ops;
  std::vector<FenceRecord> merged;
  std::string sync_for;
  std::string synced;
  // Every message: the sender's incarnation (its stonithd process: a new one after a restart of
  // the stack); empty from older senders. kFenced: the incarnation told it was fenced.
  std::string incarnation;
  std::string fenced_incarnation;
  // kHistory for a joining member: the incarnations each node had in the group ("node=i1+i2;..")
  // and those fenced, refused from the group for good.
  std::string known;
  std::string fenced;
};

std::string EncodeWire(const WireMessage& message);
absl::StatusOr<WireMessage> DecodeWire(const std::string& payload);

// One history record as a single escaped line (kHistory's `record=` and `merged=` values).
std::string EncodeRecord(const FenceRecord& record);
absl::StatusOr<FenceRecord> DecodeRecord(const std::string& text);

// `key=value` lines with C-escaped values, the building block of the encodings above.
std::string EncodeFields(const std::vector<std::pair<std::string, std::string>>& fields);
absl::StatusOr<std::map<std::string, std::string>> DecodeFields(const std::string& text);

}  // namespace ha::stonithd
