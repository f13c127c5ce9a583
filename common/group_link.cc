#include "common/group_link.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_unix_client.h"
#include "common/logging.h"

namespace ha {
namespace {

namespace mv1 = membership::v1;

constexpr absl::Duration kJoinDeadline = absl::Seconds(30);
constexpr absl::Duration kMulticastDeadline = absl::Seconds(5);

}  // namespace

GroupLink::GroupLink(EventLoop& loop, Options options, Handlers handlers)
    : loop_(loop), options_(std::move(options)), handlers_(std::move(handlers)) {
  channel_ = ConnectUnix(options_.socket_path);
  groups_ = mv1::ProcessGroups::NewStub(channel_);
  quorum_ = mv1::Quorum::NewStub(channel_);
}

GroupLink::~GroupLink() {
  Stop();
}

void GroupLink::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) {
    return;
  }
  started_ = true;
  session_thread_ = std::thread([this] { SessionThread(); });
  sender_thread_ = std::thread([this] { SenderThread(); });
  if (handlers_.quorum)
    quorum_thread_ = std::thread([this] { QuorumThread(); });
}

void GroupLink::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (session_ctx_ != nullptr) {
      session_ctx_->TryCancel();
    }
    if (quorum_ctx_ != nullptr) {
      quorum_ctx_->TryCancel();
    }
    if (join_ctx_ != nullptr) {
      join_ctx_->TryCancel();
    }
  }
  for (std::thread* t : {&session_thread_, &sender_thread_, &quorum_thread_}) {
    if (t->joinable()) {
      t->join();
    }
  }
}

void GroupLink::Multicast(uint64_t generation, std::string payload) {
  absl::MutexLock lock(&mu_);
  outbox_.emplace_back(generation, std::move(payload));
}

void GroupLink::Post(std::function<void()> fn) {
  loop_.Post([fn = std::move(fn)] { fn(); });
}

bool GroupLink::Nap(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), d);
  return !stopping_;
}

void GroupLink::SessionThread() {
  absl::Duration backoff = options_.min_backoff;
  uint64_t generation = 0;
  std::string last_why;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        return;
      }
    }
    ++generation;
    auto [why, joined] = RunSession(generation);
    {
      absl::MutexLock lock(&mu_);
      live_generation_ = 0;
      live_session_id_ = 0;
    }
    Post([this, generation, why] { handlers_.lost(generation, why); });
    if (joined) {
      HA_LOG_WARN(options_.log_subsystem.c_str(),
                  "Left group %s; reconnecting to membershipd | reason=%s",
                  options_.group,
                  why);
      backoff = options_.min_backoff;
    } else if (why != last_why) {
      HA_LOG_NOTICE(options_.log_subsystem.c_str(),
                    "Cannot join group %s yet; retrying | reason=%s",
                    options_.group,
                    why);
    }
    last_why = why;
    if (!Nap(backoff)) {
      return;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

std::pair<std::string, bool> GroupLink::RunSession(uint64_t generation) {
  grpc::ClientContext ctx;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return {"stopping", false};
    }
    session_ctx_ = &ctx;
  }
  struct Clear {
    GroupLink* link;
    ~Clear() {
      absl::MutexLock lock(&link->mu_);
      link->session_ctx_ = nullptr;
    }
  } clear{this};

  mv1::SubscribeRequest request;
  request.set_client_name(options_.client_name);
  std::unique_ptr<grpc::ClientReader<mv1::GroupEvent>> reader = groups_->Subscribe(&ctx, request);
  mv1::GroupEvent event;
  if (!reader->Read(&event) || !event.has_session_started()) {
    grpc::Status s = reader->Finish();
    return {absl::StrCat("membershipd: ", s.ok() ? "no session" : s.error_message()), false};
  }
  const mv1::SessionStarted started = event.session_started();
  {
    mv1::JoinGroupRequest join;
    join.set_session_id(started.session_id());
    join.set_group(options_.group);
    mv1::JoinGroupResponse response;
    auto join_ctx = ContextWithDeadline(kJoinDeadline);
    {
      absl::MutexLock lock(&mu_);
      join_ctx_ = join_ctx.get();
      if (stopping_) {
        join_ctx->TryCancel();
      }
    }
    grpc::Status s = groups_->JoinGroup(join_ctx.get(), join, &response);
    {
      absl::MutexLock lock(&mu_);
      join_ctx_ = nullptr;
    }
    if (!s.ok()) {
      ctx.TryCancel();
      reader->Finish();
      return {absl::StrCat("JoinGroup: ", s.error_message()), false};
    }
  }
  {
    absl::MutexLock lock(&mu_);
    live_generation_ = generation;
    live_session_id_ = started.session_id();
    outbox_.clear();  // anything older was for an ended session
  }
  const uint32_t node_id = started.local_node_id();
  const uint32_t pid = started.pid();
  HA_LOG_NOTICE(options_.log_subsystem.c_str(),
                "Joined group %s | node=%u pid=%u",
                options_.group,
                node_id,
                pid);
  Post([this, generation, node_id, pid] { handlers_.joined(generation, node_id, pid); });
  while (reader->Read(&event)) {
    if (event.has_change() && event.change().group() == options_.group) {
      Post([this, generation, change = event.change()] { handlers_.change(generation, change); });
    } else if (event.has_ring_change()) {
      if (handlers_.ring)
        Post([this, generation, ring = event.ring_change()] { handlers_.ring(generation, ring); });
    } else if (event.has_message() && event.message().group() == options_.group) {
      Post([this, generation, message = event.message()] {
        handlers_.message(
            generation, message.sender_node_id(), message.sender_pid(), message.payload());
      });
    }
  }
  grpc::Status s = reader->Finish();
  return {absl::StrCat("the group stream ended: ", s.ok() ? "ok" : s.error_message()), true};
}

void GroupLink::SenderThread() {
  while (true) {
    std::pair<uint64_t, std::string> item;
    uint64_t session = 0;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !outbox_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) {
        return;
      }
      item = std::move(outbox_.front());
      outbox_.pop_front();
      if (item.first != live_generation_) {
        continue;  // for a session that ended
      }
      session = live_session_id_;
    }
    mv1::MulticastRequest request;
    request.set_session_id(session);
    request.set_group(options_.group);
    request.set_payload(std::move(item.second));
    request.set_ordering(mv1::AGREED);
    while (true) {
      mv1::MulticastResponse response;
      auto ctx = ContextWithDeadline(kMulticastDeadline);
      grpc::Status s = groups_->Multicast(ctx.get(), request, &response);
      if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && Nap(absl::Milliseconds(2))) {
        continue;  // the send queue is full: retry
      }
      if (!s.ok()) {
        HA_LOG_WARN(options_.log_subsystem.c_str(),
                    "A multicast to the group failed | bytes=%d error=%s",
                    request.payload().size(),
                    s.error_message());
      }
      break;
    }
  }
}

void GroupLink::QuorumThread() {
  absl::Duration backoff = options_.min_backoff;
  while (true) {
    grpc::ClientContext ctx;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        return;
      }
      quorum_ctx_ = &ctx;
    }
    std::unique_ptr<grpc::ClientReader<mv1::QuorumEvent>> reader =
        quorum_->WatchQuorum(&ctx, mv1::WatchQuorumRequest());
    mv1::QuorumEvent event;
    bool got = false;
    while (reader->Read(&event)) {
      got = true;
      const bool quorate = event.state().quorate() || event.state().provider().empty();
      Post([this, quorate] { handlers_.quorum(quorate); });
    }
    reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      quorum_ctx_ = nullptr;
    }
    Post([this] { handlers_.quorum(false); });
    if (got) {
      backoff = options_.min_backoff;
    }
    if (!Nap(backoff)) {
      return;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace ha
