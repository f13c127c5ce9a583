// The client library of membershipd's process groups over libqb IPC (cpg_ipc_server.h), in the
// shape of corosync's libcpg: connect (cpg_initialize), Join / Leave, Mcast (cpg_mcast_joined:
// queued, not delivered, when it returns), and Dispatch (cpg_dispatch) to receive deliveries and
// configuration changes through callbacks; fd() is the descriptor to poll.
//
// Mcast is pipelined: it does not wait for the daemon. RESOURCE_EXHAUSTED means the IPC buffer is
// full because the daemon's group queue is (corosync's CS_ERR_TRY_AGAIN): Dispatch, then send the
// same message again. A multicast the daemon refuses afterwards (not a member, ...) comes back to
// on_error with the seq Mcast returned.
//
// Threading: one object per thread at a time (no internal locking); callbacks run inside
// Dispatch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "membershipd/cpg_ipc_protocol.h"

struct qb_ipcc_connection;

namespace ha::membership {

struct CpgDelivery {
  std::string group;
  uint32_t node = 0;
  uint32_t pid = 0;
  uint64_t seq = 0;  // per sender session and group, from 1 at its join
  bool safe = false;
  std::string payload;
};

struct CpgConfigChange {
  std::string group;
  cpg_ipc::RingIdValue ring_id;
  std::vector<cpg_ipc::Member> members, joined, left;
};

struct CpgRingChange {
  cpg_ipc::RingIdValue ring_id;
  std::vector<uint32_t> members, joined, left;
};

struct CpgCallbacks {
  std::function<void(const CpgDelivery&)> on_deliver;
  std::function<void(const CpgConfigChange&)> on_confchg;
  std::function<void(const CpgRingChange&)> on_ring_change;
  // A pipelined multicast the daemon refused: the seq Mcast returned and why.
  std::function<void(uint64_t request_seq, const absl::Status&)> on_error;
};

class CpgIpcClient {
 public:
  // Connects to the libqb service `service_name` (cpg_ipc::ServiceName of the node's run folder)
  // and opens a session. PERMISSION_DENIED: the daemon refused this uid/gid. UNAVAILABLE: no
  // daemon serves the name.
  static absl::StatusOr<std::unique_ptr<CpgIpcClient>> Connect(const std::string& service_name,
                                                               const std::string& client_name);
  ~CpgIpcClient();
  CpgIpcClient(const CpgIpcClient&) = delete;
  CpgIpcClient& operator=(const CpgIpcClient&) = delete;

  uint32_t local_node_id() const { return init_.local_node; }
  uint32_t pid() const { return init_.pid; }  // as the daemon sees this process
  uint64_t session() const { return init_.session; }
  size_t max_payload() const { return init_.max_payload; }

  // Join and Leave return once the daemon took the request; the configuration change with this
  // process's join or leave comes through on_confchg. Errors are GroupCore's (group_core.h).
  absl::Status Join(const std::string& group);
  absl::Status Leave(const std::string& group);
  // Queues a multicast to `group`; returns its request seq. RESOURCE_EXHAUSTED: try again after
  // Dispatch. INVALID_ARGUMENT: payload over max_payload().
  absl::StatusOr<uint64_t> Mcast(const std::string& group, absl::string_view payload, bool safe);
  // Returns once the daemon has taken every multicast sent before (requests are handled in
  // order): a client that exits right after Mcast loses what is still in the IPC buffer.
  absl::Status Flush();
  // The group's members as this node sees them now.
  absl::StatusOr<std::vector<cpg_ipc::Member>> Membership(const std::string& group);

  // The descriptor that becomes readable when events wait.
  int fd() const { return fd_; }
  // Handles the events that wait, waiting up to `timeout` for the first; at most `max_events`.
  // Returns how many were handled. UNAVAILABLE: the daemon went away.
  absl::StatusOr<int> Dispatch(const CpgCallbacks& callbacks,
                               absl::Duration timeout,
                               int max_events = 1000);

 private:
  explicit CpgIpcClient(qb_ipcc_connection* connection);
  absl::StatusOr<cpg_ipc::Response> Call(cpg_ipc::Request request);
  absl::Status Send(const std::string& message, absl::Time deadline);

  qb_ipcc_connection* connection_;
  int fd_ = -1;
  uint64_t next_seq_ = 1;
  cpg_ipc::InitReply init_;
  std::string buffer_;  // one message: events and responses are read here
};

}  // namespace ha::membership
