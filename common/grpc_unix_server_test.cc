#include "common/grpc_unix_server.h"

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "common/grpc_status.h"
#include "common/grpc_unix_client.h"
#include "proto/daemon.grpc.pb.h"

namespace ha {
namespace {

// A DaemonControl whose Health reports the caller's uid in `detail`, to check PeerOf.
class EchoCaller final : public daemon::v1::DaemonControl::Service {
 public:
  UnixGrpcServer* server = nullptr;
  grpc::Status Health(grpc::ServerContext* ctx,
                      const daemon::v1::HealthRequest*,
                      daemon::v1::HealthResponse* response) override {
    auto peer = server->PeerOf(*ctx);
    if (!peer.ok()) {
      return ToGrpcStatus(peer.status());
    }
    response->set_detail(std::to_string(peer->uid));
    response->set_pid(peer->pid);
    return grpc::Status::OK;
  }
};

std::string TempSocket(const std::string& name) {
  std::string dir =
      std::filesystem::temp_directory_path() / ("ha-grpc-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return dir + "/" + name + ".sock";
}

absl::StatusOr<daemon::v1::HealthResponse> CallHealth(const std::string& path) {
  auto stub = daemon::v1::DaemonControl::NewStub(ConnectUnix(path));
  auto ctx = ContextWithDeadline(absl::Seconds(5));
  daemon::v1::HealthResponse response;
  absl::Status s = FromGrpcStatus(stub->Health(ctx.get(), daemon::v1::HealthRequest(), &response));
  if (!s.ok()) {
    return s;
  }
  return response;
}

struct ChildResult {
  int exit_code = -1;
  std::string output;
};

// Runs the real client, `hactl --run-dir DIR health NAME`, as `uid`/`gid` (gRPC cannot be used in
// a forked child of a process that runs gRPC threads, so the child execs a fresh client).
ChildResult HealthAs(const std::string& socket_path, uid_t uid, gid_t gid) {
  std::filesystem::path sock(socket_path);
  std::string run_dir = sock.parent_path().string();
  std::string name = sock.stem().string();
  std::string hactl =
      std::string(getenv("HA_BUILD_DIR") ? getenv("HA_BUILD_DIR") : "build") + "/bin/hactl";
  int out[2];
  REQUIRE(pipe(out) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      _exit(97);
    }
    execl(hactl.c_str(), "hactl", "--run-dir", run_dir.c_str(), "health", name.c_str(), nullptr);
    _exit(98);
  }
  close(out[1]);
  ChildResult result;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) {
    result.output.append(buf, n);
  }
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

TEST_CASE("a call from root is served and the handler knows the caller") {
  EchoCaller service;
  UnixGrpcServer::Options options;
  options.socket_path = TempSocket("root");
  options.services = {&service};
  auto server = UnixGrpcServer::Start(options);
  REQUIRE(server.ok());
  service.server = server->get();
  auto r = CallHealth(options.socket_path);
  REQUIRE(r.ok());
  CHECK(r->detail() == std::to_string(getuid()));
  CHECK(r->pid() == getpid());
}

TEST_CASE("a second server on the same socket is refused; a stale socket file is replaced") {
  EchoCaller service;
  UnixGrpcServer::Options options;
  options.socket_path = TempSocket("twice");
  options.services = {&service};
  auto first = UnixGrpcServer::Start(options);
  REQUIRE(first.ok());
  auto second = UnixGrpcServer::Start(options);
  REQUIRE(!second.ok());
  CHECK(second.status().code() == absl::StatusCode::kAlreadyExists);
  (*first)->Shutdown();
  // A file left where nobody listens does not stop a new server.
  FILE* f = fopen(options.socket_path.c_str(), "w");
  REQUIRE(f != nullptr);
  fclose(f);
  auto third = UnixGrpcServer::Start(options);
  REQUIRE(third.ok());
}

TEST_CASE("a call from a disallowed uid is refused with PERMISSION_DENIED") {
  if (geteuid() != 0) {
    WARN("skipped: changing uid to test refusal needs root");
    return;
  }
  EchoCaller service;
  UnixGrpcServer::Options options;
  options.socket_path = TempSocket("deny");
  options.services = {&service};
  // Allowed: root and uid 4242 and gid 4343; everyone else is refused.
  options.policy = PeerPolicy({4242}, {4343});
  auto server = UnixGrpcServer::Start(options);
  REQUIRE(server.ok());
  service.server = server->get();
  std::filesystem::permissions(std::filesystem::path(options.socket_path).parent_path(),
                               std::filesystem::perms::all);

  // nobody: refused with a typed error that says who and why.
  ChildResult nobody = HealthAs(options.socket_path, 65534, 65534);
  INFO(nobody.output);
  CHECK(nobody.exit_code == 1);
  CHECK(nobody.output.find("uid 65534 gid 65534") != std::string::npos);
  CHECK(nobody.output.find("may not call /ha.daemon.v1.DaemonControl/Health") != std::string::npos);
  // An allowed user, and a member of an allowed group, are served.
  ChildResult user = HealthAs(options.socket_path, 4242, 65534);
  INFO(user.output);
  CHECK(user.exit_code == 0);
  CHECK(user.output.find("4242") != std::string::npos);  // EchoCaller put the uid in detail
  ChildResult group = HealthAs(options.socket_path, 5000, 4343);
  CHECK(group.exit_code == 0);
  CHECK(CallHealth(options.socket_path).ok());  // root
}

TEST_CASE("PeerPolicy allows root, listed users, and listed primary or supplementary groups") {
  PeerPolicy policy({1000}, {200});
  CHECK(policy.Allows({.uid = 0, .gid = 0}));
  CHECK(policy.Allows({.uid = 1000, .gid = 5}));
  CHECK(policy.Allows({.uid = 7, .gid = 200}));
  CHECK(policy.Allows({.uid = 7, .gid = 5, .groups = {9, 200}}));
  CHECK_FALSE(policy.Allows({.uid = 7, .gid = 5, .groups = {9}}));
  CHECK_FALSE(PeerPolicy().Allows({.uid = 1, .gid = 1}));
}

TEST_CASE("PeerPolicy resolves names and refuses unknown ones") {
  config::UidGidConfig cfg;
  cfg.users = {"root", "65534"};
  cfg.groups = {"nogroup"};
  auto policy = PeerPolicy::FromConfig(cfg);
  REQUIRE(policy.ok());
  CHECK(policy->Allows({.uid = 65534, .gid = 1}));
  cfg.users = {"no-such-user-here"};
  auto bad = PeerPolicy::FromConfig(cfg);
  REQUIRE(!bad.ok());
  CHECK(bad.status().message() == "unknown user 'no-such-user-here' in uidgid");
}

}  // namespace
}  // namespace ha
