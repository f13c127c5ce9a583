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

// The patchset from `from` to `to` as XML (no change elements when they are equal).
std::string Diff(const CibDocument& from, const CibDocument& to);

// Applies a patchset to `doc` and returns the result; `doc` is not changed. ABORTED when the
// patchset's source version is not `doc`'s version; INVALID_ARGUMENT for a malformed patchset or
// one whose paths do not resolve; DATA_LOSS when the result's digest is not the patchset's.
absl::StatusOr<CibDocument> ApplyPatchset(const CibDocument& doc, std::string_view patchset);

// The source and target versions a patchset carries.
absl::StatusOr<std::pair<CibVersion, CibVersion>> PatchsetVersions(std::string_view patchset);

// The pairing of children Diff uses: for each child of `b` (elements, text, comments), the
// matching child of `a` or a null node. Shared with the ACL write check.
std::vector<std::pair<pugi::xml_node, pugi::xml_node>> MatchChildren(const pugi::xml_node& a,
                                                                     const pugi::xml_node& b);

}  // namespace ha::cib
