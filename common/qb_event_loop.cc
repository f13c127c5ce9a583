// EventLoop on libqb's qb_loop. qb_loop is single-threaded, so Post() from other threads goes
// through a mutex-guarded queue and an eventfd that the loop polls.
//
// Timers are not libqb's loop timers: those wake the poll up to a millisecond early (the timeout
// is the whole milliseconds left) and then spin with zero-timeout polls until due, about 1 ms of
// CPU per timer. Instead one timerfd, polled like any fd, is set for the earliest deadline.
#include <qb/qbloop.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/check.h"
#include "common/event_loop.h"

namespace ha {
namespace {

class QbEventLoop final : public EventLoop {
 public:
  QbEventLoop(qb_loop_t* loop, int wake_fd, int timer_fd)
      : loop_(loop), wake_fd_(wake_fd), timer_fd_(timer_fd) {}

  ~QbEventLoop() override {
    for (auto& [signo, handler] : signals_) {
      qb_loop_signal_del(loop_, handler->handle);
    }
    for (auto& [fd, watch] : watches_) {
      qb_loop_poll_del(loop_, fd);
    }
    qb_loop_poll_del(loop_, wake_fd_);
    qb_loop_poll_del(loop_, timer_fd_);
    qb_loop_destroy(loop_);
    close(wake_fd_);
    close(timer_fd_);
  }

  absl::Status InitWakeup() {
    int rc = qb_loop_poll_add(loop_, QB_LOOP_HIGH, wake_fd_, POLLIN, this, &QbEventLoop::OnWake);
    if (rc != 0) {
      return absl::InternalError(absl::StrCat("qb_loop_poll_add(eventfd): ", strerror(-rc)));
    }
    // QB_LOOP_MED: the priority libqb's loop timers had.
    rc = qb_loop_poll_add(loop_, QB_LOOP_MED, timer_fd_, POLLIN, this, &QbEventLoop::OnTimerFd);
    if (rc != 0) {
      return absl::InternalError(absl::StrCat("qb_loop_poll_add(timerfd): ", strerror(-rc)));
    }
    return absl::OkStatus();
  }

  TimerId AddTimer(absl::Duration after, Callback cb) override {
    TimerId id = next_timer_id_++;
    const int64_t now = MonotonicNs();
    int64_t deadline = now;
    if (after > absl::ZeroDuration()) {
      // Saturates: an infinite delay never fires rather than overflowing into the past.
      int64_t ns = absl::ToInt64Nanoseconds(after);
      deadline = ns > std::numeric_limits<int64_t>::max() - now
                     ? std::numeric_limits<int64_t>::max()
                     : now + ns;
    }
    // Keyed by (deadline, id): equal deadlines fire in the order added.
    queue_.emplace(std::make_pair(deadline, id), std::move(cb));
    deadlines_.emplace(id, deadline);
    // While firing, OnTimerFd sets the kernel timer once at the end.
    if (!firing_ && (!kernel_ || deadline < *kernel_)) {
      SetKernel(deadline);
    }
    return id;
  }

  void CancelTimer(TimerId id) override {
    auto it = deadlines_.find(id);
    if (it == deadlines_.end()) {
      return;
    }
    queue_.erase(std::make_pair(it->second, id));
    deadlines_.erase(it);
    // The kernel timer stays: an early wake-up sets it for the next deadline, which is cheaper
    // than a timerfd_settime at every cancel (most timeouts are cancelled).
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
  struct Watch {
    absl::AnyInvocable<void()> cb;
  };
  struct SignalHandler {
    qb_loop_signal_handle handle;
    absl::AnyInvocable<void()> cb;
  };

  static int64_t MonotonicNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
  }

  // Sets the timerfd to expire at `deadline` (absolute; a past one expires at once).
  void SetKernel(int64_t deadline) {
    itimerspec spec{};
    // A zero it_value would disarm it.
    deadline = std::max<int64_t>(deadline, 1);
    spec.it_value.tv_sec = deadline / 1000000000;
    spec.it_value.tv_nsec = deadline % 1000000000;
    // Fails only on a bad descriptor or value; a timer that silently never fires is worse.
    HA_CHECK(timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) == 0);
    kernel_ = deadline;
  }

  static int32_t OnTimerFd(int32_t fd, int32_t /*revents*/, void* data) {
    auto* self = static_cast<QbEventLoop*>(data);
    uint64_t expirations;
    // On EAGAIN nothing expired (a spurious wake-up): the timer is still set as kernel_ says.
    if (read(fd, &expirations, sizeof(expirations)) == sizeof(expirations)) {
      self->kernel_.reset();
    }
    self->FireDue();
    return 0;
  }

  void FireDue() {
    const int64_t now = MonotonicNs();
    // Timers added by these callbacks wait for a later wake-up, even when already due.
    const TimerId first_new = next_timer_id_;
    firing_ = true;
    while (!queue_.empty()) {
      auto it = queue_.begin();
      auto [deadline, id] = it->first;
      if (deadline > now || id >= first_new) {
        break;
      }
      // Taken out first: the callback may add or cancel timers, itself included.
      Callback cb = std::move(it->second);
      queue_.erase(it);
      deadlines_.erase(id);
      cb();
    }
    firing_ = false;
    if (!queue_.empty() && (!kernel_ || queue_.begin()->first.first < *kernel_)) {
      SetKernel(queue_.begin()->first.first);
    }
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
  int timer_fd_;  // a timerfd set for the earliest deadline (or earlier)
  TimerId next_timer_id_ = 1;
  std::map<std::pair<int64_t, TimerId>, Callback> queue_;  // by (deadline ns, id)
  std::unordered_map<TimerId, int64_t> deadlines_;         // id -> its deadline in queue_
  std::optional<int64_t> kernel_;  // when the timerfd expires; unset when not set or read
  bool firing_ = false;            // in FireDue
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
  int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd < 0) {
    int err = errno;
    close(wake_fd);
    qb_loop_destroy(loop);
    return absl::InternalError(absl::StrCat("timerfd_create: ", strerror(err)));
  }
  auto result = std::make_unique<QbEventLoop>(loop, wake_fd, timer_fd);
  absl::Status status = result->InitWakeup();
  if (!status.ok()) {
    return status;
  }
  return result;
}

}  // namespace ha
