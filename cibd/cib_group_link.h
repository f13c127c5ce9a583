// cibd's link to the local membershipd (proto/membership.proto): a session of ProcessGroups in
// one group ("cib"), and the Quorum service's WatchQuorum stream. Only gRPC plumbing: what the
// group delivers is handed to the loop as is (cibd/cib_replication.h turns it into CibReplica's
// inputs); what the loop multicasts is sent in order.
//
// membershipd need not be up: the link connects, subscribes and joins with a back-off (100 ms
// doubling to 2 s) and starts over whenever the session's stream ends (membershipd stopped or
// restarted). Each session is a generation; events carry theirs, and multicasts for an ended
// session are dropped.
//
// Payloads are framed: 'R' + the bytes, or 'Z' + 4 bytes (the size, big-endian) + zlib, for those
// above kCompressAbove (a whole CIB sent as a FullCopy easily exceeds membershipd's 1 MiB limit).
//
// Threads: one reads the session's stream, one sends multicasts, one reads the quorum stream;
// handlers run on the loop (posted). Start/Stop from any thread; Stop joins the threads.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cibd/cib_replica.h"
#include "common/event_loop.h"
#include "proto/membership.grpc.pb.h"

namespace ha::cib {

// The framing of payloads in the group.
inline constexpr size_t kCompressAbove = 16 * 1024;
std::string FramePayload(const std::string& payload);
absl::StatusOr<std::string> UnframePayload(const std::string& framed);

// A GroupChange's identity, the same at every member that delivers it (a stable hash of its
// ring id, members, joins and leaves), as CibReplica::OnViewChange wants it.
uint64_t ViewIdOf(const membership::v1::GroupChange& change);

class CibGroupLink {
 public:
  struct Options {
    std::string socket_path;  // <run_dir>/membershipd.sock
    std::string group = "cib";
    std::string client_name = "cibd";
    absl::Duration min_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(2);
  };
  // Each runs on the loop.
  struct Handlers {
    // A session joined the group as `self`.
    std::function<void(uint64_t generation, MemberId self)> joined;
    std::function<void(uint64_t generation, uint64_t view_id, std::vector<MemberId> members)>
        change;
    std::function<void(uint64_t generation, MemberId sender, std::string payload)> message;
    // The session ended (before or after joining).
    std::function<void(uint64_t generation, std::string why)> lost;
    // Quorum as membershipd reports it (false while it cannot be reached; true when quorum is
    // not configured).
    std::function<void(bool quorate)> quorum;
  };

  CibGroupLink(EventLoop& loop, Options options, Handlers handlers);
  ~CibGroupLink();

  void Start();
  void Stop();
  // Queues `payload` (unframed) for the session `generation`. Thread-safe.
  void Multicast(uint64_t generation, std::string payload);

 private:
  void SessionThread();
  void SenderThread();
  void QuorumThread();
  // One session: subscribe, join, read until the stream ends. Returns why it ended, and whether
  // it had joined.
  std::pair<std::string, bool> RunSession(uint64_t generation);
  void RunQuorum();
  // Sleeps up to `d` unless stopped; false when stopped.
  bool Nap(absl::Duration d);
  void Post(std::function<void()> fn);

  EventLoop& loop_;
  const Options options_;
  const Handlers handlers_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<membership::v1::ProcessGroups::Stub> groups_;
  std::unique_ptr<membership::v1::Quorum::Stub> quorum_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // The open calls, cancelled by Stop.
  grpc::ClientContext* session_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::ClientContext* quorum_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::ClientContext* join_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The joined session multicasts go to (generation 0: none).
  uint64_t live_generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t live_session_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<std::pair<uint64_t, std::string>> outbox_ ABSL_GUARDED_BY(mu_);

  std::thread session_thread_;
  std::thread sender_thread_;
  std::thread quorum_thread_;
};

}  // namespace ha::cib
