#include "cibd/cib_caller.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace ha::cib {

Requester PrivilegedRequester(std::string name) {
  Requester r;
  r.user.name = std::move(name);
  r.bypass = true;
  return r;
}

std::optional<std::string> SystemUserDirectory::UserName(uid_t uid) const {
  std::vector<char> buf(16384);
  struct passwd pw;
  struct passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return std::string(found->pw_name);
}

std::vector<std::string> SystemUserDirectory::GroupsOf(const std::string& user) const {
  std::vector<char> buf(16384);
  struct passwd pw;
  struct passwd* found = nullptr;
  if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return {};
  }
  int count = 64;
  std::vector<gid_t> gids(count);
  if (getgrouplist(user.c_str(), found->pw_gid, gids.data(), &count) < 0) {
    gids.resize(count);
    if (getgrouplist(user.c_str(), found->pw_gid, gids.data(), &count) < 0) {
      return {};
    }
  }
  gids.resize(count);
  std::vector<std::string> names;
  for (gid_t gid : gids) {
    struct group gr;
    struct group* g = nullptr;
    std::vector<char> gbuf(16384);
    if (getgrgid_r(gid, &gr, gbuf.data(), gbuf.size(), &g) == 0 && g != nullptr) {
      names.emplace_back(g->gr_name);
    }
  }
  return names;
}

absl::StatusOr<Requester> ResolveRequester(const PeerIdentity& peer,
                                           std::string_view requested,
                                           const UserDirectory& users) {
  std::optional<std::string> own =
      peer.uid == 0 ? std::optional<std::string>("root") : users.UserName(peer.uid);
  if (!own.has_value()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the caller's uid ", peer.uid, " has no user name"));
  }
  const bool privileged = peer.uid == 0 || IsPrivilegedUser(*own);
  Requester r;
  if (requested.empty() || requested == *own) {
    r.user.name = *own;
    r.bypass = privileged;
  } else if (privileged) {
    r.user.name = std::string(requested);
    r.bypass = IsPrivilegedUser(requested);
  } else {
    return absl::PermissionDeniedError(absl::StrCat("user ",
                                                    *own,
                                                    " may not act as user ",
                                                    std::string(requested),
                                                    " (only root and hacluster may)"));
  }
  if (!r.bypass) {
    r.user.groups = users.GroupsOf(r.user.name);
  }
  return r;
}

}  // namespace ha::cib
