// The CIB operations of proto/cib.proto as pure functions on a document (cibadmin's --query,
// --create, --modify, --replace, --delete, --erase, --bump, and transactions). No I/O, no ACLs
// (cib_acl.h checks the result of a write), no replication. Errors use cib.proto's codes.
//
// Writes never change their input: they return a new document, which has been validated
// against the input (cib_validate.h), or an error and nothing else.
//
// Version rules (Pacemaker's):
//  - a write that changes nothing returns the input unchanged (changed = false);
//  - a change under `<configuration>` raises epoch and resets num_updates to 0;
//  - any other change (status, attributes of `<cib>`) raises num_updates;
//  - admin_epoch changes only when the request sets it explicitly (a Modify or Replace of
//    `<cib>` carrying it); a request may raise epoch/num_updates explicitly too, and then its
//    values are kept as they are; a version lower than the input's is ABORTED;
//  - a whole-CIB Replace keeps the version it carries when newer than the input's, is ABORTED
//    when older, and is bumped by the rules above when equal;
//  - BumpEpoch raises epoch and resets num_updates, even though nothing else changed.
// After a change, update-client / update-user / update-origin of `<cib>` are set from
// WriteContext (when given).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "cibd/cib_document.h"

namespace ha::cib {

// Where a request applies (cib.proto's Target): a section, an XPath, or neither.
struct Target {
  std::string scope;
  std::string xpath;
};

struct QueryOptions {
  bool no_children = false;  // matched elements without their children
  bool node_path = false;    // with an xpath: the matches' absolute paths, one per line
};

struct QueryResult {
  std::string xml;
  uint32_t matches = 0;
};

// Reads the whole CIB, a section, or an XPath's matches (several wrapped in `<xpath-query>`).
// NOT_FOUND when the section or match does not exist; INVALID_ARGUMENT for an unknown scope,
// both scope and xpath, or an invalid XPath. XPath results may be attributes or text: their
// values are returned.
absl::StatusOr<QueryResult> Query(const CibDocument& doc,
                                  const Target& target,
                                  const QueryOptions& options = {});

struct CreateOp {
  Target target;
  std::string xml;
};
struct ModifyOp {
  Target target;
  std::string xml;
  bool allow_create = false;
  bool score_update = false;  // expand "name++" and "name+=N" in attribute values
};
struct ReplaceOp {
  Target target;
  std::string xml;
};
struct DeleteOp {
  Target target;
  std::string xml;
  bool delete_all = false;
};
struct EraseOp {
  bool force = false;
};
struct BumpOp {};

using WriteOp = std::variant<CreateOp, ModifyOp, ReplaceOp, DeleteOp, EraseOp, BumpOp>;

// Who writes, recorded on `<cib>`; and the optional optimistic-concurrency check.
struct WriteContext {
  std::optional<CibVersion> expected_version;  // ABORTED unless the input has this version
  std::string client_name;                     // update-client
  std::string user;                            // update-user
  std::string origin;                          // update-origin (the node's name)
};

struct WriteResult {
  CibDocument document;
  bool changed = false;
};

// Applies one write.
absl::StatusOr<WriteResult> ApplyWrite(const CibDocument& doc,
                                       const WriteOp& op,
                                       const WriteContext& context = {});

// Applies the writes in order as one change: one validation, one version bump. The first
// failing operation's status is returned with "operation N: " (0-based) before its message.
// Erase and Bump are allowed in a transaction too.
absl::StatusOr<WriteResult> ApplyTransaction(const CibDocument& doc,
                                             std::span<const WriteOp> ops,
                                             const WriteContext& context = {});

// The name of an operation as patchset notifications carry it ("create", "modify", ...).
const char* OperationName(const WriteOp& op);

}  // namespace ha::cib
