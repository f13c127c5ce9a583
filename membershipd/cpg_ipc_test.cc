// Process groups over libqb IPC, end to end in one process: a real one-node ring (UDP on
// 127.0.0.1) with its GroupHost and CpgIpcServer on a loop thread, and clients of the client
// library (or raw libqb clients for malformed requests) on the test thread; a client run as
// `nobody` in a forked child. Nothing here asserts a timing: waits have generous deadlines.
#include <grp.h>
#include <qb/qbipcc.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "config/cluster_config.h"
#include "membershipd/cpg_ipc_client.h"
#include "membershipd/cpg_ipc_protocol.h"
#include "membershipd/cpg_ipc_server.h"
#include "membershipd/group_host.h"
#include "membershipd/membership_daemon.h"

namespace ha::membership {
namespace {

constexpr uid_t kNobody = 65534;

// One node: the ring, the groups and the IPC server, on their own loop thread.
struct NodeOptions {
  PeerPolicy policy;
  size_t max_pending = GroupOptions{}.max_pending;
  size_t event_backlog_limit = CpgIpcServerOptions{}.event_backlog_limit;
  bool start_ring = true;  // else StartRing() later: until then GroupCore queues everything
};

class Node {
 public:
  explicit Node(PeerPolicy policy) : Node(NodeOptions{std::move(policy)}) {}
  explicit Node(NodeOptions node_options) {
    char tmpl[] = "/tmp/cpg_ipc_test.XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    // The group-writable, world-searchable folder lets the `nobody` child reach nothing here
    // but the IPC (which is an abstract socket and /dev/shm files anyway).
    const int port = 20000 + static_cast<int>(getpid() % 20000);
    const std::string text = absl::StrCat(
        "totem {\n version: 2\n cluster_name: cpgipc\n transport: udpu\n nodeid: 1\n",
        " interface {\n  linknumber: 0\n  mcastport: ",
        port,
        "\n }\n}\n",
        "nodelist {\n node {\n  nodeid: 1\n  name: n1\n  ring0_addr: 127.0.0.1\n }\n}\n",
        "logging {\n to_stderr: no\n to_syslog: no\n}\n",
        "system {\n state_dir: ",
        dir_,
        "\n run_dir: ",
        dir_,
        "\n sched_rr: no\n}\n");
    absl::StatusOr<config::LoadedConfig> loaded = config::ParseClusterConfig(text, "test.conf");
    REQUIRE(loaded.ok());
    config_ = loaded->config;
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = CreateQbEventLoop();
    REQUIRE(loop.ok());
    loop_ = *std::move(loop);
    absl::StatusOr<std::unique_ptr<MembershipDaemon>> daemon =
        MembershipDaemon::Create(*loop_, clock_, config_, config_.nodes.at(0));
    REQUIRE(daemon.ok());
    daemon_ = *std::move(daemon);
    if (node_options.start_ring)
      REQUIRE(daemon_->Start().ok());
    host_ = std::make_unique<GroupHost>(*daemon_, node_options.max_pending);
    CpgIpcServerOptions options;
    options.service_name = cpg_ipc::ServiceName(dir_);
    options.policy = std::move(node_options.policy);
    options.event_backlog_limit = node_options.event_backlog_limit;
    absl::StatusOr<std::unique_ptr<CpgIpcServer>> server =
        CpgIpcServer::Start(*loop_, clock_, *host_, options);
    REQUIRE(server.ok());
    server_ = *std::move(server);
    thread_ = std::thread([this] { loop_->Run(); });
  }

  ~Node() {
    OnLoop([this] {
      server_.reset();
      host_.reset();
      daemon_.reset();
      return 0;
    });
    loop_->Stop();
    thread_.join();
    loop_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Runs `fn` on the loop thread and returns its result.
  template <typename F>
  auto OnLoop(F fn) -> decltype(fn()) {
    std::promise<decltype(fn())> done;
    auto result = done.get_future();
    loop_->Post([&] { done.set_value(fn()); });
    return result.get();
  }

  void StartRing() {
    REQUIRE(OnLoop([this] { return daemon_->Start().ok(); }));
  }
  std::string service_name() const { return cpg_ipc::ServiceName(dir_); }
  CpgIpcCounters counters() {
    return OnLoop([this] { return server_->counters(); });
  }

 private:
  std::string dir_;
  config::ClusterConfig config_;
  RealClock clock_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<MembershipDaemon> daemon_;
  std::unique_ptr<GroupHost> host_;
  std::unique_ptr<CpgIpcServer> server_;
  std::thread thread_;
};

// What a client received, in order.
struct Recorder {
  std::vector<CpgDelivery> messages;
  std::vector<CpgConfigChange> changes;
  std::vector<std::pair<uint64_t, absl::Status>> errors;
  CpgCallbacks callbacks() {
    CpgCallbacks cb;
    cb.on_deliver = [this](const CpgDelivery& d) { messages.push_back(d); };
    cb.on_confchg = [this](const CpgConfigChange& c) { changes.push_back(c); };
    cb.on_error = [this](uint64_t seq, const absl::Status& s) { errors.emplace_back(seq, s); };
    return cb;
  }
};

// Dispatches every client until `done` holds (or a minute passes: then the test fails on it).
bool DispatchUntil(std::vector<std::pair<CpgIpcClient*, Recorder*>> clients,
                   const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!done()) {
    if (absl::Now() > deadline)
      return false;
    for (auto& [client, recorder] : clients) {
      absl::StatusOr<int> n = client->Dispatch(recorder->callbacks(), absl::Milliseconds(5));
      if (!n.ok())
        return false;
    }
  }
  return true;
}

bool HasMember(const std::vector<cpg_ipc::Member>& list, uint32_t pid, uint32_t reason) {
  for (const cpg_ipc::Member& m : list) {
    if (m.pid == pid && m.reason == reason)
      return true;
  }
  return false;
}

// Runs `child` in a forked process as nobody; returns its exit code (or -1).
int RunAsNobody(const std::function<int()>& child) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0)
      _exit(90);
    _exit(child());
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

TEST_CASE("two clients: joins, agreed-order multicasts, leaves") {
  Node node{PeerPolicy()};
  absl::StatusOr<std::unique_ptr<CpgIpcClient>> a = CpgIpcClient::Connect(node.service_name(), "a");
  REQUIRE(a.ok());
  absl::StatusOr<std::unique_ptr<CpgIpcClient>> b = CpgIpcClient::Connect(node.service_name(), "b");
  REQUIRE(b.ok());
  CHECK((*a)->local_node_id() == 1);
  CHECK((*a)->pid() == static_cast<uint32_t>(getpid()));
  CHECK((*a)->session() != (*b)->session());
  Recorder ra, rb;
  const uint32_t pid = (*a)->pid();

  REQUIRE((*a)->Join("g").ok());
  REQUIRE(DispatchUntil({{a->get(), &ra}}, [&] { return !ra.changes.empty(); }));
  CHECK(ra.changes[0].group == "g");
  CHECK(HasMember(ra.changes[0].joined, pid, 1));

  // One process, two sessions: the second join of the same pid is refused (CPG's rule).
  CHECK(absl::IsAlreadyExists((*b)->Join("g")));
  REQUIRE((*b)->Join("h").ok());
  REQUIRE((*a)->Join("h").ok() == false);  // a is the same process too
  CHECK((*b)->Leave("h").ok());

  // Pipelined: 300 multicasts from a without waiting; every one delivered in order, once.
  constexpr int kCount = 300;
  for (int i = 0; i < kCount; ++i) {
    for (;;) {
      absl::StatusOr<uint64_t> seq = (*a)->Mcast("g", absl::StrCat("m", i), i % 10 == 0);
      if (seq.ok())
        break;
      REQUIRE(absl::IsResourceExhausted(seq.status()));
      REQUIRE((*a)->Dispatch(ra.callbacks(), absl::Milliseconds(1)).ok());
    }
  }
  REQUIRE(DispatchUntil({{a->get(), &ra}}, [&] { return ra.messages.size() >= kCount; }));
  REQUIRE(ra.messages.size() == kCount);
  for (int i = 0; i < kCount; ++i) {
    CHECK(ra.messages[i].payload == absl::StrCat("m", i));
    CHECK(ra.messages[i].seq == static_cast<uint64_t>(i + 1));
    CHECK(ra.messages[i].safe == (i % 10 == 0));
    CHECK(ra.messages[i].node == 1);
  }
  CHECK(ra.errors.empty());

  // Not a member: the pipelined multicast comes back as an error event with its seq.
  absl::StatusOr<uint64_t> stray = (*b)->Mcast("g", "x", false);
  REQUIRE(stray.ok());
  REQUIRE(DispatchUntil({{b->get(), &rb}}, [&] { return !rb.errors.empty(); }));
  CHECK(rb.errors[0].first == *stray);
  CHECK(absl::IsFailedPrecondition(rb.errors[0].second));

  // Membership as the node sees it.
  absl::StatusOr<std::vector<cpg_ipc::Member>> members = (*b)->Membership("g");
  REQUIRE(members.ok());
  REQUIRE(members->size() == 1);
  CHECK((*members)[0].pid == pid);

  // A leave is a change for the group's other members... and for the leaver (deviation 3).
  REQUIRE((*a)->Leave("g").ok());
  const size_t before = ra.changes.size();
  REQUIRE(DispatchUntil({{a->get(), &ra}}, [&] { return ra.changes.size() > before; }));
  CHECK(HasMember(ra.changes.back().left, pid, 2));
}

TEST_CASE("two processes see each other's joins, messages and disconnects") {
  Node node{PeerPolicy()};
  absl::StatusOr<std::unique_ptr<CpgIpcClient>> a = CpgIpcClient::Connect(node.service_name(), "a");
  REQUIRE(a.ok());
  Recorder ra;
  REQUIRE((*a)->Join("g").ok());
  REQUIRE(DispatchUntil({{a->get(), &ra}}, [&] { return !ra.changes.empty(); }));

  // A child process joins, multicasts 50 messages and exits without leaving.
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  const pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[1]);
    auto c = CpgIpcClient::Connect(node.service_name(), "child");
    if (!c.ok() || !(*c)->Join("g").ok())
      _exit(1);
    char go;
    if (read(pipe_fds[0], &go, 1) != 1)
      _exit(2);
    for (int i = 0; i < 50; ++i) {
      while (!(*c)->Mcast("g", absl::StrCat("c", i), false).ok()) {
      }
    }
    // Its own 50 back before it exits: what is still in the IPC buffer when a client exits is
    // lost (Flush() would do as a barrier too).
    Recorder rc;
    auto own = [&] {
      int n = 0;
      for (const CpgDelivery& d : rc.messages) {
        n += d.pid == static_cast<uint32_t>(getpid()) ? 1 : 0;
      }
      return n;
    };
    if (!DispatchUntil({{c->get(), &rc}}, [&] { return own() >= 50; }))
      _exit(3);
    _exit(0);
  }
  close(pipe_fds[0]);
  REQUIRE(DispatchUntil({{a->get(), &ra}}, [&] {
    return ra.changes.size() >= 2 && HasMember(ra.changes.back().joined, child, 1);
  }));
  CHECK(ra.changes.back().members.size() == 2);
  // Both send at once: a's 50 and the child's 50 interleave, each in its own order.
  REQUIRE(write(pipe_fds[1], "g", 1) == 1);
  for (int i = 0; i < 50; ++i) {
    while (!(*a)->Mcast("g", absl::StrCat("a", i), false).ok()) {
      REQUIRE((*a)->Dispatch(ra.callbacks(), absl::Milliseconds(1)).ok());
    }
  }
  REQUIRE(DispatchUntil({{a->get(), &ra}}, [&] { return ra.messages.size() >= 100; }));
  int next_a = 0, next_c = 0;
  for (const CpgDelivery& d : ra.messages) {
    if (d.pid == static_cast<uint32_t>(child))
      CHECK(d.payload == absl::StrCat("c", next_c++));
    else
      CHECK(d.payload == absl::StrCat("a", next_a++));
  }
  CHECK(next_a == 50);
  CHECK(next_c == 50);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  close(pipe_fds[1]);
  // The child's session ended with its process: PROCDOWN (5) for the others.
  REQUIRE(DispatchUntil({{a->get(), &ra}}, [&] {
    return HasMember(ra.changes.back().left, static_cast<uint32_t>(child), 5);
  }));
}

TEST_CASE("clients are checked by uid and gid") {
  if (geteuid() != 0) {
    WARN("not root: the uid checks need a client of another uid (skipped)");
    return;
  }
  SECTION("root only: nobody is refused") {
    Node node{PeerPolicy()};
    const std::string name = node.service_name();
    const int code = RunAsNobody([&] {
      auto c = CpgIpcClient::Connect(name, "nobody");
      if (c.ok())
        return 1;
      return absl::IsPermissionDenied(c.status()) ? 0 : 2;
    });
    CHECK(code == 0);
    CHECK(node.counters().connections_refused == 1);
    // Root still gets in.
    CHECK(CpgIpcClient::Connect(name, "root").ok());
  }
  SECTION("a policy naming nobody's uid lets it join and multicast") {
    Node node{PeerPolicy({kNobody}, {})};
    const std::string name = node.service_name();
    const int code = RunAsNobody([&] {
      auto c = CpgIpcClient::Connect(name, "nobody");
      if (!c.ok())
        return absl::IsPermissionDenied(c.status()) ? 3 : 4;
      if (!(*c)->Join("g").ok())
        return 5;
      while (!(*c)->Mcast("g", "from nobody", false).ok()) {
      }
      Recorder r;
      if (!DispatchUntil({{c->get(), &r}}, [&] { return !r.messages.empty(); }))
        return 6;
      return r.messages[0].payload == "from nobody" ? 0 : 7;
    });
    CHECK(code == 0);
  }
}

TEST_CASE("a full group queue holds the client's multicasts in order, none lost") {
  // GroupCore takes 4 operations at a time, and none is delivered before the ring forms: the
  // server holds the rest and stops reading the connection until deliveries make room.
  NodeOptions options;
  options.max_pending = 4;
  options.start_ring = false;
  Node node{options};
  absl::StatusOr<std::unique_ptr<CpgIpcClient>> a = CpgIpcClient::Connect(node.service_name(), "a");
  REQUIRE(a.ok());
  Recorder ra;
  REQUIRE((*a)->Join("g").ok());
  constexpr int kCount = 2000;
  int sent = 0;
  for (; sent < 100; ++sent) {
    REQUIRE((*a)->Mcast("g", absl::StrCat("m", sent), false).ok());
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (node.counters().mcasts_held == 0 && absl::Now() < deadline) {
    REQUIRE((*a)->Dispatch(ra.callbacks(), absl::Milliseconds(10)).ok());
  }
  CHECK(node.counters().mcasts_held == 1);
  CHECK(ra.messages.empty());
  node.StartRing();
  REQUIRE(DispatchUntil({{a->get(), &ra}}, [&] {
    while (sent < kCount) {
      absl::StatusOr<uint64_t> seq = (*a)->Mcast("g", absl::StrCat("m", sent), false);
      if (!seq.ok()) {
        REQUIRE(absl::IsResourceExhausted(seq.status()));
        break;
      }
      ++sent;
    }
    return ra.messages.size() >= kCount;
  }));
  REQUIRE(ra.messages.size() == kCount);
  for (int i = 0; i < kCount; ++i) {
    CHECK(ra.messages[i].payload == absl::StrCat("m", i));
  }
  CHECK(ra.errors.empty());
  // The barrier: answered after everything before it was taken.
  CHECK((*a)->Flush().ok());
}

TEST_CASE("a client that does not read its events is disconnected") {
  NodeOptions options;
  options.event_backlog_limit = 64 << 10;
  Node node{options};
  absl::StatusOr<std::unique_ptr<CpgIpcClient>> reader =
      CpgIpcClient::Connect(node.service_name(), "reader");
  REQUIRE(reader.ok());
  // A child that joins and never dispatches: the deliveries of 64 KiB messages soon fill libqb's
  // buffer and the server's backlog.
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  const pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[1]);
    auto c = CpgIpcClient::Connect(node.service_name(), "sleeper");
    if (!c.ok() || !(*c)->Join("g").ok())
      _exit(1);
    char done;
    (void)read(pipe_fds[0], &done, 1);  // until the parent is done
    _exit(0);
  }
  close(pipe_fds[0]);
  Recorder rr;
  REQUIRE((*reader)->Join("g").ok());
  REQUIRE(DispatchUntil({{reader->get(), &rr}}, [&] {
    return !rr.changes.empty() && rr.changes.back().members.size() == 2;
  }));
  const std::string big(60000, 'b');
  int sent = 0;
  REQUIRE(DispatchUntil({{reader->get(), &rr}}, [&] {
    if (sent < 200 && (*reader)->Mcast("g", big, false).ok())
      ++sent;
    return HasMember(rr.changes.back().left, static_cast<uint32_t>(child), 5);
  }));
  CHECK(node.counters().clients_overflowed == 1);
  REQUIRE(write(pipe_fds[1], "x", 1) == 1);
  close(pipe_fds[1]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
}

// A raw libqb client, to send what the client library never would.
class RawClient {
 public:
  explicit RawClient(const std::string& name)
      : c_(qb_ipcc_connect(name.c_str(), cpg_ipc::kBufferSize)) {
    REQUIRE(c_ != nullptr);
  }
  ~RawClient() { qb_ipcc_disconnect(c_); }
  void Send(const std::string& message) {
    REQUIRE(qb_ipcc_send(c_, message.data(), message.size()) ==
            static_cast<ssize_t>(message.size()));
  }
  cpg_ipc::Response Reply() {
    std::string buf(cpg_ipc::kBufferSize, '\0');
    const ssize_t n = qb_ipcc_recv(c_, buf.data(), buf.size(), 10000);
    REQUIRE(n > 0);
    absl::StatusOr<cpg_ipc::Response> r = cpg_ipc::DecodeResponse(buf.substr(0, n));
    REQUIRE(r.ok());
    return *r;
  }
  cpg_ipc::Event NextEvent() {
    std::string buf(cpg_ipc::kBufferSize, '\0');
    const ssize_t n = qb_ipcc_event_recv(c_, buf.data(), buf.size(), 10000);
    REQUIRE(n > 0);
    absl::StatusOr<cpg_ipc::Event> e = cpg_ipc::DecodeEvent(buf.substr(0, n));
    REQUIRE(e.ok());
    return *e;
  }

 private:
  qb_ipcc_connection_t* c_;
};

std::string WithHeader(int32_t id, int32_t size, const std::string& body) {
  std::string m(cpg_ipc::kRequestHeaderSize, '\0');
  std::memcpy(m.data(), &id, sizeof(id));
  std::memcpy(m.data() + 8, &size, sizeof(size));
  return m + body;
}

TEST_CASE("malformed requests get an error and the connection stays usable") {
  Node node{PeerPolicy()};
  RawClient raw(node.service_name());
  auto request = [](int32_t id, uint64_t seq, const std::string& name) {
    cpg_ipc::Request r;
    r.id = id;
    r.request_seq = seq;
    r.name = name;
    return cpg_ipc::EncodeRequest(r);
  };

  // Before kInit.
  raw.Send(request(cpg_ipc::kJoin, 1, "g"));
  cpg_ipc::Response r = raw.Reply();
  CHECK(r.code == absl::StatusCode::kFailedPrecondition);
  CHECK(r.request_seq == 1);

  raw.Send(request(cpg_ipc::kInit, 2, "raw"));
  r = raw.Reply();
  REQUIRE(r.code == absl::StatusCode::kOk);
  CHECK(r.init.local_node == 1);

  // An unknown request id.
  raw.Send(request(77, 3, "g"));
  r = raw.Reply();
  CHECK(r.code == absl::StatusCode::kInvalidArgument);
  CHECK(r.request_seq == 3);

  // A header shorter than itself, and one claiming more than the buffer.
  raw.Send(WithHeader(cpg_ipc::kJoin, 4, ""));
  CHECK(raw.Reply().code == absl::StatusCode::kInvalidArgument);
  raw.Send(WithHeader(cpg_ipc::kJoin, -1, std::string(8, '\0')));
  CHECK(raw.Reply().code == absl::StatusCode::kInvalidArgument);

  // A group length past the end of the message.
  std::string body(8, '\0');
  const uint32_t huge = 1u << 30;
  body.append(reinterpret_cast<const char*>(&huge), sizeof(huge));
  body += "g";
  raw.Send(WithHeader(
      cpg_ipc::kJoin, static_cast<int32_t>(cpg_ipc::kRequestHeaderSize + body.size()), body));
  CHECK(raw.Reply().code == absl::StatusCode::kInvalidArgument);

  // A group name GroupCore refuses (not printable).
  raw.Send(request(cpg_ipc::kJoin, 5, std::string("g\x01", 2)));
  r = raw.Reply();
  CHECK(r.code == absl::StatusCode::kInvalidArgument);
  CHECK(r.request_seq == 5);

  // A second kInit.
  raw.Send(request(cpg_ipc::kInit, 6, "again"));
  CHECK(raw.Reply().code == absl::StatusCode::kAlreadyExists);

  // A malformed multicast has no response: an error event.
  cpg_ipc::Request bad;
  bad.id = cpg_ipc::kMcast;
  bad.request_seq = 7;
  bad.name = "g";
  bad.payload = "x";
  std::string m = cpg_ipc::EncodeRequest(bad);
  m[cpg_ipc::kRequestHeaderSize + 8] = 9;  // the ordering flag
  raw.Send(m);
  cpg_ipc::Event e = raw.NextEvent();
  CHECK(e.id == cpg_ipc::kEventError);
  CHECK(e.request_seq == 7);
  CHECK(e.code == absl::StatusCode::kInvalidArgument);

  // Still usable: join and get the change.
  raw.Send(request(cpg_ipc::kJoin, 8, "g"));
  CHECK(raw.Reply().code == absl::StatusCode::kOk);
  e = raw.NextEvent();
  CHECK(e.id == cpg_ipc::kEventRingChange);  // the ring it joined in, first
  CHECK(e.members.size() == 1);
  e = raw.NextEvent();
  CHECK(e.id == cpg_ipc::kEventConfChg);
  CHECK(e.group == "g");
  CHECK(node.counters().requests_malformed >= 5);
}

}  // namespace
}  // namespace ha::membership
