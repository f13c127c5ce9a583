#include "cibd/cib_service.h"

#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/loop_call.h"

namespace ha::cib {

Target FromProto(const v1::Target& target) {
  return Target{target.scope(), target.xpath()};
}
WriteOp FromProto(const v1::CreateRequest& r) {
  return CreateOp{FromProto(r.target()), r.xml()};
}
WriteOp FromProto(const v1::ModifyRequest& r) {
  return ModifyOp{FromProto(r.target()), r.xml(), r.allow_create(), r.score_update()};
}
WriteOp FromProto(const v1::ReplaceRequest& r) {
  return ReplaceOp{FromProto(r.target()), r.xml()};
}
WriteOp FromProto(const v1::DeleteRequest& r) {
  return DeleteOp{FromProto(r.target()), r.xml(), r.delete_all()};
}
absl::StatusOr<WriteOp> FromProto(const v1::CibOperation& op) {
  switch (op.op_case()) {
    case v1::CibOperation::kCreate:
      return FromProto(op.create());
    case v1::CibOperation::kModify:
      return FromProto(op.modify());
    case v1::CibOperation::kReplace:
      return FromProto(op.replace());
    case v1::CibOperation::kDelete:
      return FromProto(op.delete_());
    case v1::CibOperation::OP_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("an operation with no create, modify, replace or delete");
}
CibVersion FromProto(const v1::CibVersion& v) {
  return CibVersion{v.admin_epoch(), v.epoch(), v.num_updates()};
}
void ToProto(const CibVersion& v, v1::CibVersion* out) {
  out->set_admin_epoch(v.admin_epoch);
  out->set_epoch(v.epoch);
  out->set_num_updates(v.num_updates);
}

CibService::CibService(EventLoop& loop,
                       CibCore& core,
                       PeerLookup peer_of,
                       const UserDirectory& users,
                       size_t subscriber_queue_limit)
    : loop_(loop),
      core_(core),
      peer_of_(std::move(peer_of)),
      users_(users),
      subscriptions_(subscriber_queue_limit) {
  core_.SetChangeListener(
      [this](const CibDocument& before, const CibDocument& after, const ChangeInfo& info) {
        subscriptions_.Publish(before, after, info);
      });
  write_path_ = [this](const Requester& who,
                       std::vector<WriteOp> ops,
                       bool transaction,
                       const WriteOptions& options,
                       WriteDone done) { done(core_.Write(who, ops, transaction, options)); };
}

CibService::~CibService() {
  Stop();
}

void CibService::Stop() {
  subscriptions_.Close();
}

absl::StatusOr<Requester> CibService::Who(const grpc::ServerContextBase& ctx,
                                          const v1::CallOptions& options) const {
  absl::StatusOr<PeerIdentity> peer = peer_of_(ctx);
  if (!peer.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot tell who the caller is: ", peer.status().message()));
  }
  return ResolveRequester(*peer, options.user(), users_);
}

grpc::Status CibService::Query(grpc::ServerContext* ctx,
                               const v1::QueryRequest* request,
                               v1::QueryResponse* response) {
  absl::StatusOr<Requester> who = Who(*ctx, request->options());
  if (!who.ok()) {
    return ToGrpcStatus(who.status());
  }
  // A node on its own is its own master: local and cluster reads are the same copy.
  QueryOptions options{request->options().no_children(), request->node_path()};
  absl::StatusOr<QueryAnswer> answer = RunOnLoopFlat(
      loop_, ctx, [this, who = *std::move(who), target = FromProto(request->target()), options]() {
        return core_.Query(who, target, options);
      });
  if (!answer.ok()) {
    return ToGrpcStatus(answer.status());
  }
  response->set_xml(std::move(answer->xml));
  ToProto(answer->version, response->mutable_version());
  response->set_matches(answer->matches);
  return grpc::Status::OK;
}

grpc::Status CibService::DoWrite(grpc::ServerContext* ctx,
                                 const v1::CallOptions& call_options,
                                 std::vector<WriteOp> ops,
                                 bool transaction,
                                 v1::WriteResponse* response) {
  if (call_options.local()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "a write cannot be local: it would make this node's copy diverge");
  }
  absl::StatusOr<Requester> who = Who(*ctx, call_options);
  if (!who.ok()) {
    return ToGrpcStatus(who.status());
  }
  WriteOptions options;
  options.force = call_options.force();
  options.client_name = call_options.client_name();
  if (call_options.has_expected_version()) {
    options.expected_version = FromProto(call_options.expected_version());
  }
  auto promise = std::make_shared<std::promise<absl::StatusOr<WriteAnswer>>>();
  std::future<absl::StatusOr<WriteAnswer>> future = promise->get_future();
  absl::Status posted = RunOnLoopFlat(
      loop_,
      ctx,
      [this, who = *std::move(who), ops = std::move(ops), transaction, options, promise]() {
        write_path_(who, ops, transaction, options, [promise](absl::StatusOr<WriteAnswer> a) {
          promise->set_value(std::move(a));
        });
        return absl::OkStatus();
      });
  if (!posted.ok()) {
    return ToGrpcStatus(posted);
  }
  absl::StatusOr<absl::StatusOr<WriteAnswer>> answer = WaitFor(ctx, future);
  if (!answer.ok()) {
    return ToGrpcStatus(answer.status());
  }
  if (!answer->ok()) {
    return ToGrpcStatus(answer->status());
  }
  const WriteAnswer& a = **answer;
  ToProto(a.version, response->mutable_version());
  response->set_digest(a.digest);
  response->set_changed(a.changed);
  return grpc::Status::OK;
}

grpc::Status CibService::Create(grpc::ServerContext* ctx,
                                const v1::CreateRequest* request,
                                v1::WriteResponse* response) {
  return DoWrite(ctx, request->options(), {FromProto(*request)}, false, response);
}

grpc::Status CibService::Modify(grpc::ServerContext* ctx,
                                const v1::ModifyRequest* request,
                                v1::WriteResponse* response) {
  return DoWrite(ctx, request->options(), {FromProto(*request)}, false, response);
}

grpc::Status CibService::Replace(grpc::ServerContext* ctx,
                                 const v1::ReplaceRequest* request,
                                 v1::WriteResponse* response) {
  return DoWrite(ctx, request->options(), {FromProto(*request)}, false, response);
}

grpc::Status CibService::Delete(grpc::ServerContext* ctx,
                                const v1::DeleteRequest* request,
                                v1::WriteResponse* response) {
  return DoWrite(ctx, request->options(), {FromProto(*request)}, false, response);
}

grpc::Status CibService::Erase(grpc::ServerContext* ctx,
                               const v1::EraseRequest* request,
                               v1::WriteResponse* response) {
  if (!request->options().force()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "erasing the CIB needs force (cibadmin --erase --force)");
  }
  return DoWrite(ctx, request->options(), {EraseOp{true}}, false, response);
}

grpc::Status CibService::BumpEpoch(grpc::ServerContext* ctx,
                                   const v1::BumpEpochRequest* request,
                                   v1::WriteResponse* response) {
  return DoWrite(ctx, request->options(), {BumpOp{}}, false, response);
}

grpc::Status CibService::ApplyTransaction(grpc::ServerContext* ctx,
                                          const v1::ApplyTransactionRequest* request,
                                          v1::WriteResponse* response) {
  std::vector<WriteOp> ops;
  for (int i = 0; i < request->operations_size(); ++i) {
    absl::StatusOr<WriteOp> op = FromProto(request->operations(i));
    if (!op.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("operation ", i, ": ", op.status().message()));
    }
    ops.push_back(*std::move(op));
  }
  if (ops.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a transaction with no operation");
  }
  return DoWrite(ctx, request->options(), std::move(ops), true, response);
}

grpc::Status CibService::Subscribe(grpc::ServerContext* ctx,
                                   const v1::SubscribeRequest* request,
                                   grpc::ServerWriter<v1::CibChange>* writer) {
  absl::StatusOr<Requester> who = Who(*ctx, request->options());
  if (!who.ok()) {
    return ToGrpcStatus(who.status());
  }
  absl::StatusOr<std::shared_ptr<CibSubscriptions::Subscriber>> sub =
      RunOnLoopFlat(loop_, ctx, [this, who = *std::move(who), request = *request]() {
        return subscriptions_.Open(core_.document(), who, request);
      });
  if (!sub.ok()) {
    return ToGrpcStatus(sub.status());
  }
  // Sends the headers now, so that the client knows it is subscribed before any change.
  writer->SendInitialMetadata();
  return subscriptions_.Serve(ctx, writer, *std::move(sub));
}

grpc::Status CibService::GetVersion(grpc::ServerContext* ctx,
                                    const v1::GetVersionRequest* request,
                                    v1::GetVersionResponse* response) {
  absl::StatusOr<Requester> who = Who(*ctx, request->options());
  if (!who.ok()) {
    return ToGrpcStatus(who.status());
  }
  absl::StatusOr<VersionInfo> info = RunOnLoop(loop_, ctx, [this]() { return core_.GetVersion(); });
  if (!info.ok()) {
    return ToGrpcStatus(info.status());
  }
  ToProto(info->version, response->mutable_version());
  response->set_digest(info->digest);
  response->set_validate_with(info->validate_with);
  response->set_crm_feature_set(info->crm_feature_set);
  response->set_dc_uuid(info->dc_uuid);
  response->set_have_quorum(info->have_quorum);
  response->set_update_origin(info->update_origin);
  response->set_update_client(info->update_client);
  response->set_update_user(info->update_user);
  response->set_last_written_unix_s(info->last_written_unix_s);
  return grpc::Status::OK;
}

}  // namespace ha::cib
