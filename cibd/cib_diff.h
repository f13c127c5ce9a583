// Patchsets between two CIBs in Pacemaker's v2 format, and their application:
//
//   <diff format="2" digest="MD5 of the target">
//     <version><source admin_epoch= epoch= num_updates=/><target .../></version>
//     <change operation="modify" path="/cib">
//       <change-list><change-attr name="epoch" operation="set" value="6"/>
//                    <change-attr name="x" operation="unset"/></change-list>
//       <change-result><cib ...all attributes after the change.../></change-result>
//     </change>
//     <change operation="create" path="PARENT" position="N"><primitive .../></change>
//     <change operation="delete" path="NODE" position="N"/>
//     <change operation="move" path="NODE" position="N"/>
//   </diff>
//
// Paths are cib_path.h's. Changes apply in order, each to the result of the ones before it
// (positions count the parent's elements, text and comments, from 0). `digest` is our addition
// (Pacemaker carries it beside the diff): when present, the result must have it.
//
// How Diff works: children of a parent are matched by tag and id (or, without an id, by tag and
// rank among the id-less siblings of that tag; comments and text by value). On a working copy of
// `from` it deletes the unmatched, then walks `to`'s children in order, moving matched nodes into
// place and creating the new ones, and recurses into matched elements; each step is recorded as
// it is done, with the path it has at that moment, so Apply replays exactly the same states.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cibd/cib_document.h"
#include "pugixml.hpp"

namespace ha::cib {

struct DiffOptions {
  // An attribute of `<cib>` left out on both sides, as if neither document had it (replication
  // leaves out each node's own cib-last-written).
  std::string_view skip_root_attribute;
  // The digest of `to` when the caller knows it; else Diff computes it.
  std::string_view to_digest;
};

// The patchset from `from` to `to` as XML (no change elements when they are equal). Children
// that are paired in order (the common case) are compared without the general matching, so the
// cost is one walk of both trees plus the changes.
std::string Diff(const CibDocument& from, const CibDocument& to, const DiffOptions& options = {});

// Applies a patchset to `doc` and returns the result; `doc` is not changed. ABORTED when the
// patchset's source version is not `doc`'s version; INVALID_ARGUMENT for a malformed patchset or
// one whose paths do not resolve; DATA_LOSS when the result's digest is not the patchset's.
absl::StatusOr<CibDocument> ApplyPatchset(const CibDocument& doc, std::string_view patchset);

// What ApplyPatchsetInPlace found.
struct AppliedPatchset {
  std::string digest;           // the result's digest (computed once)
  bool digest_matches = true;   // false when the patchset carried a different one
  std::string expected_digest;  // the patchset's digest ("" when it carried none)
};

// The same on `doc` itself (no copy). ABORTED (version) leaves `doc` as it was; INVALID_ARGUMENT
// may leave it half changed: the caller must then drop it. A digest that differs is not an error
// here: `doc` holds the result and digest_matches says so.
absl::StatusOr<AppliedPatchset> ApplyPatchsetInPlace(CibDocument& doc, std::string_view patchset);

// The source and target versions a patchset carries.
absl::StatusOr<std::pair<CibVersion, CibVersion>> PatchsetVersions(std::string_view patchset);

// The pairing of children Diff uses: for each child of `b` (elements, text, comments), the
// matching child of `a` or a null node. Shared with the ACL write check.
std::vector<std::pair<pugi::xml_node, pugi::xml_node>> MatchChildren(const pugi::xml_node& a,
                                                                     const pugi::xml_node& b);

}  // namespace ha::cib
