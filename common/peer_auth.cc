#include "common/peer_auth.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ha {
namespace {

constexpr char kClusterGroup[] = "haclient";

absl::StatusOr<uid_t> ResolveUser(const std::string& name) {
  uint32_t id;
  if (absl::SimpleAtoi(name, &id)) {
    return static_cast<uid_t>(id);
  }
  passwd pw;
  passwd* result = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown user '", name, "' in uidgid"));
  }
  return pw.pw_uid;
}

absl::StatusOr<gid_t> ResolveGroup(const std::string& name) {
  uint32_t id;
  if (absl::SimpleAtoi(name, &id)) {
    return static_cast<gid_t>(id);
  }
  group gr;
  group* result = nullptr;
  std::vector<char> buf(16384);
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown group '", name, "' in uidgid"));
  }
  return gr.gr_gid;
}

}  // namespace

std::string PeerIdentity::ToString() const {
  return absl::StrCat("uid ", uid, " gid ", gid, " pid ", pid);
}

absl::StatusOr<PeerIdentity> ReadPeerIdentity(int fd) {
  ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::InternalError(absl::StrCat("SO_PEERCRED: ", strerror(errno)));
  }
  PeerIdentity peer;
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  // Supplementary groups as they were when the peer connected; bounded by NGROUPS_MAX.
  std::vector<gid_t> groups(64);
  len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0 && errno == ERANGE) {
    groups.resize(len / sizeof(gid_t));
    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len);
  }
  groups.resize(len / sizeof(gid_t));
  peer.groups = std::move(groups);
  return peer;
}

absl::StatusOr<PeerPolicy> PeerPolicy::FromConfig(const config::UidGidConfig& config) {
  std::set<uid_t> uids;
  std::set<gid_t> gids;
  for (const auto& user : config.users) {
    auto uid = ResolveUser(user);
    if (!uid.ok()) {
      return uid.status();
    }
    uids.insert(*uid);
  }
  for (const auto& name : config.groups) {
    auto gid = ResolveGroup(name);
    if (!gid.ok()) {
      return gid.status();
    }
    gids.insert(*gid);
  }
  if (auto gid = ResolveGroup(kClusterGroup); gid.ok()) {
    gids.insert(*gid);
  }
  return PeerPolicy(std::move(uids), std::move(gids));
}

bool PeerPolicy::Allows(const PeerIdentity& peer) const {
  if (peer.uid == 0 || uids_.count(peer.uid) > 0 || gids_.count(peer.gid) > 0) {
    return true;
  }
  for (gid_t g : peer.groups) {
    if (gids_.count(g) > 0) {
      return true;
    }
  }
  return false;
}

std::string PeerPolicy::Describe() const {
  std::vector<std::string> parts = {"root"};
  for (uid_t u : uids_) {
    parts.push_back(absl::StrCat("uid ", u));
  }
  for (gid_t g : gids_) {
    parts.push_back(absl::StrCat("gid ", g));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace ha
