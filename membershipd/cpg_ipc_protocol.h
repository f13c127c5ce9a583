// The wire protocol of membershipd's process groups (CPG) over libqb IPC: what a client sends in
// requests, what the daemon answers in responses and pushes as events. Shared by the server
// (cpg_ipc_server.h) and the client library (cpg_ipc_client.h). Format page:
// docs/formats/cpg-ipc.md.
//
// Framing is libqb's: a request starts with qb_ipc_request_header {id, size}, a response or an
// event with qb_ipc_response_header {id, size, error}; `size` counts the whole message. After the
// header, every field is little-endian and fixed-size, or a u32 length followed by that many
// bytes. Every length is bounded (the k* limits below); a body must be consumed exactly (trailing
// bytes are an error). Decoders never trust a length before checking what is left.
//
// Requests (id, then the body after the header):
//   kInit        u64 request_seq, str client_name            -> response InitReply
//   kJoin        u64 request_seq, str group                  -> response (empty)
//   kLeave       u64 request_seq, str group                  -> response (empty)
//   kMcast       u64 request_seq, u8 safe, str group, bytes payload
//                no response: pipelined; a refusal comes back as an ErrorEvent with the seq
//   kLocalGet    u64 request_seq                             -> response InitReply
//   kMembership  u64 request_seq, str group                  -> response MembershipReply
// Responses: header.id = the request's id, header.error = an absl::StatusCode (0 OK); the body is
// u64 request_seq, then on error a str message, else the reply's fields.
// Events (header.id one of kEvent*, error 0):
//   kEventDeliver     u32 node, u32 pid, u64 seq, u8 safe, str group, bytes payload
//   kEventConfChg     str group, RingId, members, joined, left   (each: u32 n, n x member)
//   kEventRingChange  RingId, u32 n, n x u32 node (members), same for joined, left
//   kEventError       u64 request_seq, u32 code, str message
// where RingId is u32 rep, u64 seq and a member is u32 node, u32 pid, u32 reason
// (ChangeReason's values as in proto GroupChangeReason).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ha::membership::cpg_ipc {

// libqb's headers are 16 (request) and 24 (response) bytes: their fields are 8-byte aligned.
inline constexpr size_t kRequestHeaderSize = 16;
inline constexpr size_t kResponseHeaderSize = 24;

// Limits. A multicast payload is at most 1 MiB (GroupCore's limit); the IPC buffers are sized for
// the largest message plus headroom.
inline constexpr size_t kMaxGroupName = 128;
inline constexpr size_t kMaxClientName = 256;
inline constexpr size_t kMaxPayload = size_t{1} << 20;
inline constexpr size_t kMaxMembers = 65536;
inline constexpr size_t kMaxErrorMessage = 1024;
inline constexpr size_t kBufferSize = (size_t{1} << 20) + (size_t{64} << 10);

enum RequestId : int32_t {
  kInit = 1,
  kJoin = 2,
  kLeave = 3,
  kMcast = 4,
  kLocalGet = 5,
  kMembership = 6,
};

enum EventId : int32_t {
  kEventDeliver = 101,
  kEventConfChg = 102,
  kEventRingChange = 103,
  kEventError = 104,
};

// The libqb service name of a node's CPG server: "hacluster-cpg-" and 16 hex digits of a hash of
// its run folder, so that each node of a one-host cluster has its own (libqb names are abstract
// sockets and /dev/shm files, so a path cannot be the name itself).
std::string ServiceName(absl::string_view run_dir);

// ---------------------------------------------------------------------------------------------
// Messages, decoded.

struct Request {
  int32_t id = 0;
  uint64_t request_seq = 0;
  std::string name;  // kInit: client name; kJoin, kLeave, kMcast, kMembership: group
  bool safe = false;
  std::string payload;  // kMcast
};

struct Member {
  uint32_t node = 0;
  uint32_t pid = 0;
  uint32_t reason = 0;
  bool operator==(const Member&) const = default;
};

struct RingIdValue {
  uint32_t rep = 0;
  uint64_t seq = 0;
  bool operator==(const RingIdValue&) const = default;
};

struct InitReply {
  uint32_t local_node = 0;
  uint32_t pid = 0;  // the client's pid as the daemon sees it
  uint64_t session = 0;
  uint32_t max_payload = 0;
};

struct Response {
  int32_t id = 0;
  absl::StatusCode code = absl::StatusCode::kOk;
  uint64_t request_seq = 0;
  std::string message;          // on error
  InitReply init;               // kInit, kLocalGet
  std::vector<Member> members;  // kMembership
};

struct Event {
  int32_t id = 0;
  // kEventDeliver
  uint32_t node = 0;
  uint32_t pid = 0;
  uint64_t seq = 0;
  bool safe = false;
  std::string group;  // kEventDeliver, kEventConfChg
  std::string payload;
  // kEventConfChg, kEventRingChange
  RingIdValue ring_id;
  std::vector<Member> members, joined, left;  // ring change: pid and reason 0
  // kEventError
  uint64_t request_seq = 0;
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
};

// Encoders return the whole message, header included.
std::string EncodeRequest(const Request& request);
std::string EncodeResponse(const Response& response);
std::string EncodeEvent(const Event& event);
// The error response to a request (seq 0 when the request could not be read).
std::string EncodeErrorResponse(int32_t id, uint64_t request_seq, const absl::Status& status);

// Decoders check every bound: INVALID_ARGUMENT with what was wrong. `data` is the whole message.
absl::StatusOr<Request> DecodeRequest(absl::string_view data);
absl::StatusOr<Response> DecodeResponse(absl::string_view data);
absl::StatusOr<Event> DecodeEvent(absl::string_view data);

// The request id and seq of a message that may be malformed, as far as they can be read (0 when
// not), to address the error reply.
struct RequestTag {
  int32_t id = 0;
  uint64_t request_seq = 0;
};
RequestTag PeekRequest(absl::string_view data);

}  // namespace ha::membership::cpg_ipc
