// Pacemaker's access control lists (Pacemaker Explained 2.1, "Access Control Lists"): the
// `<acls>` section holds `acl_role`s (each a list of `acl_permission`s) and `acl_target`s (users)
// and `acl_group`s (system groups) that name roles with `<role id=.../>`.
//
// Semantics implemented here:
//  - ACLs apply only when the cluster option `enable-acl` is true (an nvpair of a
//    cluster_property_set in crm_config). When false, every user may read and write everything
//    (the daemon's transport decides who may call at all, like Pacemaker's haclient group).
//  - `root` and `hacluster` always have full access.
//  - Everyone else starts with no access: a user with no acl_target and no acl_group of theirs
//    ("unknown") can read and write nothing.
//  - A permission selects elements by `xpath` (an attribute match selects its element), by
//    `reference` (the elements with that id) or by `object-type` (elements with that tag,
//    optionally only those having `attribute`), and applies to each selected element's whole
//    subtree. `write` implies read.
//  - Precedence: the permission on the nearest element wins (a more deeply nested match beats a
//    more general one); among permissions on the same element, deny beats write beats read.
//  - Reading: what is not readable is removed. An unreadable element that encloses readable
//    ones is kept as scaffolding, with its `id` only (and `<cib>` with its version attributes,
//    so that a filtered copy can follow patchsets). Nothing readable: PERMISSION_DENIED.
//  - Writing: every element the change creates, deletes or whose attributes it changes must be
//    writable, before and after the change (so a change cannot move an element into or out of
//    a permission's XPath); reordering children needs write on their parent. A created element
//    with no attribute but `id` is scaffolding and needs no permission of its own (Pacemaker's
//    rule), its content is checked. Changes to `<cib>`'s epoch, num_updates and update-*
//    attributes are the version bookkeeping of the write and need no permission. Permissions
//    are those of the CIB before the change, so a write cannot grant itself access.
//  - Not implemented: the pre-1.1.12 `acl_user`/`role_ref` syntax; `acl_target`/`acl_group`
//    match by `name` when set, else by `id`.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cibd/cib_document.h"

namespace ha::cib {

struct AclUser {
  std::string name;
  std::vector<std::string> groups;  // the user's system groups, for acl_group
};

enum class AclMode {
  kNone,   // no permission applies: no access
  kRead,   // read
  kWrite,  // read and write
  kDeny,   // explicitly no access
};

// True when `enable-acl` is set to a true value in crm_config.
bool AclsEnabled(const CibDocument& doc);

// root and hacluster.
bool IsPrivilegedUser(std::string_view user);

class AclPolicy {
 public:
  // The policy of `user` as the `<acls>` of `doc` define it (and its enable-acl option).
  static AclPolicy For(const CibDocument& doc, const AclUser& user);

  // True when nothing is filtered or checked (ACLs off, or a privileged user).
  bool Unrestricted() const { return unrestricted_; }

  // `doc` as this user may read it; PERMISSION_DENIED when nothing is readable.
  absl::StatusOr<CibDocument> FilterForRead(const CibDocument& doc) const;

  // OK when this user may change `before` into `after`; else PERMISSION_DENIED naming the
  // first path written without permission.
  absl::Status CheckWrite(const CibDocument& before, const CibDocument& after) const;

  // The patchset a subscriber with this policy receives for the change `before` -> `after`:
  // the diff between the two filtered documents (its digest is that of the filtered result).
  // PERMISSION_DENIED when the user can read nothing of `after`.
  absl::StatusOr<std::string> FilterPatchset(const CibDocument& before,
                                             const CibDocument& after) const;

  // The mode of each element of `doc` that a permission selects (for tests and tools).
  using Marks = std::unordered_map<const void*, AclMode>;
  Marks MarkDocument(const CibDocument& doc) const;

 private:
  struct Permission {
    AclMode mode = AclMode::kNone;
    std::string xpath;
    std::string reference;
    std::string object_type;
    std::string attribute;
  };

  bool unrestricted_ = false;
  std::vector<Permission> permissions_;
};

}  // namespace ha::cib
