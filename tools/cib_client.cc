#include "tools/cib_client.h"

#include "common/grpc_status.h"
#include "common/grpc_unix_client.h"
#include "proto/cib.grpc.pb.h"

namespace ha::cib_client {

CibExit ExitForStatus(const absl::Status& status) {
  using absl::StatusCode;
  const StatusCode code = status.code();
  if (code == StatusCode::kOk) {
    return CibExit::kOk;
  }
  if (code == StatusCode::kUnavailable) {
    return CibExit::kDisconnect;
  }
  if (code == StatusCode::kDeadlineExceeded) {
    return CibExit::kTimeout;
  }
  if (code == StatusCode::kPermissionDenied || code == StatusCode::kUnauthenticated) {
    return CibExit::kInsufficientPriv;
  }
  if (code == StatusCode::kNotFound) {
    return CibExit::kNoSuch;
  }
  if (code == StatusCode::kAlreadyExists) {
    return CibExit::kExists;
  }
  if (code == StatusCode::kAborted) {
    return CibExit::kOld;
  }
  if (code == StatusCode::kFailedPrecondition) {
    return CibExit::kQuorum;
  }
  if (code == StatusCode::kInvalidArgument) {
    return CibExit::kConfig;
  }
  return CibExit::kError;
}

absl::string_view ExitText(CibExit code) {
  switch (code) {
    case CibExit::kOk:
      return "OK";
    case CibExit::kError:
      return "Error occurred";
    case CibExit::kInsufficientPriv:
      return "Insufficient privileges";
    case CibExit::kUsage:
      return "Incorrect usage";
    case CibExit::kDataErr:
      return "Invalid data given";
    case CibExit::kNoInput:
      return "Input file not available";
    case CibExit::kConfig:
      return "Invalid configuration";
    case CibExit::kDisconnect:
      return "Not connected";
    case CibExit::kOld:
      return "Update was older than existing configuration";
    case CibExit::kNoSuch:
      return "No such object";
    case CibExit::kQuorum:
      return "Quorum required";
    case CibExit::kUnsafe:
      return "Operation not safe";
    case CibExit::kExists:
      return "Requested item already exists";
    case CibExit::kTimeout:
      return "Timeout occurred";
  }
  return "Error occurred";
}

absl::StatusOr<std::string> QueryLiveCib(const std::string& run_dir, absl::Duration timeout) {
  auto stub = cib::v1::Cib::NewStub(ConnectUnix(run_dir + "/cibd.sock"));
  auto ctx = ContextWithDeadline(timeout);
  cib::v1::QueryRequest request;
  request.mutable_options()->set_client_name("crm_simulate");
  cib::v1::QueryResponse response;
  absl::Status s = FromGrpcStatus(stub->Query(ctx.get(), request, &response));
  if (!s.ok()) {
    return s;
  }
  return response.xml();
}

}  // namespace ha::cib_client
