// Who a Cib request acts as, for ACL checks: the calling process's user (from its Unix socket
// credentials, common/peer_auth.h) or, for a privileged caller, the user it names
// (CallOptions.user, like cibadmin -U / CIB_user). cib.proto's rules:
//  - root and the `hacluster` user are privileged; acting as themselves they bypass ACLs;
//  - a privileged caller may act as any user, and is then checked as that user;
//  - anyone else may only name themselves (or nothing), else PERMISSION_DENIED.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cibd/cib_acl.h"
#include "common/peer_auth.h"

namespace ha::cib {

// The user a request is checked as.
struct Requester {
  AclUser user;         // name and system groups (for acl_group)
  bool bypass = false;  // privileged and acting as itself: no ACL applies
};

// A requester with full access (cibd's own writes, tests).
Requester PrivilegedRequester(std::string name = "root");

// Names of users and groups. The system's (getpwuid_r, getgrouplist) in the daemon; a fake in
// tests.
class UserDirectory {
 public:
  virtual ~UserDirectory() = default;
  // The user name of `uid`; nullopt when the uid has no name.
  virtual std::optional<std::string> UserName(uid_t uid) const = 0;
  // The names of the groups of `user` (primary and supplementary); empty when unknown.
  virtual std::vector<std::string> GroupsOf(const std::string& user) const = 0;
};

// The system's user and group database.
class SystemUserDirectory final : public UserDirectory {
 public:
  std::optional<std::string> UserName(uid_t uid) const override;
  std::vector<std::string> GroupsOf(const std::string& user) const override;
};

// Resolves who a call from `peer` acts as when it names `requested` (may be empty).
// PERMISSION_DENIED when an unprivileged caller names someone else, or when the caller's uid
// has no user name (it could match no ACL, and could not be told apart from another).
absl::StatusOr<Requester> ResolveRequester(const PeerIdentity& peer,
                                           std::string_view requested,
                                           const UserDirectory& users);

}  // namespace ha::cib
