// Server-streaming RPCs fed from the loop: each open stream has a bounded queue; the loop
// publishes into every queue, the stream's gRPC thread writes from it. A stream whose client does
// not keep up (queue full) ends with RESOURCE_EXHAUSTED instead of growing without bound; Close()
// ends every stream with UNAVAILABLE (the daemon stops).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/sync_stream.h"

namespace ha {

template <typename T>
class StreamHub {
 public:
  // Which published items a stream wants; empty: all.
  using Filter = std::function<bool(const T&)>;

  StreamHub(size_t queue_limit, std::string what)
      : queue_limit_(queue_limit), what_(std::move(what)) {}

  // Queues `item` for every open stream that wants it. Thread-safe.
  void Publish(const T& item) {
    absl::MutexLock lock(&mu_);
    for (const auto& sub : subscribers_) {
      if (sub->filter && !sub->filter(item)) {
        continue;
      }
      absl::MutexLock sub_lock(&sub->mu);
      if (sub->overflowed || sub->closed) {
        continue;
      }
      if (sub->queue.size() >= queue_limit_) {
        sub->overflowed = true;
        sub->queue.clear();
      } else {
        sub->queue.push_back(item);
      }
      sub->cv.Signal();
    }
  }

  // Ends every stream with UNAVAILABLE and refuses new ones. Thread-safe.
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (const auto& sub : subscribers_) {
      absl::MutexLock sub_lock(&sub->mu);
      sub->closed = true;
      sub->cv.SignalAll();
    }
  }

  struct Subscriber;

  // Opens a stream's queue, with `first` queued ahead of anything published later; nullptr once
  // closed. To send a snapshot without missing a change, subscribe on the thread that publishes
  // (the loop). Thread-safe.
  std::shared_ptr<Subscriber> Subscribe(Filter filter, std::optional<T> first = std::nullopt) {
    auto sub = std::make_shared<Subscriber>();
    sub->filter = std::move(filter);
    absl::MutexLock lock(&mu_);
    if (closed_) {
      return nullptr;
    }
    if (first) {
      absl::MutexLock sub_lock(&sub->mu);
      sub->queue.push_back(*std::move(first));
    }
    subscribers_.insert(sub);
    return sub;
  }

  // The body of a streaming handler: writes what `sub` receives until the client goes, the hub
  // closes or the client falls behind. Returns the status the handler returns.
  grpc::Status Serve(grpc::ServerContext* ctx, grpc::ServerWriter<T>* writer, Filter filter) {
    return Serve(ctx, writer, Subscribe(std::move(filter)));
  }
  grpc::Status Serve(grpc::ServerContext* ctx,
                     grpc::ServerWriter<T>* writer,
                     std::shared_ptr<Subscriber> sub) {
    if (sub == nullptr) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the daemon is stopping");
    }
    grpc::Status status = grpc::Status::OK;
    while (true) {
      std::optional<T> next;
      {
        absl::MutexLock lock(&sub->mu);
        if (sub->queue.empty() && !sub->overflowed && !sub->closed) {
          sub->cv.WaitWithTimeout(&sub->mu, absl::Milliseconds(100));
        }
        if (sub->overflowed) {
          status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                absl::StrCat("more than ",
                                             queue_limit_,
                                             " ",
                                             what_,
                                             " waiting for this stream; read the state again "
                                             "and open a new stream"));
          break;
        }
        if (!sub->queue.empty()) {
          next = std::move(sub->queue.front());
          sub->queue.pop_front();
        } else if (sub->closed) {
          status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the daemon is stopping");
          break;
        }
      }
      if (ctx->IsCancelled()) {
        status = grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled");
        break;
      }
      if (next.has_value() && !writer->Write(*next)) {
        break;  // the client is gone
      }
    }
    absl::MutexLock lock(&mu_);
    subscribers_.erase(sub);
    return status;
  }

 public:
  struct Subscriber {
    Filter filter;
    absl::Mutex mu;
    absl::CondVar cv;
    std::deque<T> queue ABSL_GUARDED_BY(mu);
    bool overflowed ABSL_GUARDED_BY(mu) = false;
    bool closed ABSL_GUARDED_BY(mu) = false;
  };

 private:
  const size_t queue_limit_;
  const std::string what_;
  absl::Mutex mu_;
  std::set<std::shared_ptr<Subscriber>> subscribers_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ha
