// A gRPC server on a Unix socket that knows who its callers are. It accepts connections itself,
// reads each peer's credentials (SO_PEERCRED), and hands allowed connections to the real gRPC
// server and refused ones to a server whose every method answers PERMISSION_DENIED, so that a
// refused caller gets a typed error instead of a dropped connection, and no service can forget
// the check. Handlers learn the caller's identity through PeerOf().
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/peer_auth.h"

namespace ha {

class UnixGrpcServer {
 public:
  struct Options {
    std::string socket_path;
    PeerPolicy policy;
    std::vector<grpc::Service*> services;  // not owned; must outlive the server
    mode_t socket_mode = 0666;             // access is decided by credentials, not file mode
  };

  // Binds and starts serving. Refuses (AlreadyExists) when another process answers on the
  // socket; a stale socket file left by a dead process is replaced.
  static absl::StatusOr<std::unique_ptr<UnixGrpcServer>> Start(Options options);

  ~UnixGrpcServer();
  UnixGrpcServer(const UnixGrpcServer&) = delete;
  UnixGrpcServer& operator=(const UnixGrpcServer&) = delete;

  // Stops accepting, cancels calls in progress after `grace`, removes the socket file.
  void Shutdown(absl::Duration grace = absl::Milliseconds(500));

  // The caller of the call `ctx` belongs to. NotFound if the connection is unknown (it cannot be
  // for calls on this server's connections).
  absl::StatusOr<PeerIdentity> PeerOf(const grpc::ServerContextBase& ctx) const;

  const std::string& socket_path() const { return options_.socket_path; }

 private:
  class DenyAllService;

  explicit UnixGrpcServer(Options options);
  absl::Status Listen();
  void AcceptLoop();
  void AdmitConnection(int fd);

  Options options_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  std::unique_ptr<DenyAllService> deny_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> deny_server_;
  std::thread accept_thread_;
  std::atomic<bool> shut_down_{false};
  mutable absl::Mutex mu_;
  // gRPC names a connection made from an fd "fd:N"; the fd is ours until gRPC closes it, and a
  // reused number is overwritten at accept before gRPC sees the new connection.
  std::map<std::string, PeerIdentity> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ha
