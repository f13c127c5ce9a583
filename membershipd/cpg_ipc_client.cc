#include "membershipd/cpg_ipc_client.h"

#include <qb/qbipcc.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

namespace ha::membership {
namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(30);

absl::Status ErrnoStatus(int err, absl::string_view what) {
  const std::string text = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(text);
    case EAGAIN:
      return absl::ResourceExhaustedError(text);
    case ETIMEDOUT:
      return absl::DeadlineExceededError(text);
    case EINVAL:
    case EMSGSIZE:
      return absl::InvalidArgumentError(text);
    default:
      return absl::UnavailableError(text);
  }
}

int MillisUntil(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration())
    return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 60000));
}

}  // namespace

absl::StatusOr<std::unique_ptr<CpgIpcClient>> CpgIpcClient::Connect(
    const std::string& service_name, const std::string& client_name) {
  qb_ipcc_connection_t* c = qb_ipcc_connect(service_name.c_str(), cpg_ipc::kBufferSize);
  if (c == nullptr) {
    const int err = errno;
    return ErrnoStatus(err, absl::StrCat("cannot connect to membershipd's IPC ", service_name));
  }
  std::unique_ptr<CpgIpcClient> client(new CpgIpcClient(c));
  cpg_ipc::Request init;
  init.id = cpg_ipc::kInit;
  init.name = client_name.substr(0, cpg_ipc::kMaxClientName);
  absl::StatusOr<cpg_ipc::Response> reply = client->Call(std::move(init));
  if (!reply.ok())
    return reply.status();
  client->init_ = reply->init;
  return client;
}

CpgIpcClient::CpgIpcClient(qb_ipcc_connection* connection)
    : connection_(connection), buffer_(cpg_ipc::kBufferSize, '\0') {
  int32_t fd = -1;
  if (qb_ipcc_fd_get(connection_, &fd) == 0)
    fd_ = fd;
}

CpgIpcClient::~CpgIpcClient() {
  qb_ipcc_disconnect(connection_);
}

absl::Status CpgIpcClient::Send(const std::string& message, absl::Time deadline) {
  for (;;) {
    const ssize_t rc = qb_ipcc_send(connection_, message.data(), message.size());
    if (rc >= 0)
      return absl::OkStatus();
    if (rc != -EAGAIN || absl::Now() >= deadline)
      return ErrnoStatus(static_cast<int>(-rc), "cannot send to membershipd");
    // The request buffer is full of pipelined multicasts: the daemon reads them as it can.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

absl::StatusOr<cpg_ipc::Response> CpgIpcClient::Call(cpg_ipc::Request request) {
  request.request_seq = next_seq_++;
  const absl::Time deadline = absl::Now() + kCallTimeout;
  if (absl::Status s = Send(cpg_ipc::EncodeRequest(request), deadline); !s.ok())
    return s;
  for (;;) {
    const ssize_t n =
        qb_ipcc_recv(connection_, buffer_.data(), buffer_.size(), MillisUntil(deadline));
    if (n < 0) {
      if ((n == -EAGAIN || n == -ETIMEDOUT) && absl::Now() < deadline)
        continue;
      return ErrnoStatus(static_cast<int>(-n), "no answer from membershipd");
    }
    absl::StatusOr<cpg_ipc::Response> response =
        cpg_ipc::DecodeResponse(absl::string_view(buffer_.data(), static_cast<size_t>(n)));
    if (!response.ok())
      return absl::InternalError(
          absl::StrCat("a malformed answer from membershipd: ", response.status().message()));
    // An answer to an earlier call that timed out: skip it.
    if (response->request_seq != request.request_seq)
      continue;
    if (response->code != absl::StatusCode::kOk)
      return absl::Status(response->code, response->message);
    return *std::move(response);
  }
}

absl::Status CpgIpcClient::Join(const std::string& group) {
  cpg_ipc::Request r;
  r.id = cpg_ipc::kJoin;
  r.name = group;
  return Call(std::move(r)).status();
}

absl::Status CpgIpcClient::Leave(const std::string& group) {
  cpg_ipc::Request r;
  r.id = cpg_ipc::kLeave;
  r.name = group;
  return Call(std::move(r)).status();
}

absl::StatusOr<uint64_t> CpgIpcClient::Mcast(const std::string& group,
                                             absl::string_view payload,
                                             bool safe) {
  if (payload.size() > max_payload())
    return absl::InvalidArgumentError(absl::StrCat(
        "a payload of ", payload.size(), " bytes is over the limit of ", max_payload()));
  if (group.empty() || group.size() > cpg_ipc::kMaxGroupName)
    return absl::InvalidArgumentError("the group name must have 1 to 128 bytes");
  cpg_ipc::Request r;
  r.id = cpg_ipc::kMcast;
  r.request_seq = next_seq_;
  r.name = group;
  r.safe = safe;
  r.payload = std::string(payload);
  const std::string message = cpg_ipc::EncodeRequest(r);
  const ssize_t sent = qb_ipcc_send(connection_, message.data(), message.size());
  if (sent < 0)
    return ErrnoStatus(static_cast<int>(-sent), "cannot send a multicast");
  return next_seq_++;
}

absl::Status CpgIpcClient::Flush() {
  cpg_ipc::Request r;
  r.id = cpg_ipc::kLocalGet;
  return Call(std::move(r)).status();
}

absl::StatusOr<std::vector<cpg_ipc::Member>> CpgIpcClient::Membership(const std::string& group) {
  cpg_ipc::Request r;
  r.id = cpg_ipc::kMembership;
  r.name = group;
  absl::StatusOr<cpg_ipc::Response> reply = Call(std::move(r));
  if (!reply.ok())
    return reply.status();
  return std::move(reply->members);
}

absl::StatusOr<int> CpgIpcClient::Dispatch(const CpgCallbacks& callbacks,
                                           absl::Duration timeout,
                                           int max_events) {
  int handled = 0;
  int wait_ms = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(timeout)));
  while (handled < max_events) {
    const ssize_t n = qb_ipcc_event_recv(connection_, buffer_.data(), buffer_.size(), wait_ms);
    wait_ms = 0;  // only the first read waits
    if (n == -EAGAIN || n == -ETIMEDOUT)
      break;
    if (n < 0)
      return ErrnoStatus(static_cast<int>(-n), "membershipd's IPC");
    absl::StatusOr<cpg_ipc::Event> event =
        cpg_ipc::DecodeEvent(absl::string_view(buffer_.data(), static_cast<size_t>(n)));
    ++handled;
    if (!event.ok())
      continue;  // from a newer daemon, or damaged: nothing to hand over
    switch (event->id) {
      case cpg_ipc::kEventDeliver:
        if (callbacks.on_deliver) {
          CpgDelivery d;
          d.group = std::move(event->group);
          d.node = event->node;
          d.pid = event->pid;
          d.seq = event->seq;
          d.safe = event->safe;
          d.payload = std::move(event->payload);
          callbacks.on_deliver(d);
        }
        break;
      case cpg_ipc::kEventConfChg:
        if (callbacks.on_confchg) {
          CpgConfigChange c;
          c.group = std::move(event->group);
          c.ring_id = event->ring_id;
          c.members = std::move(event->members);
          c.joined = std::move(event->joined);
          c.left = std::move(event->left);
          callbacks.on_confchg(c);
        }
        break;
      case cpg_ipc::kEventRingChange:
        if (callbacks.on_ring_change) {
          CpgRingChange c;
          c.ring_id = event->ring_id;
          for (const auto& m : event->members) {
            c.members.push_back(m.node);
          }
          for (const auto& m : event->joined) {
            c.joined.push_back(m.node);
          }
          for (const auto& m : event->left) {
            c.left.push_back(m.node);
          }
          callbacks.on_ring_change(c);
        }
        break;
      case cpg_ipc::kEventError:
        if (callbacks.on_error)
          callbacks.on_error(event->request_seq, absl::Status(event->code, event->message));
        break;
      default:
        break;
    }
  }
  return handled;
}

}  // namespace ha::membership
