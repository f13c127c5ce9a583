#include "common/grpc_unix_client.h"

#include "absl/strings/str_cat.h"

namespace ha {

std::shared_ptr<grpc::Channel> ConnectUnix(const std::string& socket_path) {
  grpc::ChannelArguments args;
  // A local daemon that is down should fail a call quickly rather than be retried for long.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(kMaxLocalMessageBytes);
  args.SetMaxSendMessageSize(kMaxLocalMessageBytes);
  return grpc::CreateCustomChannel(
      absl::StrCat("unix:", socket_path), grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> ContextWithDeadline(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return ctx;
}

}  // namespace ha
