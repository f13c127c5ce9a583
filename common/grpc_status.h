// absl::Status <-> grpc::Status. The codes are the same numbers in both (both follow
// google.rpc.Code), so the mapping keeps code and message.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace ha {

absl::Status FromGrpcStatus(const grpc::Status& status);
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace ha
