#include "common/grpc_unix_server.h"

#include <fcntl.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/grpc_unix_client.h"
#include "common/logging.h"

namespace ha {
namespace {

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket path is longer than ", sizeof(addr.sun_path) - 1, " bytes: ", path));
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// True when some process accepts connections on `path`.
bool SomeoneListens(const sockaddr_un& addr) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

std::string PeerKey(int fd) {
  return absl::StrCat("fd:", fd);
}

}  // namespace

class UnixGrpcServer::DenyAllService final : public grpc::CallbackGenericService {
 public:
  explicit DenyAllService(UnixGrpcServer* owner) : owner_(owner) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    std::string who = "an unknown caller";
    if (auto peer = owner_->PeerOf(*ctx); peer.ok()) {
      who = peer->ToString();
    }
    return new Reactor(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                    absl::StrCat(who,
                                                 " may not call ",
                                                 ctx->method(),
                                                 ": allowed are ",
                                                 owner_->options_.policy.Describe())));
  }

 private:
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(const grpc::Status& status) { Finish(status); }
    void OnDone() override { delete this; }
  };

  UnixGrpcServer* owner_;
};

UnixGrpcServer::UnixGrpcServer(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<UnixGrpcServer>> UnixGrpcServer::Start(Options options) {
  std::unique_ptr<UnixGrpcServer> server(new UnixGrpcServer(std::move(options)));
  absl::Status status = server->Listen();
  if (!status.ok()) {
    return status;
  }
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxLocalMessageBytes);
  builder.SetMaxSendMessageSize(kMaxLocalMessageBytes);
  for (grpc::Service* service : server->options_.services) {
    builder.RegisterService(service);
  }
  server->server_ = builder.BuildAndStart();
  server->deny_service_ = std::make_unique<DenyAllService>(server.get());
  grpc::ServerBuilder deny_builder;
  deny_builder.RegisterCallbackGenericService(server->deny_service_.get());
  server->deny_server_ = deny_builder.BuildAndStart();
  if (server->server_ == nullptr || server->deny_server_ == nullptr) {
    return absl::InternalError("cannot start the gRPC server");
  }
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

absl::Status UnixGrpcServer::Listen() {
  const std::string& path = options_.socket_path;
  auto addr = UnixAddress(path);
  if (!addr.ok()) {
    return addr.status();
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (SomeoneListens(*addr)) {
    return absl::AlreadyExistsError(absl::StrCat("another process is already serving on ", path));
  }
  unlink(path.c_str());  // a stale socket of a dead process
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) {
    return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  }
  if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot bind ", path, ": ", strerror(errno)));
  }
  chmod(path.c_str(), options_.socket_mode);
  if (listen(listen_fd_, 128) != 0) {
    return absl::InternalError(absl::StrCat("listen on ", path, ": ", strerror(errno)));
  }
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  return absl::OkStatus();
}

void UnixGrpcServer::AcceptLoop() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  while (!shut_down_.load()) {
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      HA_LOG_ERROR("ipc", "poll on %s failed: %s", options_.socket_path, strerror(errno));
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        HA_LOG_WARN("ipc", "accept on %s failed: %s", options_.socket_path, strerror(errno));
      }
      continue;
    }
    AdmitConnection(fd);
  }
}

void UnixGrpcServer::AdmitConnection(int fd) {
  auto peer = ReadPeerIdentity(fd);
  if (!peer.ok()) {
    HA_LOG_WARN("ipc",
                "dropping a connection whose credentials cannot be read: %s",
                peer.status().ToString());
    close(fd);
    return;
  }
  bool allowed = options_.policy.Allows(*peer);
  {
    absl::MutexLock lock(&mu_);
    peers_[PeerKey(fd)] = *peer;
  }
  if (allowed) {
    HA_LOG_DEBUG("ipc", "client connected | %s", peer->ToString());
    grpc::AddInsecureChannelFromFd(server_.get(), fd);
  } else {
    HA_LOG_WARN("ipc", "refusing a client that is not allowed | %s", peer->ToString());
    grpc::AddInsecureChannelFromFd(deny_server_.get(), fd);
  }
}

absl::StatusOr<PeerIdentity> UnixGrpcServer::PeerOf(const grpc::ServerContextBase& ctx) const {
  std::string key = ctx.peer();
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(key);
  if (it == peers_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown connection ", key));
  }
  return it->second;
}

void UnixGrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_.exchange(true)) {
    return;
  }
  uint64_t one = 1;
  ssize_t ignored = write(stop_fd_, &one, sizeof(one));
  (void)ignored;
  if (accept_thread_.joinable()) {
    accept_thread_.join();
  }
  auto deadline = std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace);
  if (server_ != nullptr) {
    server_->Shutdown(deadline);
  }
  if (deny_server_ != nullptr) {
    deny_server_->Shutdown(deadline);
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(options_.socket_path.c_str());
  }
  close(stop_fd_);
}

UnixGrpcServer::~UnixGrpcServer() {
  if (accept_thread_.joinable() || server_ != nullptr) {
    Shutdown();
  }
  if (listen_fd_ >= 0 && !shut_down_.load()) {
    close(listen_fd_);
  }
}

}  // namespace ha
