// stonithd's link to the local membershipd (proto/membership.proto): a session of ProcessGroups in
// the group "stonithd". Only gRPC plumbing, the pattern of cibd/cib_group_link.h without its
// quorum stream and compression (fencing messages are small): what the group delivers is handed
// to the loop as is (the driver feeds it to FencingCluster); what the loop multicasts is sent in
// agreed order.
//
// membershipd need not be up: the link subscribes and joins with a back-off (100 ms doubling to
// 2 s) and starts over whenever the session's stream ends (membershipd stopped or restarted).
// Each session is a generation; events carry theirs, and multicasts for an ended session are
// dropped.
//
// Threads: one reads the session's stream, one sends multicasts; handlers run on the loop
// (posted). Start/Stop from any thread; Stop joins the threads.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/event_loop.h"
#include "proto/membership.grpc.pb.h"
#include "stonithd/fencing_cluster.h"

namespace ha::stonithd {

class FenceGroupLink {
 public:
  struct Options {
    std::string socket_path;  // <run_dir>/membershipd.sock
    std::string group = "stonithd";
    std::string client_name = "stonithd";
    absl::Duration min_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(2);
  };
  // Each runs on the loop.
  struct Handlers {
    std::function<void(uint64_t generation, GroupMember self)> joined;
    std::function<void(uint64_t generation, std::vector<GroupMember> members)> change;
    std::function<void(uint64_t generation, GroupMember sender, std::string payload)> message;
    // The session ended (before or after joining).
    std::function<void(uint64_t generation, std::string why)> lost;
  };

  FenceGroupLink(EventLoop& loop, Options options, Handlers handlers);
  ~FenceGroupLink();

  void Start();
  void Stop();
  // Queues `payload` for the session `generation`. Thread-safe.
  void Multicast(uint64_t generation, std::string payload);

 private:
  void SessionThread();
  void SenderThread();
  // One session: subscribe, join, read until the stream ends. Returns why it ended, and whether
  // it had joined.
  std::pair<std::string, bool> RunSession(uint64_t generation);
  bool Nap(absl::Duration d);  // false when stopped

  EventLoop& loop_;
  const Options options_;
  const Handlers handlers_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<membership::v1::ProcessGroups::Stub> groups_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* session_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::ClientContext* join_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t live_generation_ ABSL_GUARDED_BY(mu_) = 0;  // 0: none joined
  uint64_t live_session_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<std::pair<uint64_t, std::string>> outbox_ ABSL_GUARDED_BY(mu_);

  std::thread session_thread_;
  std::thread sender_thread_;
};

}  // namespace ha::stonithd
