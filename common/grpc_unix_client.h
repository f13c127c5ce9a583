// The client side of the local gRPC convention: a channel to a daemon's Unix socket, and contexts
// that always carry a deadline.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/time.h"

namespace ha {

inline constexpr absl::Duration kDefaultRpcDeadline = absl::Seconds(5);
// Local messages may carry a whole CIB with its status (tens of MiB on large clusters), far
// above gRPC's 4 MiB default; the daemons bound what they accept themselves.
inline constexpr int kMaxLocalMessageBytes = 256 << 20;

// A channel to the daemon serving on `socket_path`. Connecting is lazy: errors show on the call.
std::shared_ptr<grpc::Channel> ConnectUnix(const std::string& socket_path);

// A client context whose deadline is `timeout` from now.
std::unique_ptr<grpc::ClientContext> ContextWithDeadline(
    absl::Duration timeout = kDefaultRpcDeadline);

}  // namespace ha
