#include "cibd/cib_group_link.h"

#include <zlib.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_unix_client.h"
#include "common/logging.h"

namespace ha::cib {
namespace {

namespace mv1 = membership::v1;

constexpr size_t kMaxUnframed = 256u << 20;  // bigger than any CIB cibd accepts
constexpr absl::Duration kJoinDeadline = absl::Seconds(30);
constexpr absl::Duration kMulticastDeadline = absl::Seconds(5);

// FNV-1a, 64 bits: stable across processes and builds (absl::Hash is seeded per process).
class Fnv {
 public:
  void Add(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h_ = (h_ ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    }
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

void AddMembers(Fnv& f, const google::protobuf::RepeatedPtrField<mv1::GroupMember>& members) {
  f.Add(static_cast<uint64_t>(members.size()));
  for (const mv1::GroupMember& m : members) {
    f.Add(m.node_id());
    f.Add(m.pid());
    f.Add(static_cast<uint64_t>(m.reason()));
  }
}

}  // namespace

std::string FramePayload(const std::string& payload) {
  if (payload.size() <= kCompressAbove) {
    return absl::StrCat("R", payload);
  }
  uLongf size = compressBound(static_cast<uLong>(payload.size()));
  std::string out(5 + size, '\0');
  const auto n = static_cast<uint32_t>(payload.size());
  out[0] = 'Z';
  for (int i = 0; i < 4; ++i) {
    out[1 + i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
  }
  if (compress2(reinterpret_cast<Bytef*>(out.data() + 5),
                &size,
                reinterpret_cast<const Bytef*>(payload.data()),
                static_cast<uLong>(payload.size()),
                Z_BEST_SPEED) != Z_OK) {
    return absl::StrCat("R", payload);
  }
  out.resize(5 + size);
  return out;
}

absl::StatusOr<std::string> UnframePayload(const std::string& framed) {
  if (framed.empty()) {
    return absl::InvalidArgumentError("an empty payload");
  }
  if (framed[0] == 'R') {
    return framed.substr(1);
  }
  if (framed[0] != 'Z' || framed.size() < 5) {
    return absl::InvalidArgumentError("a payload with an unknown frame");
  }
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n = (n << 8) | static_cast<unsigned char>(framed[1 + i]);
  }
  if (n > kMaxUnframed) {
    return absl::InvalidArgumentError(absl::StrCat("a payload of ", n, " bytes is too big"));
  }
  std::string out(n, '\0');
  uLongf size = n;
  if (uncompress(reinterpret_cast<Bytef*>(out.data()),
                 &size,
                 reinterpret_cast<const Bytef*>(framed.data() + 5),
                 static_cast<uLong>(framed.size() - 5)) != Z_OK ||
      size != n) {
    return absl::InvalidArgumentError("a compressed payload does not decompress");
  }
  return out;
}

uint64_t ViewIdOf(const mv1::GroupChange& change) {
  Fnv f;
  f.Add(change.ring_id().rep_node_id());
  f.Add(change.ring_id().seq());
  AddMembers(f, change.members());
  AddMembers(f, change.joined());
  AddMembers(f, change.left());
  return f.value();
}

CibGroupLink::CibGroupLink(EventLoop& loop, Options options, Handlers handlers)
    : loop_(loop), options_(std::move(options)), handlers_(std::move(handlers)) {
  channel_ = ConnectUnix(options_.socket_path);
  groups_ = mv1::ProcessGroups::NewStub(channel_);
  quorum_ = mv1::Quorum::NewStub(channel_);
}

CibGroupLink::~CibGroupLink() {
  Stop();
}

void CibGroupLink::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) {
    return;
  }
  started_ = true;
  session_thread_ = std::thread([this] { SessionThread(); });
  sender_thread_ = std::thread([this] { SenderThread(); });
  quorum_thread_ = std::thread([this] { QuorumThread(); });
}

void CibGroupLink::Stop() {
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

void CibGroupLink::Multicast(uint64_t generation, std::string payload) {
  absl::MutexLock lock(&mu_);
  outbox_.emplace_back(generation, std::move(payload));
}

void CibGroupLink::Post(std::function<void()> fn) {
  loop_.Post([fn = std::move(fn)] { fn(); });
}

bool CibGroupLink::Nap(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), d);
  return !stopping_;
}

void CibGroupLink::SessionThread() {
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
      HA_LOG_WARN("cib", "Left the CIB group; reconnecting to membershipd | reason=%s", why);
      backoff = options_.min_backoff;
    } else if (why != last_why) {
      HA_LOG_NOTICE("cib", "Cannot join the CIB group yet; retrying | reason=%s", why);
    }
    last_why = why;
    if (!Nap(backoff)) {
      return;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

std::pair<std::string, bool> CibGroupLink::RunSession(uint64_t generation) {
  grpc::ClientContext ctx;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return {"stopping", false};
    }
    session_ctx_ = &ctx;
  }
  struct Clear {
    CibGroupLink* link;
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
  const MemberId self{started.local_node_id(), started.pid()};
  HA_LOG_NOTICE("cib",
                "Joined the CIB group | group=%s node=%u pid=%u",
                options_.group,
                self.node_id,
                self.pid);
  Post([this, generation, self] { handlers_.joined(generation, self); });
  while (reader->Read(&event)) {
    if (event.has_change() && event.change().group() == options_.group) {
      std::vector<MemberId> members;
      for (const mv1::GroupMember& m : event.change().members()) {
        members.push_back(MemberId{m.node_id(), m.pid()});
      }
      Post([this, generation, view = ViewIdOf(event.change()), members = std::move(members)] {
        handlers_.change(generation, view, members);
      });
    } else if (event.has_message() && event.message().group() == options_.group) {
      absl::StatusOr<std::string> payload = UnframePayload(event.message().payload());
      const MemberId sender{event.message().sender_node_id(), event.message().sender_pid()};
      if (!payload.ok()) {
        HA_LOG_WARN("cib",
                    "Dropped a group message | sender=%u:%u error=%s",
                    sender.node_id,
                    sender.pid,
                    payload.status().message());
        continue;
      }
      Post([this, generation, sender, payload = *std::move(payload)] {
        handlers_.message(generation, sender, payload);
      });
    }
  }
  grpc::Status s = reader->Finish();
  return {absl::StrCat("the group stream ended: ", s.ok() ? "ok" : s.error_message()), true};
}

void CibGroupLink::SenderThread() {
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
    request.set_payload(FramePayload(item.second));
    request.set_ordering(mv1::AGREED);
    while (true) {
      mv1::MulticastResponse response;
      auto ctx = ContextWithDeadline(kMulticastDeadline);
      grpc::Status s = groups_->Multicast(ctx.get(), request, &response);
      if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && Nap(absl::Milliseconds(2))) {
        continue;  // the send queue is full: retry
      }
      if (!s.ok()) {
        HA_LOG_WARN("cib",
                    "A multicast to the CIB group failed | bytes=%d error=%s",
                    request.payload().size(),
                    s.error_message());
      }
      break;
    }
  }
}

void CibGroupLink::QuorumThread() {
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

}  // namespace ha::cib
