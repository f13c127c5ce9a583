// ha-cpg: membershipd's process groups from the command line.
//
//   ha-cpg list [GROUP]            the groups and their members (like corosync-cpgtool)
//   ha-cpg join GROUP              join, print every event, multicast each line read on stdin
//                                  (like corosync's testcpg); leaves the group at end of input
//   ha-cpg bench GROUP [--size B] [--count N] [--window W] [--safe]
//                                  join, multicast N messages of B bytes with at most W of this
//                                  process's own messages sent and not yet delivered back
//                                  (pipelined), wait for all of them; print messages/s, MB/s and
//                                  submit-to-delivery latency
//
// join and bench use membershipd's libqb IPC (membershipd/cpg_ipc_client.h), or its gRPC API with
// --grpc (one Multicast call at a time there: --window does not apply); list uses gRPC.
// The node is found through its configuration: -c FILE, else $HA_CONFIG, else the default, or
// --run-dir DIR.
#include <poll.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/exit_codes.h"
#include "common/grpc_unix_client.h"
#include "membershipd/cpg_ipc_client.h"
#include "membershipd/cpg_ipc_protocol.h"
#include "proto/membership.grpc.pb.h"
#include "tools/membership_tool_util.h"

namespace {

namespace v1 = ha::membership::v1;
using ha::membership_tool::ToInt;
using ha::membership_tool::ToolExit;
using Clock = std::chrono::steady_clock;

int Fail(const std::string& what, const grpc::Status& s) {
  std::cerr << "ha-cpg: " << what << ": " << s.error_message() << "\n";
  return ToInt(ToolExit::kError);
}

std::string Members(const google::protobuf::RepeatedPtrField<v1::GroupMember>& members) {
  std::vector<std::string> out;
  for (const auto& m : members) {
    out.push_back(absl::StrCat(m.node_id(), "/", m.pid()));
  }
  return absl::StrJoin(out, " ");
}

int List(v1::ProcessGroups::Stub& stub, const std::string& group) {
  v1::ListGroupsRequest request;
  request.set_group(group);
  v1::ListGroupsResponse response;
  auto ctx = ha::ContextWithDeadline();
  grpc::Status s = stub.ListGroups(ctx.get(), request, &response);
  if (!s.ok()) {
    return Fail("ListGroups", s);
  }
  std::cout << "Group Name\t       PID\t  Node ID\n";
  for (const auto& g : response.groups()) {
    std::cout << g.group() << "\n";
    for (const auto& m : g.members()) {
      std::string name;
      if (auto it = g.local_client_names().find(m.pid()); it != g.local_client_names().end()) {
        name = " (" + it->second + ")";
      }
      std::cout << absl::StrFormat("\t\t%10u\t%9u%s\n", m.pid(), m.node_id(), name);
    }
  }
  return 0;
}

// A session: the Subscribe stream read on its own thread.
class Session {
 public:
  explicit Session(v1::ProcessGroups::Stub& stub, std::string name) : stub_(stub) {
    v1::SubscribeRequest request;
    request.set_client_name(std::move(name));
    reader_ = stub_.Subscribe(&ctx_, request);
  }
  ~Session() {
    ctx_.TryCancel();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  // Reads SessionStarted; then `on_event` runs on the reader thread for each event.
  bool Start(std::function<void(const v1::GroupEvent&)> on_event) {
    v1::GroupEvent first;
    if (!reader_->Read(&first) || !first.has_session_started()) {
      return false;
    }
    id_ = first.session_started().session_id();
    pid_ = first.session_started().pid();
    node_ = first.session_started().local_node_id();
    thread_ = std::thread([this, on_event = std::move(on_event)] {
      v1::GroupEvent event;
      while (reader_->Read(&event)) {
        on_event(event);
      }
      ended_ = true;
    });
    return true;
  }
  uint64_t id() const { return id_; }
  uint32_t pid() const { return pid_; }
  uint32_t node() const { return node_; }
  bool ended() const { return ended_; }

 private:
  v1::ProcessGroups::Stub& stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::GroupEvent>> reader_;
  std::thread thread_;
  uint64_t id_ = 0;
  uint32_t pid_ = 0;
  uint32_t node_ = 0;
  std::atomic<bool> ended_{false};
};

grpc::Status JoinGroup(v1::ProcessGroups::Stub& stub, uint64_t session, const std::string& group) {
  v1::JoinGroupRequest request;
  request.set_session_id(session);
  request.set_group(group);
  v1::JoinGroupResponse response;
  auto ctx = ha::ContextWithDeadline(absl::Seconds(30));
  return stub.JoinGroup(ctx.get(), request, &response);
}

int Join(v1::ProcessGroups::Stub& stub, const std::string& group) {
  Session session(stub, "ha-cpg");
  const bool ok = session.Start([](const v1::GroupEvent& e) {
    if (e.has_message()) {
      std::cout << "message from " << e.message().sender_node_id() << "/"
                << e.message().sender_pid() << " seq " << e.message().seq() << ": "
                << e.message().payload() << std::endl;
    } else if (e.has_change()) {
      std::cout << "change of " << e.change().group() << ": members ["
                << Members(e.change().members()) << "] joined [" << Members(e.change().joined())
                << "] left [" << Members(e.change().left()) << "]" << std::endl;
    } else if (e.has_ring_change()) {
      std::vector<uint32_t> ids;
      for (const auto& n : e.ring_change().members()) {
        ids.push_back(n.node_id());
      }
      std::cout << "ring change: members [" << absl::StrJoin(ids, " ") << "]" << std::endl;
    }
  });
  if (!ok) {
    std::cerr << "ha-cpg: cannot open a session (is membershipd running?)\n";
    return ToInt(ToolExit::kError);
  }
  if (grpc::Status s = JoinGroup(stub, session.id(), group); !s.ok()) {
    return Fail("JoinGroup", s);
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    v1::MulticastRequest request;
    request.set_session_id(session.id());
    request.set_group(group);
    request.set_payload(line);
    v1::MulticastResponse response;
    auto ctx = ha::ContextWithDeadline();
    if (grpc::Status s = stub.Multicast(ctx.get(), request, &response); !s.ok()) {
      return Fail("Multicast", s);
    }
  }
  // Let the last messages come back, then leave (the others see LEAVE, not PROCDOWN).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  v1::LeaveGroupRequest leave;
  leave.set_session_id(session.id());
  leave.set_group(group);
  v1::LeaveGroupResponse left;
  auto ctx = ha::ContextWithDeadline();
  if (grpc::Status s = stub.LeaveGroup(ctx.get(), leave, &left); !s.ok()) {
    return Fail("LeaveGroup", s);
  }
  return 0;
}

// One bench's figures on a line: rate, throughput and delivery latency percentiles.
void PrintBenchResult(size_t size,
                      int count,
                      const std::string& extra,
                      int received,
                      double seconds,
                      std::vector<double>& latencies_us) {
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    return latencies_us.empty()
               ? 0.0
               : latencies_us[std::min(latencies_us.size() - 1,
                                       static_cast<size_t>(p * latencies_us.size()))];
  };
  std::cout << absl::StrFormat(
      "size=%zu count=%d%s received=%d seconds=%.3f msgs_per_s=%.0f mb_per_s=%.2f "
      "latency_us_p50=%.0f latency_us_p99=%.0f\n",
      size,
      count,
      extra,
      received,
      seconds,
      received / seconds,
      received * static_cast<double>(size) / seconds / 1e6,
      pct(0.5),
      pct(0.99));
}

int Bench(
    v1::ProcessGroups::Stub& stub, const std::string& group, size_t size, int count, bool safe) {
  absl::Mutex mu;
  std::map<uint64_t, Clock::time_point> sent_at;  // by the payload's index
  std::vector<double> latencies_us;
  int received = 0;
  Session session(stub, "ha-cpg bench");
  // pid() and node() are set before the reader thread starts.
  const bool ok = session.Start([&](const v1::GroupEvent& e) {
    if (!e.has_message() || e.message().sender_pid() != session.pid() ||
        e.message().sender_node_id() != session.node()) {
      return;
    }
    const auto now = Clock::now();
    uint64_t index = 0;
    std::memcpy(&index,
                e.message().payload().data(),
                std::min(sizeof(index), e.message().payload().size()));
    absl::MutexLock lock(&mu);
    if (auto it = sent_at.find(index); it != sent_at.end()) {
      latencies_us.push_back(std::chrono::duration<double, std::micro>(now - it->second).count());
      sent_at.erase(it);
    }
    ++received;
  });
  if (!ok) {
    std::cerr << "ha-cpg: cannot open a session (is membershipd running?)\n";
    return ToInt(ToolExit::kError);
  }
  if (grpc::Status s = JoinGroup(stub, session.id(), group); !s.ok()) {
    return Fail("JoinGroup", s);
  }
  std::string payload(std::max(size, sizeof(uint64_t)), 'x');
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    const uint64_t index = static_cast<uint64_t>(i);
    std::memcpy(payload.data(), &index, sizeof(index));
    {
      absl::MutexLock lock(&mu);
      sent_at[index] = Clock::now();
    }
    v1::MulticastRequest request;
    request.set_session_id(session.id());
    request.set_group(group);
    request.set_payload(payload);
    request.set_ordering(safe ? v1::SAFE : v1::AGREED);
    v1::MulticastResponse response;
    for (;;) {
      auto ctx = ha::ContextWithDeadline();
      grpc::Status s = stub.Multicast(ctx.get(), request, &response);
      if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (!s.ok()) {
        return Fail("Multicast", s);
      }
      break;
    }
  }
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    {
      absl::MutexLock lock(&mu);
      if (received >= count) {
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  absl::MutexLock lock(&mu);
  PrintBenchResult(size, count, "", received, seconds, latencies_us);
  return ToInt(received >= count ? ToolExit::kOk : ToolExit::kError);
}

// ---------------------------------------------------------------------------------------------
// The libqb IPC path.

int FailIpc(const std::string& what, const absl::Status& s) {
  std::cerr << "ha-cpg: " << what << ": " << s.message() << "\n";
  return ToInt(ToolExit::kError);
}

std::string IpcMembers(const std::vector<ha::membership::cpg_ipc::Member>& members) {
  std::vector<std::string> out;
  for (const auto& m : members) {
    out.push_back(absl::StrCat(m.node, "/", m.pid));
  }
  return absl::StrJoin(out, " ");
}

absl::StatusOr<std::unique_ptr<ha::membership::CpgIpcClient>> ConnectIpc(const std::string& run_dir,
                                                                         const std::string& name) {
  return ha::membership::CpgIpcClient::Connect(ha::membership::cpg_ipc::ServiceName(run_dir), name);
}

int JoinIpc(const std::string& run_dir, const std::string& group) {
  auto client = ConnectIpc(run_dir, "ha-cpg");
  if (!client.ok())
    return FailIpc("cannot connect (is membershipd running?)", client.status());
  ha::membership::CpgCallbacks cb;
  cb.on_deliver = [](const ha::membership::CpgDelivery& d) {
    std::cout << "message from " << d.node << "/" << d.pid << " seq " << d.seq << ": " << d.payload
              << std::endl;
  };
  cb.on_confchg = [](const ha::membership::CpgConfigChange& c) {
    std::cout << "change of " << c.group << ": members [" << IpcMembers(c.members) << "] joined ["
              << IpcMembers(c.joined) << "] left [" << IpcMembers(c.left) << "]" << std::endl;
  };
  cb.on_ring_change = [](const ha::membership::CpgRingChange& c) {
    std::cout << "ring change: members [" << absl::StrJoin(c.members, " ") << "]" << std::endl;
  };
  cb.on_error = [](uint64_t seq, const absl::Status& s) {
    std::cout << "multicast " << seq << " refused: " << s.message() << std::endl;
  };
  if (absl::Status s = (*client)->Join(group); !s.ok())
    return FailIpc("join", s);
  // Lines from stdin and events from the daemon, as they come.
  std::string pending;
  bool input_open = true;
  while (input_open) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {(*client)->fd(), POLLIN, 0}};
    ::poll(fds, (*client)->fd() >= 0 ? 2 : 1, 100);
    absl::StatusOr<int> n = (*client)->Dispatch(cb, absl::ZeroDuration());
    if (!n.ok())
      return FailIpc("membershipd", n.status());
    if ((fds[0].revents & (POLLIN | POLLHUP)) == 0)
      continue;
    char buf[4096];
    const ssize_t got = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (got <= 0) {
      input_open = false;
    } else {
      pending.append(buf, static_cast<size_t>(got));
    }
    size_t eol;
    while ((eol = pending.find('\n')) != std::string::npos || (!input_open && !pending.empty())) {
      const std::string line = pending.substr(0, eol);
      pending.erase(0, eol == std::string::npos ? std::string::npos : eol + 1);
      for (;;) {
        absl::StatusOr<uint64_t> seq = (*client)->Mcast(group, line, false);
        if (seq.ok())
          break;
        if (!absl::IsResourceExhausted(seq.status()))
          return FailIpc("multicast", seq.status());
        if (absl::StatusOr<int> d = (*client)->Dispatch(cb, absl::Milliseconds(1)); !d.ok())
          return FailIpc("membershipd", d.status());
      }
    }
  }
  // Let the last messages come back, then leave (the others see LEAVE, not PROCDOWN).
  if (absl::Status s = (*client)->Flush(); !s.ok())
    return FailIpc("flush", s);
  (void)(*client)->Dispatch(cb, absl::Milliseconds(500));
  if (absl::Status s = (*client)->Leave(group); !s.ok())
    return FailIpc("leave", s);
  (void)(*client)->Dispatch(cb, absl::Milliseconds(100));
  return 0;
}

// Pipelined: at most `window` of this process's messages sent and not yet delivered back.
int BenchIpc(const std::string& run_dir,
             const std::string& group,
             size_t size,
             int count,
             int window,
             bool safe) {
  auto client = ConnectIpc(run_dir, "ha-cpg bench");
  if (!client.ok())
    return FailIpc("cannot connect (is membershipd running?)", client.status());
  ha::membership::CpgIpcClient& c = **client;
  std::vector<Clock::time_point> sent_at(static_cast<size_t>(count));
  std::vector<double> latencies_us;
  latencies_us.reserve(static_cast<size_t>(count));
  int received = 0;
  int sent = 0;
  bool joined = false;
  absl::Status refused;
  ha::membership::CpgCallbacks cb;
  cb.on_deliver = [&](const ha::membership::CpgDelivery& d) {
    if (d.pid != c.pid() || d.node != c.local_node_id())
      return;
    const auto now = Clock::now();
    uint64_t index = 0;
    std::memcpy(&index, d.payload.data(), std::min(sizeof(index), d.payload.size()));
    if (index < sent_at.size())
      latencies_us.push_back(
          std::chrono::duration<double, std::micro>(now - sent_at[index]).count());
    ++received;
  };
  cb.on_confchg = [&](const ha::membership::CpgConfigChange& change) {
    for (const auto& m : change.joined) {
      if (m.pid == c.pid() && m.node == c.local_node_id())
        joined = true;
    }
  };
  cb.on_error = [&](uint64_t, const absl::Status& s) { refused = s; };
  if (absl::Status s = c.Join(group); !s.ok())
    return FailIpc("join", s);
  const auto join_deadline = Clock::now() + std::chrono::seconds(30);
  while (!joined && Clock::now() < join_deadline) {
    if (absl::StatusOr<int> n = c.Dispatch(cb, absl::Milliseconds(10)); !n.ok())
      return FailIpc("membershipd", n.status());
  }
  if (!joined) {
    std::cerr << "ha-cpg: the join was not confirmed in 30 s\n";
    return ToInt(ToolExit::kError);
  }
  std::string payload(std::max(size, sizeof(uint64_t)), 'x');
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(120);
  while (received < count && Clock::now() < deadline) {
    bool full = false;
    while (sent < count && sent - received < window) {
      const uint64_t index = static_cast<uint64_t>(sent);
      std::memcpy(payload.data(), &index, sizeof(index));
      sent_at[index] = Clock::now();
      absl::StatusOr<uint64_t> seq = c.Mcast(group, payload, safe);
      if (!seq.ok()) {
        if (!absl::IsResourceExhausted(seq.status()))
          return FailIpc("multicast", seq.status());
        full = true;
        break;
      }
      ++sent;
    }
    if (!refused.ok())
      return FailIpc("multicast refused", refused);
    // Wait for deliveries only when nothing more can be sent now.
    const bool can_send = !full && sent < count && sent - received < window;
    absl::StatusOr<int> n =
        c.Dispatch(cb, can_send ? absl::ZeroDuration() : absl::Milliseconds(1), window + 16);
    if (!n.ok())
      return FailIpc("membershipd", n.status());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  PrintBenchResult(size, count, absl::StrCat(" window=", window), received, seconds, latencies_us);
  (void)c.Leave(group);
  return ToInt(received >= count ? ToolExit::kOk : ToolExit::kError);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"membershipd's process groups (CPG) from the command line"};
  std::string config_path;
  std::string run_dir;
  app.add_option("-c,--config",
                 config_path,
                 "cluster configuration (default $HA_CONFIG or /etc/corosync/corosync.conf)");
  app.add_option("--run-dir", run_dir, "the node's socket folder (instead of the configuration's)");
  app.require_subcommand(1);
  std::string group;
  auto* list = app.add_subcommand("list", "the groups and their members");
  list->add_option("group", group, "only this group");
  auto* join = app.add_subcommand("join", "join, print events, multicast stdin lines");
  join->add_option("group", group, "the group")->required();
  auto* bench = app.add_subcommand("bench", "multicast throughput and latency");
  bench->add_option("group", group, "the group")->required();
  size_t size = 64;
  int count = 10000;
  bool safe = false;
  bench->add_option("--size", size, "bytes per message");
  bench->add_option("--count", count, "messages");
  bench->add_flag("--safe", safe, "SAFE ordering instead of AGREED");
  int window = 256;
  bench->add_option("--window", window, "own messages in flight at most (IPC only)")
      ->check(CLI::PositiveNumber);
  bool use_grpc = false;
  app.add_flag("--grpc", use_grpc, "join and bench over gRPC instead of libqb IPC");
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<std::string> dir =
      ha::membership_tool::ResolveRunDir(config_path, run_dir, std::getenv("HA_CONFIG"));
  if (!dir.ok()) {
    std::cerr << "ha-cpg: " << dir.status().message() << "\n";
    return ToInt(ToolExit::kConfig);
  }
  if (join->parsed() && !use_grpc)
    return JoinIpc(*dir, group);
  if (bench->parsed() && !use_grpc)
    return BenchIpc(*dir, group, size, count, window, safe);
  auto stub =
      v1::ProcessGroups::NewStub(ha::ConnectUnix(ha::membership_tool::MembershipSocket(*dir)));
  if (list->parsed()) {
    return List(*stub, group);
  }
  if (join->parsed()) {
    return Join(*stub, group);
  }
  return Bench(*stub, group, size, count, safe);
}
