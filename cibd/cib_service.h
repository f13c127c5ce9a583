// The Cib gRPC service (proto/cib.proto) over CibCore: converts requests, resolves who the
// caller acts as (its socket credentials and CallOptions.user, cib_caller.h), runs each call on
// the loop, and streams changes through CibSubscriptions.
//
// Writes go through a WritePath: by default straight to the local CibCore (a node on its own);
// replication replaces it with one that orders the write through the cluster first and answers
// once this node has applied it.
//
// Threading: CibCore and the subscriptions' Open/Publish live on the loop; handlers post to it.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "cibd/cib_caller.h"
#include "cibd/cib_core.h"
#include "cibd/cib_subscriptions.h"
#include "common/event_loop.h"
#include "common/peer_auth.h"
#include "proto/cib.grpc.pb.h"

namespace ha::cib {

class CibService final : public v1::Cib::Service {
 public:
  using PeerLookup = std::function<absl::StatusOr<PeerIdentity>(const grpc::ServerContextBase&)>;
  using WriteDone = std::function<void(absl::StatusOr<WriteAnswer>)>;
  // Applies a write and calls `done` once (on the loop thread). Loop thread.
  using WritePath = std::function<void(const Requester& who,
                                       std::vector<WriteOp> ops,
                                       bool transaction,
                                       const WriteOptions& options,
                                       WriteDone done)>;

  // REQUIRES: `loop`, `core` and `users` outlive the service; `core` lives on `loop`. The
  // service publishes the core's changes to its subscribers (it sets the core's listener).
  CibService(EventLoop& loop,
             CibCore& core,
             PeerLookup peer_of,
             const UserDirectory& users,
             size_t subscriber_queue_limit = 1000);
  ~CibService() override;

  // Replaces the write path (before serving).
  void SetWritePath(WritePath path) { write_path_ = std::move(path); }
  // Ends every Subscribe stream (UNAVAILABLE). Thread-safe.
  void Stop();
  CibSubscriptions& subscriptions() { return subscriptions_; }

  grpc::Status Query(grpc::ServerContext*, const v1::QueryRequest*, v1::QueryResponse*) override;
  grpc::Status Create(grpc::ServerContext*, const v1::CreateRequest*, v1::WriteResponse*) override;
  grpc::Status Modify(grpc::ServerContext*, const v1::ModifyRequest*, v1::WriteResponse*) override;
  grpc::Status Replace(grpc::ServerContext*,
                       const v1::ReplaceRequest*,
                       v1::WriteResponse*) override;
  grpc::Status Delete(grpc::ServerContext*, const v1::DeleteRequest*, v1::WriteResponse*) override;
  grpc::Status Erase(grpc::ServerContext*, const v1::EraseRequest*, v1::WriteResponse*) override;
  grpc::Status BumpEpoch(grpc::ServerContext*,
                         const v1::BumpEpochRequest*,
                         v1::WriteResponse*) override;
  grpc::Status ApplyTransaction(grpc::ServerContext*,
                                const v1::ApplyTransactionRequest*,
                                v1::WriteResponse*) override;
  grpc::Status Subscribe(grpc::ServerContext*,
                         const v1::SubscribeRequest*,
                         grpc::ServerWriter<v1::CibChange>*) override;
  grpc::Status GetVersion(grpc::ServerContext*,
                          const v1::GetVersionRequest*,
                          v1::GetVersionResponse*) override;

 private:
  absl::StatusOr<Requester> Who(const grpc::ServerContextBase& ctx,
                                const v1::CallOptions& options) const;
  grpc::Status DoWrite(grpc::ServerContext* ctx,
                       const v1::CallOptions& options,
                       std::vector<WriteOp> ops,
                       bool transaction,
                       v1::WriteResponse* response);

  EventLoop& loop_;
  CibCore& core_;
  PeerLookup peer_of_;
  const UserDirectory& users_;
  CibSubscriptions subscriptions_;
  WritePath write_path_;
};

// cib.proto's messages <-> cib_ops.h's operations.
Target FromProto(const v1::Target& target);
WriteOp FromProto(const v1::CreateRequest& request);
WriteOp FromProto(const v1::ModifyRequest& request);
WriteOp FromProto(const v1::ReplaceRequest& request);
WriteOp FromProto(const v1::DeleteRequest& request);
// The op of a transaction's operation; INVALID_ARGUMENT when it holds none.
absl::StatusOr<WriteOp> FromProto(const v1::CibOperation& op);
CibVersion FromProto(const v1::CibVersion& v);
void ToProto(const CibVersion& v, v1::CibVersion* out);

}  // namespace ha::cib
