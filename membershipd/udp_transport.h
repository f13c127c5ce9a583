// The totem transport over UDP unicast (corosync's udpu): one socket bound to the local node's
// address and port on one ring, a destination address per configured node on that ring. With
// redundant rings the daemon runs one per ring (ring0_addr, ring1_addr, ...); each reports its ring
// number with what it receives. Datagrams are opaque here: framing and crypto are frame_crypto's,
// faults are fault_layer's. Loop thread only.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/event_loop.h"

namespace ha::membership {

struct UdpTransportOptions {
  int ring = 0;              // the ring number this socket carries (passed back on receipt)
  std::string bind_address;  // the local node's address on that ring
  int port = 5405;
  std::map<uint32_t, std::string> peers;  // node id -> address (the local node may be in it)
  int socket_buffer_bytes = 4 * 1024 * 1024;
};

struct UdpTransportStats {
  uint64_t tx_datagrams = 0;
  uint64_t tx_errors = 0;  // sendto failed (e.g. no route, buffer full)
  uint64_t rx_datagrams = 0;
  uint64_t rx_unknown_source = 0;  // from an address that is no configured node's
  uint64_t port_unreachable = 0;   // ICMP port unreachable reported for a peer
};

class UdpTransport {
 public:
  // `on_datagram(ring, node_id_by_source_address or 0, bytes)` runs on the loop for each datagram.
  // `on_unreachable(ring, node)` runs when the kernel reports that nothing listens at a peer's port
  // (an ICMP port unreachable: its process is gone), a direct failure signal.
  static absl::StatusOr<std::unique_ptr<UdpTransport>> Create(
      EventLoop& loop,
      UdpTransportOptions options,
      absl::AnyInvocable<void(int, uint32_t, absl::string_view)> on_datagram,
      absl::AnyInvocable<void(int, uint32_t)> on_unreachable);
  ~UdpTransport();

  void Send(uint32_t node, absl::string_view datagram);
  // Reads and drops every datagram waiting in the socket; returns how many.
  size_t Flush();
  const UdpTransportStats& stats() const { return stats_; }
  int ring() const { return ring_; }

 private:
  struct Peer {
    sockaddr_storage addr{};
    socklen_t len = 0;
  };
  UdpTransport(EventLoop& loop,
               absl::AnyInvocable<void(int, uint32_t, absl::string_view)> on_datagram,
               absl::AnyInvocable<void(int, uint32_t)> on_unreachable);
  void OnReadable();
  void DrainErrorQueue();
  uint32_t NodeOf(const sockaddr_storage& addr, socklen_t len) const;

  EventLoop& loop_;
  int ring_ = 0;
  absl::AnyInvocable<void(int, uint32_t, absl::string_view)> on_datagram_;
  absl::AnyInvocable<void(int, uint32_t)> on_unreachable_;
  int fd_ = -1;
  std::map<uint32_t, Peer> peers_;
  UdpTransportStats stats_;
  std::string buffer_;
};

// Resolves a ring address (numeric IPv4/IPv6 or a host name) with `port`.
absl::Status ResolveAddress(const std::string& address,
                            int port,
                            sockaddr_storage* out,
                            socklen_t* len);

}  // namespace ha::membership
