#include "cibd/cib_core.h"

#include <cstring>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cibd/cib_acl.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ha::cib {
namespace {

constexpr char kLastWrittenFormat[] = "%a %b %e %H:%M:%S %Y";  // Pacemaker's cib-last-written

std::string Attr(const pugi::xml_node& node, const char* name) {
  return node.attribute(name).as_string();
}

int64_t ParseLastWritten(const CibDocument& doc) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(kLastWrittenFormat,
                      Attr(doc.Root(), "cib-last-written"),
                      absl::LocalTimeZone(),
                      &t,
                      &err)) {
    return absl::ToUnixSeconds(t);
  }
  return 0;
}

}  // namespace

CibDocument EmptyCib() {
  return CibDocument();
}

bool IgnoresQuorum(const CibDocument& doc) {
  for (pugi::xml_node set = doc.Section("crm_config").child("cluster_property_set"); set;
       set = set.next_sibling("cluster_property_set")) {
    for (pugi::xml_node nv = set.child("nvpair"); nv; nv = nv.next_sibling("nvpair")) {
      if (std::strcmp(nv.attribute("name").value(), "no-quorum-policy") == 0 &&
          std::strcmp(nv.attribute("value").value(), "ignore") == 0)
        return true;
    }
  }
  return false;
}

bool IsWholeReplace(const WriteOp& op) {
  if (std::holds_alternative<EraseOp>(op)) {
    return true;
  }
  const auto* replace = std::get_if<ReplaceOp>(&op);
  if (replace == nullptr || !replace->target.scope.empty() || !replace->target.xpath.empty()) {
    return false;
  }
  auto parsed = ParseXml(replace->xml);
  return parsed.ok() && std::strcmp((*parsed)->document_element().name(), "cib") == 0;
}

CibCore::CibCore(CibDocument initial, CibStore* store, Clock& clock, std::string node_name)
    : doc_(std::move(initial)), store_(store), clock_(clock), node_name_(std::move(node_name)) {
  digest_ = doc_.Digest();
  last_written_unix_s_ = ParseLastWritten(doc_);
}

absl::StatusOr<QueryAnswer> CibCore::Query(const Requester& who,
                                           const Target& target,
                                           const QueryOptions& options) const {
  QueryAnswer answer;
  answer.version = doc_.Version();
  if (who.bypass) {
    HA_ASSIGN_OR_RETURN(QueryResult result, cib::Query(doc_, target, options));
    answer.xml = std::move(result.xml);
    answer.matches = result.matches;
    return answer;
  }
  const AclPolicy policy = AclPolicy::For(doc_, who.user);
  if (policy.Unrestricted()) {
    HA_ASSIGN_OR_RETURN(QueryResult result, cib::Query(doc_, target, options));
    answer.xml = std::move(result.xml);
    answer.matches = result.matches;
    return answer;
  }
  absl::StatusOr<CibDocument> visible = policy.FilterForRead(doc_);
  if (!visible.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("user ", who.user.name, " may read nothing of the CIB"));
  }
  absl::StatusOr<QueryResult> result = cib::Query(*visible, target, options);
  if (!result.ok()) {
    // What exists but is hidden reads as denied, not as missing, when the unfiltered copy has it.
    if (absl::IsNotFound(result.status()) && cib::Query(doc_, target, options).ok()) {
      return absl::PermissionDeniedError(
          absl::StrCat("user ",
                       who.user.name,
                       " may not read ",
                       target.xpath.empty() ? target.scope : target.xpath));
    }
    return result.status();
  }
  answer.xml = std::move(result->xml);
  answer.matches = result->matches;
  return answer;
}

absl::StatusOr<PreparedWrite> CibCore::Prepare(const Requester& who,
                                               std::span<const WriteOp> ops,
                                               bool transaction,
                                               const WriteOptions& options) const {
  if (ops.empty()) {
    return absl::InvalidArgumentError("no operation");
  }
  if (!transaction && ops.size() != 1) {
    return absl::InvalidArgumentError("several operations outside a transaction");
  }
  WriteContext context;
  context.expected_version = options.expected_version;
  context.client_name = options.client_name;
  context.user = who.user.name;
  context.origin = node_name_;
  absl::StatusOr<WriteResult> result =
      transaction ? ApplyTransaction(doc_, ops, context) : ApplyWrite(doc_, ops[0], context);
  if (!result.ok()) {
    return result.status();
  }
  PreparedWrite prepared{std::move(result->document), result->changed, {}};
  prepared.info.operation = transaction ? "transaction" : OperationName(ops[0]);
  prepared.info.origin = node_name_;
  prepared.info.client = options.client_name;
  prepared.info.user = who.user.name;
  for (const WriteOp& op : ops) {
    prepared.info.replaced = prepared.info.replaced || IsWholeReplace(op);
  }
  if (!prepared.changed) {
    return prepared;
  }
  const CibVersion before = doc_.Version();
  const CibVersion after = prepared.after.Version();
  const bool configuration_changed =
      after.admin_epoch != before.admin_epoch || after.epoch != before.epoch;
  if (configuration_changed && !have_quorum_ && !options.force && !IgnoresQuorum(doc_)) {
    return absl::FailedPreconditionError(
        "this partition has no quorum: configuration changes are refused (cibadmin --force, or "
        "no-quorum-policy=ignore in crm_config, allows them)");
  }
  if (!who.bypass) {
    const AclPolicy policy = AclPolicy::For(doc_, who.user);
    if (!policy.Unrestricted()) {
      HA_RETURN_IF_ERROR(policy.CheckWrite(doc_, prepared.after));
    }
  }
  return prepared;
}

absl::StatusOr<WriteAnswer> CibCore::Commit(PreparedWrite prepared) {
  WriteAnswer answer;
  if (!prepared.changed) {
    answer.version = doc_.Version();
    answer.digest = digest_;
    return answer;
  }
  HA_RETURN_IF_ERROR(Install(std::move(prepared.after), prepared.info));
  answer.version = doc_.Version();
  answer.digest = digest_;
  answer.changed = true;
  return answer;
}

absl::StatusOr<WriteAnswer> CibCore::Write(const Requester& who,
                                           std::span<const WriteOp> ops,
                                           bool transaction,
                                           const WriteOptions& options) {
  HA_ASSIGN_OR_RETURN(PreparedWrite prepared, Prepare(who, ops, transaction, options));
  return Commit(std::move(prepared));
}

absl::Status CibCore::Install(CibDocument doc, ChangeInfo info) {
  const absl::Time now = clock_.WallNow();
  doc.Root().remove_attribute("cib-last-written");
  doc.Root().append_attribute("cib-last-written") =
      absl::FormatTime(kLastWrittenFormat, now, absl::LocalTimeZone()).c_str();
  if (info.digest.empty()) {
    info.digest = doc.Digest();  // cib-last-written is not part of it
  }
  if (store_ != nullptr) {
    if (absl::Status s = store_->Save(doc, info.digest); !s.ok()) {
      HA_LOG_ERROR("cib",
                   "Could not save the CIB; the change is refused | version=%s error=%s",
                   ToString(doc.Version()),
                   s.ToString());
      return absl::InternalError(absl::StrCat("could not save the CIB: ", s.message()));
    }
  }
  last_written_unix_s_ = absl::ToUnixSeconds(now);
  CibDocument before = std::exchange(doc_, std::move(doc));
  digest_ = info.digest;
  HA_LOG_INFO("cib",
              "Applied a change | op=%s version=%s origin=%s client=%s user=%s",
              info.operation,
              ToString(doc_.Version()),
              info.origin,
              info.client,
              info.user);
  if (listener_) {
    listener_(before, doc_, info);
  }
  return absl::OkStatus();
}

VersionInfo CibCore::GetVersion() const {
  VersionInfo v;
  const pugi::xml_node root = doc_.Root();
  v.version = doc_.Version();
  v.digest = digest_;
  v.validate_with = Attr(root, "validate-with");
  v.crm_feature_set = Attr(root, "crm_feature_set");
  v.dc_uuid = Attr(root, "dc-uuid");
  v.have_quorum = have_quorum_;
  v.update_origin = Attr(root, "update-origin");
  v.update_client = Attr(root, "update-client");
  v.update_user = Attr(root, "update-user");
  v.last_written_unix_s = last_written_unix_s_;
  return v;
}

}  // namespace ha::cib
