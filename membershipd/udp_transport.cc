#include "membershipd/udp_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace ha::membership {
namespace {

constexpr size_t kMaxDatagram = 65536;

bool SameAddress(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) {
    return false;
  }
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port &&
           std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof(x.sin6_addr)) == 0;
  }
  return false;
}

}  // namespace

absl::Status ResolveAddress(const std::string& address,
                            int port,
                            sockaddr_storage* out,
                            socklen_t* len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(address.c_str(), service.c_str(), &hints, &result);
  if (rc != 0 || result == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ring address '", address, "': ", gai_strerror(rc)));
  }
  std::memcpy(out, result->ai_addr, result->ai_addrlen);
  *len = result->ai_addrlen;
  freeaddrinfo(result);
  return absl::OkStatus();
}

UdpTransport::UdpTransport(EventLoop& loop,
                           absl::AnyInvocable<void(int, uint32_t, absl::string_view)> on_datagram,
                           absl::AnyInvocable<void(int, uint32_t)> on_unreachable)
    : loop_(loop),
      on_datagram_(std::move(on_datagram)),
      on_unreachable_(std::move(on_unreachable)) {
  buffer_.resize(kMaxDatagram);
}

absl::StatusOr<std::unique_ptr<UdpTransport>> UdpTransport::Create(
    EventLoop& loop,
    UdpTransportOptions options,
    absl::AnyInvocable<void(int, uint32_t, absl::string_view)> on_datagram,
    absl::AnyInvocable<void(int, uint32_t)> on_unreachable) {
  std::unique_ptr<UdpTransport> t(
      new UdpTransport(loop, std::move(on_datagram), std::move(on_unreachable)));
  t->ring_ = options.ring;
  sockaddr_storage local{};
  socklen_t local_len = 0;
  if (absl::Status s = ResolveAddress(options.bind_address, options.port, &local, &local_len);
      !s.ok()) {
    return s;
  }
  for (const auto& [id, address] : options.peers) {
    Peer peer;
    if (absl::Status s = ResolveAddress(address, options.port, &peer.addr, &peer.len); !s.ok()) {
      return s;
    }
    t->peers_[id] = peer;
  }
  t->fd_ = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (t->fd_ < 0) {
    return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  }
  const int one = 1;
  // Ask the kernel for ICMP errors (port unreachable when a peer's process is gone).
  if (local.ss_family == AF_INET) {
    setsockopt(t->fd_, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
  } else {
    setsockopt(t->fd_, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
  }
  const int buf = options.socket_buffer_bytes;
  // The *FORCE variants pass rmem_max/wmem_max when running as root; plain ones otherwise.
  if (setsockopt(t->fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0) {
    setsockopt(t->fd_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  }
  if (setsockopt(t->fd_, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) != 0) {
    setsockopt(t->fd_, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  }
  if (bind(t->fd_, reinterpret_cast<sockaddr*>(&local), local_len) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot bind ", options.bind_address, ":", options.port, ": ", std::strerror(errno)));
  }
  UdpTransport* raw = t.get();
  if (absl::Status s = loop.WatchReadable(t->fd_, [raw] { raw->OnReadable(); }); !s.ok()) {
    return s;
  }
  return t;
}

UdpTransport::~UdpTransport() {
  if (fd_ >= 0) {
    loop_.Unwatch(fd_);
    close(fd_);
  }
}

uint32_t UdpTransport::NodeOf(const sockaddr_storage& addr, socklen_t len) const {
  (void)len;
  for (const auto& [id, peer] : peers_) {
    if (SameAddress(peer.addr, addr)) {
      return id;
    }
  }
  return 0;
}

void UdpTransport::Send(uint32_t node, absl::string_view datagram) {
  auto it = peers_.find(node);
  if (it == peers_.end()) {
    ++stats_.tx_errors;
    return;
  }
  auto send = [&] {
    return sendto(fd_,
                  datagram.data(),
                  datagram.size(),
                  MSG_DONTWAIT,
                  reinterpret_cast<const sockaddr*>(&it->second.addr),
                  it->second.len);
  };
  ssize_t n = send();
  if (n < 0 && errno == ECONNREFUSED) {
    // A pending ICMP error, possibly about another peer, failed this send: collect it and send
    // again, or a live peer would miss this datagram (perhaps the token).
    DrainErrorQueue();
    n = send();
  }
  if (n < 0) {
    ++stats_.tx_errors;
    return;
  }
  ++stats_.tx_datagrams;
}

void UdpTransport::DrainErrorQueue() {
  for (int i = 0; i < 64; ++i) {
    char control[512];
    char data[64];
    sockaddr_storage from{};
    iovec iov{data, sizeof(data)};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    if (recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      return;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      const bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
      const bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if (!v4 && !v6) {
        continue;
      }
      sock_extended_err err;
      std::memcpy(&err, CMSG_DATA(c), sizeof(err));
      if (err.ee_errno != ECONNREFUSED) {
        continue;
      }
      // msg_name is the destination the error is about.
      if (const uint32_t node = NodeOf(from, msg.msg_namelen); node != 0) {
        ++stats_.port_unreachable;
        if (on_unreachable_) {
          on_unreachable_(ring_, node);
        }
      }
    }
  }
}

size_t UdpTransport::Flush() {
  size_t flushed = 0;
  for (;;) {
    const ssize_t n = recv(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == ECONNREFUSED || errno == EINTR) {
        continue;
      }
      DrainErrorQueue();
      return flushed;
    }
    ++flushed;
  }
}

void UdpTransport::OnReadable() {
  for (int i = 0; i < 256; ++i) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n = recvfrom(fd_,
                               buffer_.data(),
                               buffer_.size(),
                               MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from),
                               &from_len);
    if (n < 0) {
      if (errno == ECONNREFUSED) {
        DrainErrorQueue();
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        HA_LOG_WARN("totem", "receive failed: %s", std::strerror(errno));
      }
      DrainErrorQueue();
      return;
    }
    ++stats_.rx_datagrams;
    const uint32_t node = NodeOf(from, from_len);
    if (node == 0) {
      ++stats_.rx_unknown_source;
    }
    on_datagram_(ring_, node, absl::string_view(buffer_.data(), static_cast<size_t>(n)));
  }
}

}  // namespace ha::membership
