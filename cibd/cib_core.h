// cibd's local copy of the CIB and the Cib API's semantics on it, without gRPC: queries (filtered
// by the requester's ACLs), writes (cib_ops.h's rules, then the quorum rule, the ACL check on the
// change, the durable save through CibStore, and only then the new copy becomes current), the
// version and digest, and a listener that sees each applied change (subscriptions, replication).
// Errors are cib.proto's codes.
//
// Not thread-safe: one owner (cibd's loop thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "cibd/cib_caller.h"
#include "cibd/cib_document.h"
#include "cibd/cib_ops.h"
#include "cibd/cib_store.h"
#include "common/clock.h"

namespace ha::cib {

// What a listener learns about an applied change besides the two documents.
struct ChangeInfo {
  std::string operation;  // "create", "modify", ..., "transaction", "sync"
  std::string origin;     // node that made it
  std::string client;     // client_name of the writer
  std::string user;       // effective user of the writer
  // The whole CIB was replaced (whole-CIB Replace, Erase, or a copy from a peer): subscribers
  // get a re-sync marker instead of a patchset.
  bool replaced = false;
  // The new copy's digest. Install computes it when the caller leaves it empty (the caller
  // may know it: a patchset's verified digest); listeners always see it set.
  std::string digest;
};

struct WriteOptions {
  bool force = false;  // apply without quorum; Erase needs it
  std::optional<CibVersion> expected_version;
  std::string client_name;
};

struct QueryAnswer {
  std::string xml;
  CibVersion version;
  uint32_t matches = 0;
};

struct WriteAnswer {
  CibVersion version;
  std::string digest;
  bool changed = false;
};

// A write checked and ready to be committed.
struct PreparedWrite {
  CibDocument after;
  bool changed = false;
  ChangeInfo info;
};

struct VersionInfo {
  CibVersion version;
  std::string digest;
  std::string validate_with;
  std::string crm_feature_set;
  std::string dc_uuid;
  bool have_quorum = false;
  std::string update_origin;
  std::string update_client;
  std::string update_user;
  int64_t last_written_unix_s = 0;
};

// The empty CIB of a first start: cib.proto's version 0.0.0, pacemaker-3.9, empty sections.
CibDocument EmptyCib();

// The quorum rule's exception: the CIB's crm_config sets no-quorum-policy="ignore" (in any
// cluster_property_set), so a partition without quorum takes configuration changes too.
bool IgnoresQuorum(const CibDocument& doc);

// True for a Replace of the whole `<cib>` (no target, the XML's root is `<cib>`).
bool IsWholeReplace(const WriteOp& op);

class CibCore {
 public:
  using ChangeListener =
      std::function<void(const CibDocument& before, const CibDocument& after, const ChangeInfo&)>;

  // `store` (may be null: memory only) and `clock` must outlive the core. `node_name` is written
  // as update-origin.
  CibCore(CibDocument initial, CibStore* store, Clock& clock, std::string node_name);

  // Called after each applied change, once it is durable.
  void SetChangeListener(ChangeListener listener) { listener_ = std::move(listener); }
  // Whether this node's partition has quorum (without it, configuration writes need force, or
  // no-quorum-policy=ignore in the current copy: IgnoresQuorum).
  void SetQuorum(bool have_quorum) { have_quorum_ = have_quorum; }
  bool have_quorum() const { return have_quorum_; }

  const CibDocument& document() const { return doc_; }
  // document().Digest(), computed once per installed copy.
  const std::string& digest() const { return digest_; }
  const std::string& node_name() const { return node_name_; }

  absl::StatusOr<QueryAnswer> Query(const Requester& who,
                                    const Target& target,
                                    const QueryOptions& options) const;

  // Checks `ops` against the current copy (as one transaction when `transaction`, else exactly
  // one op): the operation, the quorum rule (IgnoresQuorum of the current copy), the requester's
  // ACLs. Changes nothing.
  absl::StatusOr<PreparedWrite> Prepare(const Requester& who,
                                        std::span<const WriteOp> ops,
                                        bool transaction,
                                        const WriteOptions& options) const;

  // Makes a prepared write current: saved first (an error leaves the current copy), then
  // installed, then the listener is told. Must follow its Prepare with no other change between.
  absl::StatusOr<WriteAnswer> Commit(PreparedWrite prepared);

  // Prepare then Commit.
  absl::StatusOr<WriteAnswer> Write(const Requester& who,
                                    std::span<const WriteOp> ops,
                                    bool transaction,
                                    const WriteOptions& options);

  // Installs a document that another node decided (a patchset applied, a full copy): saved,
  // installed, listener told. `info.digest`, when set, must be `doc`'s digest.
  absl::Status Install(CibDocument doc, ChangeInfo info);

  VersionInfo GetVersion() const;

 private:
  CibDocument doc_;
  std::string digest_;  // doc_'s
  CibStore* store_;
  Clock& clock_;
  std::string node_name_;
  ChangeListener listener_;
  bool have_quorum_ = true;
  int64_t last_written_unix_s_ = 0;
};

}  // namespace ha::cib
