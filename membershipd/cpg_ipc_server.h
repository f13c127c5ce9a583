// Process groups (corosync's CPG) over libqb IPC: the daemon side. A libqb shared-memory IPC
// service (qb_ipcs) named per node (cpg_ipc::ServiceName of the node's run folder), run on the
// daemon's EventLoop, speaking membershipd/cpg_ipc_protocol.h: each connection is one GroupHost
// session; join, leave and multicast requests go to the host; deliveries, group configuration
// changes, ring changes and refused multicasts are pushed to the client on libqb's event channel.
//
//  - Who: the accept callback checks the client's uid, gid and supplementary groups (read from
//    /proc/<pid>/status, since libqb hands over only uid and gid) against the same PeerPolicy as
//    the gRPC server (root, the configured uidgid entries, the haclient group); refused clients get
//    EACCES from qb_ipcc_connect. The shared-memory files are handed to the client's uid and gid.
//  - Pipelining: a multicast has no response; the client sends many without waiting. When the
//    node's group queue is full (GroupCore's max_pending), the connection's requests wait here, in
//    order, and the server stops reading that connection until deliveries make room; the client
//    then sees its IPC buffer fill (qb_ipcc_send: EAGAIN, the client library's RESOURCE_EXHAUSTED).
//  - Events a client does not read fill libqb's event buffer, then a backlog here; past
//    `event_backlog_limit` bytes the client is disconnected (like a gRPC stream that falls behind).
//  - Malformed requests are answered with an error (a response, or an error event for a
//    multicast), never a crash; the connection stays usable.
//
// libqb's poll callbacks carry no context, so the bridge to the EventLoop is process-wide: every
// server of a process must run on the same loop (FAILED_PRECONDITION otherwise).
//
// Threading: loop thread only.
#pragma once

#include <qb/qbipcs.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/peer_auth.h"
#include "membershipd/deadline_timer.h"
#include "membershipd/group_host.h"

namespace ha::membership {

struct CpgIpcServerOptions {
  std::string service_name;  // cpg_ipc::ServiceName(run_dir)
  PeerPolicy policy;         // default: root only
  size_t event_backlog_limit = size_t{64} << 20;
};

struct CpgIpcCounters {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;
  uint64_t requests = 0;
  uint64_t requests_malformed = 0;
  uint64_t mcasts_held = 0;  // multicasts that waited for room in the group queue
  uint64_t events_sent = 0;
  uint64_t events_backlogged = 0;
  uint64_t clients_overflowed = 0;  // disconnected for not reading their events
};

class CpgIpcServer {
 public:
  // Creates and runs the libqb service. ALREADY_EXISTS: another process serves the name.
  // REQUIRES: `loop`, `clock` and `host` outlive the server; called on the loop thread.
  static absl::StatusOr<std::unique_ptr<CpgIpcServer>> Start(EventLoop& loop,
                                                             Clock& clock,
                                                             GroupHost& host,
                                                             CpgIpcServerOptions options);
  ~CpgIpcServer();
  CpgIpcServer(const CpgIpcServer&) = delete;
  CpgIpcServer& operator=(const CpgIpcServer&) = delete;

  size_t connections() const { return connections_.size(); }
  const CpgIpcCounters& counters() const { return counters_; }
  const std::string& service_name() const { return options_.service_name; }

 private:
  class Connection;
  enum class Outcome { kDone, kHold };

  CpgIpcServer(EventLoop& loop, GroupHost& host, CpgIpcServerOptions options);

  // libqb's service callbacks (the server is the service's context).
  static int32_t OnAccept(qb_ipcs_connection_t* c, uid_t uid, gid_t gid);
  static void OnCreated(qb_ipcs_connection_t* c);
  static int32_t OnMessage(qb_ipcs_connection_t* c, void* data, size_t size);
  static int32_t OnClosed(qb_ipcs_connection_t* c);
  static void OnDestroyed(qb_ipcs_connection_t* c);

  Outcome Handle(Connection& conn, absl::string_view message);
  void Respond(Connection& conn, const std::string& response);
  void RetryHeld();
  void FlushBacklogs();
  void ArmFlushTimer();
  void DisconnectLater(uint64_t connection_id);

  EventLoop& loop_;
  GroupHost& host_;
  const CpgIpcServerOptions options_;
  qb_ipcs_service_t* service_ = nullptr;
  int listener_ = 0;
  int counter_source_ = 0;
  uint64_t next_connection_ = 1;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  // Retries event backlogs (libqb tells nothing when a client has read its events). A timerfd:
  // the loop's own timers can be late by several milliseconds (deadline_timer.h).
  std::unique_ptr<DeadlineTimer> flush_timer_;
  CpgIpcCounters counters_;
  // Work posted to the loop checks it: the server may be gone by then.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace ha::membership
