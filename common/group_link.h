// The membershipd provider of GroupChannel (common/group_channel.h): a daemon's link to the local
// membershipd (proto/membership.proto): one ProcessGroups session in one group, and optionally the
// Quorum service's WatchQuorum stream. Only gRPC plumbing: what the group delivers is handed to
// the loop as is, what the loop multicasts is sent in agreed order.
//
// membershipd need not be up: the link subscribes and joins with a back-off (min_backoff doubling
// to max_backoff) and starts over whenever the session's stream ends (membershipd stopped or
// restarted). Each session is a generation; events carry theirs, and multicasts for an ended
// session are dropped.
//
// Threads: one reads the session's stream, one sends multicasts, and one reads the quorum stream
// when a quorum handler is given; handlers run on the loop (posted). Start/Stop from any thread;
// Stop joins the threads.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/event_loop.h"
#include "common/group_channel.h"
#include "proto/membership.grpc.pb.h"

namespace ha {

class GroupLink final : public GroupChannel {
 public:
  using Options = GroupChannel::Options;
  using Handlers = GroupChannel::Handlers;

  GroupLink(EventLoop& loop, Options options, Handlers handlers);
  ~GroupLink() override;

  void Start() override;
  void Stop() override;
  void Multicast(uint64_t generation, std::string payload) override;

 private:
  void SessionThread();
  void SenderThread();
  void QuorumThread();
  // One session: subscribe, join, read until the stream ends. Returns why it ended, and whether
  // it had joined.
  std::pair<std::string, bool> RunSession(uint64_t generation);
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

}  // namespace ha
