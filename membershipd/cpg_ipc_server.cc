#include "membershipd/cpg_ipc_server.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "membershipd/cpg_ipc_protocol.h"

namespace ha::membership {
namespace {

constexpr char kSubsys[] = "cpg";
constexpr size_t kMaxHeld = 100000;
constexpr absl::Duration kRetryInterval = absl::Milliseconds(1);
constexpr absl::Duration kBacklogRetry = absl::Microseconds(500);

// ---------------------------------------------------------------------------------------------
// libqb's poll handlers on an EventLoop. They get no context pointer, so the bridge is one per
// process (the only global of the IPC server, forced by libqb's API). The EventLoop watches for
// readability only; what libqb asks beyond it is emulated: exact revents by a zero-timeout poll,
// POLLOUT (libqb waits for it when its notification socket is full) by a short timer, and a
// connection can be paused (its requests not read) while its multicasts wait for room.
class PollBridge {
 public:
  static PollBridge& Get() {
    static PollBridge* bridge = new PollBridge();  // never destroyed: libqb may call late
    return *bridge;
  }

  absl::Status Attach(EventLoop& loop) {
    if (loop_ != nullptr && loop_ != &loop)
      return absl::FailedPreconditionError(
          "the libqb IPC servers of a process must share one event loop");
    loop_ = &loop;
    ++users_;
    return absl::OkStatus();
  }
  void Detach() {
    if (--users_ == 0)
      loop_ = nullptr;
  }

  qb_ipcs_poll_handlers Handlers() {
    qb_ipcs_poll_handlers h{};
    h.job_add = &PollBridge::JobAdd;
    h.dispatch_add = &PollBridge::DispatchAdd;
    h.dispatch_mod = &PollBridge::DispatchMod;
    h.dispatch_del = &PollBridge::DispatchDel;
    return h;
  }

  // Stops or resumes reading the descriptors registered with `data` (a libqb connection).
  void SetPaused(void* data, bool paused) {
    if (paused)
      paused_.insert(data);
    else
      paused_.erase(data);
    std::vector<int32_t> fds;
    for (const auto& [fd, reg] : regs_) {
      if (reg.data == data)
        fds.push_back(fd);
    }
    for (int32_t fd : fds) {
      Update(fd);
    }
  }

 private:
  struct Registration {
    int32_t events = 0;
    void* data = nullptr;
    qb_ipcs_dispatch_fn_t fn = nullptr;
    uint64_t generation = 0;
    bool watching = false;
    std::optional<EventLoop::TimerId> out_timer;
  };

  static int32_t JobAdd(enum qb_loop_priority, void* data, qb_loop_job_dispatch_fn fn) {
    PollBridge& b = Get();
    if (b.loop_ == nullptr)
      return -EINVAL;
    b.loop_->Post([data, fn] { fn(data); });
    return 0;
  }

  static int32_t DispatchAdd(
      enum qb_loop_priority, int32_t fd, int32_t events, void* data, qb_ipcs_dispatch_fn_t fn) {
    PollBridge& b = Get();
    if (b.loop_ == nullptr)
      return -EINVAL;
    b.Remove(fd);
    Registration& reg = b.regs_[fd];
    reg.events = events;
    reg.data = data;
    reg.fn = fn;
    reg.generation = ++b.generation_;
    return b.Update(fd);
  }

  static int32_t DispatchMod(
      enum qb_loop_priority, int32_t fd, int32_t events, void* data, qb_ipcs_dispatch_fn_t fn) {
    PollBridge& b = Get();
    auto it = b.regs_.find(fd);
    if (it == b.regs_.end())
      return -ENOENT;
    it->second.events = events;
    it->second.data = data;
    it->second.fn = fn;
    return b.Update(fd);
  }

  static int32_t DispatchDel(int32_t fd) {
    Get().Remove(fd);
    return 0;
  }

  void Remove(int32_t fd) {
    auto it = regs_.find(fd);
    if (it == regs_.end())
      return;
    if (it->second.watching && loop_ != nullptr)
      loop_->Unwatch(fd);
    if (it->second.out_timer && loop_ != nullptr)
      loop_->CancelTimer(*it->second.out_timer);
    regs_.erase(it);
  }

  int32_t Update(int32_t fd) {
    Registration& reg = regs_.at(fd);
    const bool want_in = (reg.events & (POLLIN | POLLPRI)) != 0 && paused_.count(reg.data) == 0;
    if (want_in && !reg.watching) {
      const uint64_t gen = reg.generation;
      absl::Status s = loop_->WatchReadable(fd, [this, fd, gen] { OnReady(fd, gen, false); });
      if (!s.ok()) {
        HA_LOG_ERROR(kSubsys, "cannot watch an IPC descriptor: %s", s.ToString().c_str());
        return -EINVAL;
      }
      reg.watching = true;
    } else if (!want_in && reg.watching) {
      loop_->Unwatch(fd);
      reg.watching = false;
    }
    if ((reg.events & POLLOUT) != 0 && !reg.out_timer) {
      const uint64_t gen = reg.generation;
      reg.out_timer = loop_->AddTimer(kRetryInterval, [this, fd, gen] {
        auto it = regs_.find(fd);
        if (it == regs_.end() || it->second.generation != gen)
          return;
        it->second.out_timer.reset();
        OnReady(fd, gen, true);
        it = regs_.find(fd);
        if (it != regs_.end() && it->second.generation == gen)
          (void)Update(fd);
      });
    }
    return 0;
  }

  // The descriptor may be ready: what libqb asked for, as poll(2) sees it now.
  void OnReady(int32_t fd, uint64_t gen, bool out_only) {
    auto it = regs_.find(fd);
    if (it == regs_.end() || it->second.generation != gen)
      return;
    pollfd p{};
    p.fd = fd;
    p.events = static_cast<short>(out_only ? (it->second.events & POLLOUT) : it->second.events);
    if (paused_.count(it->second.data) > 0)
      p.events &= ~(POLLIN | POLLPRI);
    if (::poll(&p, 1, 0) <= 0 || p.revents == 0)
      return;
    const int32_t res = it->second.fn(fd, p.revents, it->second.data);
    // A negative result means: drop this descriptor (libqb may have done so itself).
    if (res < 0) {
      it = regs_.find(fd);
      if (it != regs_.end() && it->second.generation == gen)
        Remove(fd);
    }
  }

  EventLoop* loop_ = nullptr;
  int users_ = 0;
  uint64_t generation_ = 0;
  std::map<int32_t, Registration> regs_;
  std::set<void*> paused_;
};

// Supplementary groups of a process (the "Groups:" line of /proc/PID/status).
std::vector<gid_t> SupplementaryGroups(pid_t pid) {
  std::vector<gid_t> out;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("Groups:"))
      continue;
    for (absl::string_view field :
         absl::StrSplit(line.substr(7), absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
      uint32_t gid = 0;
      if (absl::SimpleAtoi(field, &gid))
        out.push_back(static_cast<gid_t>(gid));
    }
    break;
  }
  return out;
}

cpg_ipc::Member MemberWire(const GroupMember& m) {
  return cpg_ipc::Member{m.node, m.pid, static_cast<uint32_t>(m.reason)};
}

cpg_ipc::Event EventWire(const GroupEvent& event) {
  cpg_ipc::Event out;
  if (const auto* m = std::get_if<GroupMessage>(&event)) {
    out.id = cpg_ipc::kEventDeliver;
    out.node = m->sender_node;
    out.pid = m->sender_pid;
    out.seq = m->seq;
    out.safe = m->ordering == Ordering::kSafe;
    out.group = m->group;
    out.payload = m->payload;
  } else if (const auto* c = std::get_if<GroupChange>(&event)) {
    out.id = cpg_ipc::kEventConfChg;
    out.group = c->group;
    out.ring_id = cpg_ipc::RingIdValue{c->position.ring_id.rep, c->position.ring_id.seq};
    for (const GroupMember& m : c->members) {
      out.members.push_back(MemberWire(m));
    }
    for (const GroupMember& m : c->joined) {
      out.joined.push_back(MemberWire(m));
    }
    for (const GroupMember& m : c->left) {
      out.left.push_back(MemberWire(m));
    }
  } else {
    const auto& r = std::get<RingChange>(event);
    out.id = cpg_ipc::kEventRingChange;
    out.ring_id = cpg_ipc::RingIdValue{r.ring_id.rep, r.ring_id.seq};
    for (NodeId id : r.members) {
      out.members.push_back(cpg_ipc::Member{id, 0, 0});
    }
    for (NodeId id : r.joined) {
      out.joined.push_back(cpg_ipc::Member{id, 0, 0});
    }
    for (NodeId id : r.left) {
      out.left.push_back(cpg_ipc::Member{id, 0, 0});
    }
  }
  return out;
}

}  // namespace

// One client connection: its session once it sent kInit, its requests waiting for room in the
// group queue, and its events waiting for room in libqb's event buffer.
class CpgIpcServer::Connection final : public GroupSessionSink {
 public:
  Connection(CpgIpcServer& server, uint64_t id, qb_ipcs_connection_t* c, pid_t pid)
      : server_(server), id_(id), c_(c), pid_(pid) {}

  void OnGroupEvent(const GroupEvent& event) override {
    SendEvent(cpg_ipc::EncodeEvent(EventWire(event)));
  }

  void SendEvent(std::string event) {
    if (closed_ || overflowed_)
      return;
    if (backlog_.empty()) {
      const ssize_t rc = qb_ipcs_event_send(c_, event.data(), event.size());
      if (rc >= 0) {
        ++server_.counters_.events_sent;
        return;
      }
      if (rc != -EAGAIN && rc != -ETIMEDOUT) {
        HA_LOG_DEBUG(kSubsys,
                     "cannot send an event to pid %d: %s",
                     static_cast<int>(pid_),
                     std::strerror(static_cast<int>(-rc)));
        return;
      }
    }
    ++server_.counters_.events_backlogged;
    backlog_bytes_ += event.size();
    backlog_.push_back(std::move(event));
    if (backlog_bytes_ > server_.options_.event_backlog_limit) {
      overflowed_ = true;
      backlog_.clear();
      backlog_bytes_ = 0;
      ++server_.counters_.clients_overflowed;
      HA_LOG_WARN(kSubsys,
                  "IPC client pid %d does not read its events: disconnecting it | "
                  "backlog_limit=%zu",
                  static_cast<int>(pid_),
                  server_.options_.event_backlog_limit);
      server_.DisconnectLater(id_);
      return;
    }
    server_.ArmFlushTimer();
  }

  // Sends what libqb's buffer takes now. Returns whether a backlog remains.
  bool Flush() {
    while (!backlog_.empty() && !closed_) {
      const std::string& event = backlog_.front();
      const ssize_t rc = qb_ipcs_event_send(c_, event.data(), event.size());
      if (rc == -EAGAIN || rc == -ETIMEDOUT)
        return true;
      if (rc >= 0)
        ++server_.counters_.events_sent;
      backlog_bytes_ -= event.size();
      backlog_.pop_front();
    }
    return false;
  }

  CpgIpcServer& server_;
  const uint64_t id_;
  qb_ipcs_connection_t* const c_;
  const pid_t pid_;
  std::optional<uint64_t> session_;
  bool closed_ = false;
  bool overflowed_ = false;
  std::deque<std::string> held_;  // raw requests, in order, while a multicast waits for room
  std::deque<std::string> backlog_;
  size_t backlog_bytes_ = 0;
};

CpgIpcServer::CpgIpcServer(EventLoop& loop, GroupHost& host, CpgIpcServerOptions options)
    : loop_(loop), host_(host), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<CpgIpcServer>> CpgIpcServer::Start(EventLoop& loop,
                                                                  Clock& clock,
                                                                  GroupHost& host,
                                                                  CpgIpcServerOptions options) {
  if (options.service_name.empty())
    return absl::InvalidArgumentError("no IPC service name");
  if (absl::Status s = PollBridge::Get().Attach(loop); !s.ok())
    return s;
  std::unique_ptr<CpgIpcServer> server(new CpgIpcServer(loop, host, std::move(options)));
  CpgIpcServer* self = server.get();
  absl::StatusOr<std::unique_ptr<DeadlineTimer>> flush =
      DeadlineTimer::Create(loop, clock, [self] { self->FlushBacklogs(); });
  if (!flush.ok()) {
    PollBridge::Get().Detach();
    return flush.status();
  }
  server->flush_timer_ = *std::move(flush);
  qb_ipcs_service_handlers handlers{};
  handlers.connection_accept = &CpgIpcServer::OnAccept;
  handlers.connection_created = &CpgIpcServer::OnCreated;
  handlers.msg_process = &CpgIpcServer::OnMessage;
  handlers.connection_closed = &CpgIpcServer::OnClosed;
  handlers.connection_destroyed = &CpgIpcServer::OnDestroyed;
  server->service_ =
      qb_ipcs_create(server->options_.service_name.c_str(), 0, QB_IPC_SHM, &handlers);
  if (server->service_ == nullptr) {
    PollBridge::Get().Detach();
    return absl::InternalError("qb_ipcs_create failed");
  }
  qb_ipcs_service_context_set(server->service_, server.get());
  qb_ipcs_poll_handlers poll = PollBridge::Get().Handlers();
  qb_ipcs_poll_handlers_set(server->service_, &poll);
  qb_ipcs_enforce_buffer_size(server->service_, cpg_ipc::kBufferSize);
  if (const int32_t rc = qb_ipcs_run(server->service_); rc < 0) {
    // qb_ipcs_run releases the service when it fails.
    server->service_ = nullptr;
    PollBridge::Get().Detach();
    if (rc == -EADDRINUSE)
      return absl::AlreadyExistsError(
          absl::StrCat("another process serves the IPC name ", server->options_.service_name));
    return absl::InternalError(absl::StrCat(
        "cannot serve the IPC name ", server->options_.service_name, ": ", std::strerror(-rc)));
  }
  CpgIpcServer* raw = server.get();
  server->listener_ = host.AddProgressListener([raw] { raw->RetryHeld(); });
  server->counter_source_ = host.AddCounterSource([raw](std::map<std::string, uint64_t>& out) {
    const CpgIpcCounters& c = raw->counters_;
    out["cpg.ipc.connections"] = raw->connections_.size();
    out["cpg.ipc.connections_accepted"] = c.connections_accepted;
    out["cpg.ipc.connections_refused"] = c.connections_refused;
    out["cpg.ipc.requests"] = c.requests;
    out["cpg.ipc.requests_malformed"] = c.requests_malformed;
    out["cpg.ipc.mcasts_held"] = c.mcasts_held;
    out["cpg.ipc.events_sent"] = c.events_sent;
    out["cpg.ipc.events_backlogged"] = c.events_backlogged;
    out["cpg.ipc.clients_overflowed"] = c.clients_overflowed;
  });
  HA_LOG_INFO(kSubsys,
              "serving process groups over libqb IPC | name=%s allowed=%s",
              server->options_.service_name.c_str(),
              server->options_.policy.Describe().c_str());
  return server;
}

CpgIpcServer::~CpgIpcServer() {
  host_.RemoveProgressListener(listener_);
  host_.RemoveCounterSource(counter_source_);
  if (flush_timer_)
    flush_timer_->Cancel();
  if (service_ != nullptr) {
    // Disconnects every client (OnClosed, OnDestroyed run now) and removes the name.
    qb_ipcs_destroy(service_);
    service_ = nullptr;
    PollBridge::Get().Detach();
  }
  for (auto& [id, conn] : connections_) {
    if (conn->session_)
      host_.CloseSession(*conn->session_);
  }
}

int32_t CpgIpcServer::OnAccept(qb_ipcs_connection_t* c, uid_t uid, gid_t gid) {
  auto* self = static_cast<CpgIpcServer*>(qb_ipcs_connection_service_context_get(c));
  qb_ipcs_connection_stats stats{};
  qb_ipcs_connection_stats_get(c, &stats, 0);
  PeerIdentity peer;
  peer.pid = stats.client_pid;
  peer.uid = uid;
  peer.gid = gid;
  if (peer.pid > 0)
    peer.groups = SupplementaryGroups(peer.pid);
  if (!self->options_.policy.Allows(peer)) {
    ++self->counters_.connections_refused;
    HA_LOG_WARN(kSubsys,
                "refused an IPC client: not allowed | peer=%s allowed=%s",
                peer.ToString().c_str(),
                self->options_.policy.Describe().c_str());
    return -EACCES;
  }
  // The shared-memory files become the client's, so that a non-root client can map them.
  qb_ipcs_connection_auth_set(c, uid, gid, 0600);
  ++self->counters_.connections_accepted;
  return 0;
}

void CpgIpcServer::OnCreated(qb_ipcs_connection_t* c) {
  auto* self = static_cast<CpgIpcServer*>(qb_ipcs_connection_service_context_get(c));
  qb_ipcs_connection_stats stats{};
  qb_ipcs_connection_stats_get(c, &stats, 0);
  const uint64_t id = self->next_connection_++;
  auto conn = std::make_unique<Connection>(*self, id, c, stats.client_pid);
  qb_ipcs_context_set(c, conn.get());
  self->connections_[id] = std::move(conn);
  HA_LOG_DEBUG(kSubsys, "IPC client connected | pid=%d", stats.client_pid);
}

int32_t CpgIpcServer::OnMessage(qb_ipcs_connection_t* c, void* data, size_t size) {
  auto* self = static_cast<CpgIpcServer*>(qb_ipcs_connection_service_context_get(c));
  auto* conn = static_cast<Connection*>(qb_ipcs_context_get(c));
  if (conn == nullptr || conn->closed_)
    return 0;
  ++self->counters_.requests;
  // libqb passes the size the client wrote in the header, not what it received: bound it before
  // reading anything (the shared-memory ring is mapped twice, so up to a buffer's length past the
  // start of a message is readable).
  if (size > cpg_ipc::kBufferSize)
    size = cpg_ipc::kRequestHeaderSize - 1;  // refused as too short, with no field read
  const absl::string_view message(static_cast<const char*>(data), size);
  if (!conn->held_.empty()) {
    // Behind a waiting multicast: keep the order.
    if (conn->held_.size() >= kMaxHeld) {
      HA_LOG_WARN(kSubsys,
                  "IPC client pid %d has too many requests waiting: disconnecting it",
                  static_cast<int>(conn->pid_));
      self->DisconnectLater(conn->id_);
      return 0;
    }
    conn->held_.emplace_back(message);
    return 0;
  }
  if (self->Handle(*conn, message) == Outcome::kHold) {
    ++self->counters_.mcasts_held;
    conn->held_.emplace_back(message);
    PollBridge::Get().SetPaused(c, true);
  }
  return 0;
}

int32_t CpgIpcServer::OnClosed(qb_ipcs_connection_t* c) {
  auto* self = static_cast<CpgIpcServer*>(qb_ipcs_connection_service_context_get(c));
  auto* conn = static_cast<Connection*>(qb_ipcs_context_get(c));
  PollBridge::Get().SetPaused(c, false);
  if (conn == nullptr || conn->closed_)
    return 0;
  conn->closed_ = true;
  conn->held_.clear();
  conn->backlog_.clear();
  if (conn->session_) {
    const uint64_t session = *conn->session_;
    conn->session_.reset();
    self->host_.CloseSession(session);
  }
  HA_LOG_DEBUG(kSubsys, "IPC client disconnected | pid=%d", static_cast<int>(conn->pid_));
  return 0;
}

void CpgIpcServer::OnDestroyed(qb_ipcs_connection_t* c) {
  auto* self = static_cast<CpgIpcServer*>(qb_ipcs_connection_service_context_get(c));
  auto* conn = static_cast<Connection*>(qb_ipcs_context_get(c));
  qb_ipcs_context_set(c, nullptr);
  if (conn != nullptr)
    self->connections_.erase(conn->id_);
}

void CpgIpcServer::Respond(Connection& conn, const std::string& response) {
  const ssize_t rc = qb_ipcs_response_send(conn.c_, response.data(), response.size());
  if (rc < 0)
    HA_LOG_DEBUG(kSubsys,
                 "cannot answer IPC client pid %d: %s",
                 static_cast<int>(conn.pid_),
                 std::strerror(static_cast<int>(-rc)));
}

CpgIpcServer::Outcome CpgIpcServer::Handle(Connection& conn, absl::string_view message) {
  absl::StatusOr<cpg_ipc::Request> request = cpg_ipc::DecodeRequest(message);
  auto refuse = [&](int32_t id, uint64_t seq, const absl::Status& status) {
    if (id == cpg_ipc::kMcast) {
      cpg_ipc::Event error;
      error.id = cpg_ipc::kEventError;
      error.request_seq = seq;
      error.code = status.code();
      error.message = std::string(status.message());
      conn.SendEvent(cpg_ipc::EncodeEvent(error));
    } else {
      Respond(conn, cpg_ipc::EncodeErrorResponse(id, seq, status));
    }
  };
  if (!request.ok()) {
    ++counters_.requests_malformed;
    const cpg_ipc::RequestTag tag = cpg_ipc::PeekRequest(message);
    HA_LOG_DEBUG(kSubsys,
                 "malformed IPC request from pid %d: %s",
                 static_cast<int>(conn.pid_),
                 request.status().ToString().c_str());
    refuse(tag.id, tag.request_seq, request.status());
    return Outcome::kDone;
  }
  const cpg_ipc::Request& r = *request;
  if (r.id != cpg_ipc::kInit && !conn.session_) {
    refuse(r.id, r.request_seq, absl::FailedPreconditionError("no session: send kInit first"));
    return Outcome::kDone;
  }
  cpg_ipc::Response response;
  response.id = r.id;
  response.request_seq = r.request_seq;
  auto init_reply = [&] {
    response.init.local_node = host_.local_node_id();
    response.init.pid = static_cast<uint32_t>(conn.pid_);
    response.init.session = conn.session_.value_or(0);
    response.init.max_payload = static_cast<uint32_t>(host_.max_payload());
  };
  switch (r.id) {
    case cpg_ipc::kInit: {
      if (conn.session_) {
        refuse(r.id, r.request_seq, absl::AlreadyExistsError("the session is open already"));
        return Outcome::kDone;
      }
      absl::StatusOr<uint64_t> session =
          host_.OpenSession(static_cast<uint32_t>(conn.pid_), r.name, &conn);
      if (!session.ok()) {
        refuse(r.id, r.request_seq, session.status());
        return Outcome::kDone;
      }
      conn.session_ = *session;
      init_reply();
      break;
    }
    case cpg_ipc::kJoin:
    case cpg_ipc::kLeave: {
      absl::Status s = r.id == cpg_ipc::kJoin ? host_.Join(*conn.session_, r.name)
                                              : host_.Leave(*conn.session_, r.name);
      if (!s.ok()) {
        refuse(r.id, r.request_seq, s);
        return Outcome::kDone;
      }
      break;
    }
    case cpg_ipc::kMcast: {
      absl::Status s = host_.Multicast(*conn.session_, r.name, r.payload, r.safe);
      if (absl::IsResourceExhausted(s))
        return Outcome::kHold;
      if (!s.ok())
        refuse(r.id, r.request_seq, s);
      return Outcome::kDone;  // no response: pipelined
    }
    case cpg_ipc::kLocalGet:
      init_reply();
      break;
    case cpg_ipc::kMembership:
      for (const GroupInfo& info : host_.ListGroups()) {
        if (info.group != r.name)
          continue;
        for (const GroupMember& m : info.members) {
          response.members.push_back(MemberWire(m));
        }
      }
      break;
    default:
      refuse(r.id, r.request_seq, absl::InvalidArgumentError("unknown request"));
      return Outcome::kDone;
  }
  Respond(conn, cpg_ipc::EncodeResponse(response));
  return Outcome::kDone;
}

void CpgIpcServer::RetryHeld() {
  // Connections may close while their requests run (a session's events): iterate by id.
  std::vector<uint64_t> ids;
  for (const auto& [id, conn] : connections_) {
    if (!conn->held_.empty())
      ids.push_back(id);
  }
  for (uint64_t id : ids) {
    auto it = connections_.find(id);
    if (it == connections_.end())
      continue;
    Connection& conn = *it->second;
    while (!conn.held_.empty() && !conn.closed_) {
      if (Handle(conn, conn.held_.front()) == Outcome::kHold)
        break;
      conn.held_.pop_front();
    }
    if (conn.held_.empty() && !conn.closed_)
      PollBridge::Get().SetPaused(conn.c_, false);
  }
}

void CpgIpcServer::ArmFlushTimer() {
  if (!flush_timer_->armed())
    flush_timer_->ArmAfter(kBacklogRetry);
}

void CpgIpcServer::FlushBacklogs() {
  bool again = false;
  for (auto& [id, conn] : connections_) {
    if (conn->Flush())
      again = true;
  }
  if (again)
    ArmFlushTimer();
}

void CpgIpcServer::DisconnectLater(uint64_t connection_id) {
  loop_.Post([this, connection_id, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired())
      return;
    auto it = connections_.find(connection_id);
    if (it != connections_.end() && !it->second->closed_)
      qb_ipcs_disconnect(it->second->c_);
  });
}

}  // namespace ha::membership
