// Fence devices and topology from the CIB: a thread polls cibd's GetVersion every `interval` and,
// when the digest changed (or after cibd was unreachable), reads the whole CIB with Query, parses
// it (fence_config.h, with the agents' meta-data through the driver) and hands the result to the
// driver on its loop.
//
// Polling rather than cibd's Subscribe stream: it needs no reconnect or resync logic when cibd
// restarts, and a change is seen within `interval`, which is enough for configuration.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/event_loop.h"
#include "stonithd/stonithd_driver.h"

namespace ha::stonithd {

class CibSource {
 public:
  // `cib_socket`: cibd's socket. REQUIRES: `loop` and `driver` outlive this object.
  CibSource(EventLoop& loop,
            StonithdDriver& driver,
            std::string cib_socket,
            absl::Duration interval = absl::Seconds(2));
  ~CibSource();  // stops and joins the thread

  void Start();
  // Asks the thread to stop (it ends at its next check). Thread-safe; idempotent (the daemon's
  // stop handler and the destructor both call it, and a Notification must be notified once).
  void Stop() {
    if (!stopping_.exchange(true)) {
      stop_.Notify();
    }
  }

 private:
  void Run();
  // One poll: whether it reached cibd.
  bool PollOnce();

  EventLoop& loop_;
  StonithdDriver& driver_;
  std::string socket_;
  absl::Duration interval_;
  absl::Notification stop_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::string digest_;  // of the CIB last applied; poller thread only
  bool reported_down_ = false;
};

}  // namespace ha::stonithd
