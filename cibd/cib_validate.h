// Validation of a CIB's content, applied to the result of every write (Pacemaker validates
// against its RelaxNG schema; we check the rules below, which cover what the scheduler relies on,
// and keep whatever we do not know, so that elements of newer schemas survive).
//
// Rules (each problem is reported as "<tag id='x'>: reason"):
//  1. Structure: `<cib>` holds one `<configuration>` (with `crm_config`, `nodes`, `resources`,
//     `constraints`) and at most one `<status>`; each configuration section appears once and
//     only as a child of `<configuration>`; resources sit in `<resources>` or in a collective
//     that can hold them (a primitive in a group, clone, master or bundle; a group in a clone or
//     master); constraints sit in `<constraints>`. No element deeper than ParseLimits' depth.
//  2. Ids: resources, constraints, ops, nodes, ACL roles and permissions need an id.
//     Ids are unique across the whole configuration, whatever the tag (Pacemaker's schema types
//     them as XML IDs), except for `<node>` (its id is a cluster node id, which a remote node's
//     resource shares) and for the elements whose id is a reference (`resource_ref`, `role`,
//     `obj_ref`). In the status, `node_state` ids are unique; the rest of the status is the
//     controller's record and is not checked.
//  3. References resolve: rsc / with-rsc / first / then of constraints and rsc of rsc_ticket name
//     a resource, template or tag; resource_ref names one too; a primitive's `template` names a
//     template; `id-ref` names an element of the same tag; an ACL target's or group's `role`
//     names an acl_role.
//  4. Typed values: version attributes are non-negative integers; `score` of constraints and
//     rules is an integer, [+-]INFINITY or red/yellow/green; `interval` and `timeout` of ops are
//     durations ("10", "10s", "500ms", "2min", "PT10S"...); boolean meta attributes and cluster
//     options (is-managed, globally-unique, enable-acl, ...) and the booleans of resource sets
//     and orders are true/false/yes/no/on/off/y/n/1/0.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "cibd/cib_document.h"

namespace ha::cib {

// Every problem of `doc`, in document order.
std::vector<std::string> FindProblems(const CibDocument& doc);

// OK, or INVALID_ARGUMENT with the first problem of `doc`.
absl::Status Validate(const CibDocument& doc);

// The check of a write: INVALID_ARGUMENT naming the first problem `after` has that `before` did
// not have. Problems a CIB already had (e.g. one written by another tool) do not block writes
// that leave them as they are.
//
// Incremental: the two configurations are walked side by side (children paired by tag and id,
// as patchsets pair them), and only what differs is checked: the elements whose attributes
// changed (against their own old problems), the added subtrees, an added id another element
// has, references to a removed id; plus the cheap whole-document checks (version, top-level
// structure, node_state ids). Its cost follows the size of the change, plus one pass over the
// configuration when ids are added or removed.
absl::Status ValidateChange(const CibDocument& before, const CibDocument& after);

// The same from every problem of both documents (FindProblems twice): the reference the
// incremental check is tested against.
absl::Status ValidateChangeFully(const CibDocument& before, const CibDocument& after);

// Value syntaxes, shared with the operations (score arithmetic) and tests.
bool IsScore(std::string_view s);
bool IsBoolean(std::string_view s);
bool IsDuration(std::string_view s);

}  // namespace ha::cib
