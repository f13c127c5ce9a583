// EventLoop on libqb's qb_loop. qb_loop is single-threaded, so Post() from other threads goes
// through a mutex-guarded queue and an eventfd that the loop polls.
#include <qb/qbloop.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/event_loop.h"

namespace ha {
namespace {

class QbEventLoop final : public EventLoop {
 public:
  QbEventLoop(qb_loop_t* loop, int wake_fd) : loop_(loop), wake_fd_(wake_fd) {}

  ~QbEventLoop() override {
    for (auto& [id, timer] : timers_) {
      qb_loop_timer_del(loop_, timer->handle);
    }
    for (auto& [signo, handler] : signals_) {
      qb_loop_signal_del(loop_, handler->handle);
    }
    for (auto& [fd, watch] : watches_) {
      qb_loop_poll_del(loop_, fd);
    }
    qb_loop_poll_del(loop_, wake_fd_);
    qb_loop_destroy(loop_);
    close(wake_fd_);
  }

  absl::Status InitWakeup() {
    int rc = qb_loop_poll_add(loop_, QB_LOOP_HIGH, wake_fd_, POLLIN, this, &QbEventLoop::OnWake);
    if (rc != 0) {
      return absl::InternalError(absl::StrCat("qb_loop_poll_add(eventfd): ", strerror(-rc)));
    }
    return absl::OkStatus();
  }

  TimerId AddTimer(absl::Duration after, Callback cb) override {
    TimerId id = next_timer_id_++;
    auto timer = std::make_unique<Timer>();
    timer->loop = this;
    timer->id = id;
    timer->cb = std::move(cb);
    uint64_t ns = after <= absl::ZeroDuration() ? 0 : absl::ToInt64Nanoseconds(after);
    Timer* raw = timer.get();
    timers_[id] = std::move(timer);
    int rc = qb_loop_timer_add(loop_, QB_LOOP_MED, ns, raw, &QbEventLoop::OnTimer, &raw->handle);
    if (rc != 0) {
      // qb only fails here on memory exhaustion; run the callback soon rather than never.
      Callback pending = std::move(raw->cb);
      timers_.erase(id);
      Post(std::move(pending));
      return id;
    }
    return id;
  }

  void CancelTimer(TimerId id) override {
    auto it = timers_.find(id);
    if (it == timers_.end()) {
      return;
    }
    qb_loop_timer_del(loop_, it->second->handle);
    timers_.erase(it);
  }

  absl::Status WatchReadable(int fd, absl::AnyInvocable<void()> on_readable) override {
    auto watch = std::make_unique<Watch>();
    watch->cb = std::move(on_readable);
    int rc = qb_loop_poll_add(loop_, QB_LOOP_MED, fd, POLLIN, watch.get(), &QbEventLoop::OnPoll);
    if (rc != 0) {
      return absl::InternalError(absl::StrCat("cannot watch fd ", fd, ": ", strerror(-rc)));
    }
    watches_[fd] = std::move(watch);
    return absl::OkStatus();
  }

  void Unwatch(int fd) override {
    auto it = watches_.find(fd);
    if (it == watches_.end()) {
      return;
    }
    qb_loop_poll_del(loop_, fd);
    // The callback may be running now (it may call Unwatch on itself): free it later.
    retired_watches_.push_back(std::move(it->second));
    watches_.erase(it);
    Post([this] { retired_watches_.clear(); });
  }

  absl::Status OnSignal(int signo, absl::AnyInvocable<void()> cb) override {
    auto handler = std::make_unique<SignalHandler>();
    handler->cb = std::move(cb);
    int rc = qb_loop_signal_add(
        loop_, QB_LOOP_HIGH, signo, handler.get(), &QbEventLoop::OnSignalFired, &handler->handle);
    if (rc != 0) {
      return absl::InternalError(absl::StrCat("cannot handle signal ", signo, ": ", strerror(-rc)));
    }
    signals_[signo] = std::move(handler);
    return absl::OkStatus();
  }

  void Post(Callback cb) override {
    {
      absl::MutexLock lock(&mu_);
      posted_.push_back(std::move(cb));
    }
    uint64_t one = 1;
    // A full eventfd counter still wakes the loop; nothing to do on EAGAIN.
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }

  void Run() override { qb_loop_run(loop_); }

  void Stop() override {
    Post([this] { qb_loop_stop(loop_); });
  }

 private:
  struct Timer {
    QbEventLoop* loop;
    TimerId id;
    qb_loop_timer_handle handle;
    Callback cb;
  };
  struct Watch {
    absl::AnyInvocable<void()> cb;
  };
  struct SignalHandler {
    qb_loop_signal_handle handle;
    absl::AnyInvocable<void()> cb;
  };

  static void OnTimer(void* data) {
    auto* timer = static_cast<Timer*>(data);
    QbEventLoop* self = timer->loop;
    auto it = self->timers_.find(timer->id);
    if (it == self->timers_.end()) {
      return;
    }
    // Take ownership first: the callback may add or cancel timers.
    std::unique_ptr<Timer> owned = std::move(it->second);
    self->timers_.erase(it);
    owned->cb();
  }

  static int32_t OnPoll(int32_t /*fd*/, int32_t /*revents*/, void* data) {
    static_cast<Watch*>(data)->cb();
    return 0;
  }

  static int32_t OnSignalFired(int32_t /*signo*/, void* data) {
    static_cast<SignalHandler*>(data)->cb();
    return 0;
  }

  static int32_t OnWake(int32_t fd, int32_t /*revents*/, void* data) {
    auto* self = static_cast<QbEventLoop*>(data);
    uint64_t count;
    ssize_t ignored = read(fd, &count, sizeof(count));
    (void)ignored;
    std::deque<Callback> batch;
    {
      absl::MutexLock lock(&self->mu_);
      batch.swap(self->posted_);
    }
    for (auto& cb : batch) {
      cb();
    }
    return 0;
  }

  qb_loop_t* loop_;
  int wake_fd_;
  TimerId next_timer_id_ = 1;
  std::map<TimerId, std::unique_ptr<Timer>> timers_;
  std::map<int, std::unique_ptr<Watch>> watches_;
  std::vector<std::unique_ptr<Watch>> retired_watches_;
  std::map<int, std::unique_ptr<SignalHandler>> signals_;
  absl::Mutex mu_;
  std::deque<Callback> posted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> CreateQbEventLoop() {
  qb_loop_t* loop = qb_loop_create();
  if (loop == nullptr) {
    return absl::InternalError("qb_loop_create failed");
  }
  int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    qb_loop_destroy(loop);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  auto result = std::make_unique<QbEventLoop>(loop, wake_fd);
  absl::Status status = result->InitWakeup();
  if (!status.ok()) {
    return status;
  }
  return result;
}

}  // namespace ha
