// Who may call a daemon's local API: root, the users and groups the configuration names
// (corosync's `uidgid` sections), and the cluster group `haclient`. The caller's uid, gid and
// supplementary groups come from the kernel (SO_PEERCRED, SO_PEERGROUPS) when it connects.
#pragma once

#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/cluster_config.h"

namespace ha {

struct PeerIdentity {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups

  std::string ToString() const;  // "uid 65534 gid 65534 pid 42"
};

// Reads the credentials of the process at the other end of a connected Unix socket.
absl::StatusOr<PeerIdentity> ReadPeerIdentity(int fd);

class PeerPolicy {
 public:
  // Root only.
  PeerPolicy() = default;
  PeerPolicy(std::set<uid_t> uids, std::set<gid_t> gids)
      : uids_(std::move(uids)), gids_(std::move(gids)) {}

  // Resolves names to ids. Unknown user or group names are an error naming them, except the
  // default group "haclient", which is simply absent on hosts that have no such group.
  static absl::StatusOr<PeerPolicy> FromConfig(const config::UidGidConfig& config);

  bool Allows(const PeerIdentity& peer) const;
  // "root, uid 1000, gid 113 (haclient)"-style summary for logs and errors.
  std::string Describe() const;

 private:
  std::set<uid_t> uids_;
  std::set<gid_t> gids_;
};

}  // namespace ha
