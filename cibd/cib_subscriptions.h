// The Subscribe streams of the Cib API: each applied change goes to every subscriber as a
// patchset (filtered by the subscriber's ACLs and scopes), in order, through a bounded queue per
// subscriber. A subscriber that falls behind is never waited for: its queue is dropped and
// replaced by a re-sync marker (RESYNC_OVERFLOW, with the CIB when it asked for initial_cib),
// and the changes after it follow. A whole-CIB replacement is sent as RESYNC_REPLACED.
//
// Threading: Open, Publish and Close run on the loop thread (the one that applies changes, so
// an initial CIB and the patchsets after it never miss or repeat a change); Serve runs on the
// stream's gRPC thread.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cibd/cib_caller.h"
#include "cibd/cib_core.h"
#include "cibd/cib_document.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/sync_stream.h"
#include "proto/cib.pb.h"

namespace ha::cib {

// The sections a v2 patchset touches ("configuration", "resources", "status", ...).
std::set<std::string> TouchedSections(const std::string& diff_xml);

class CibSubscriptions {
 public:
  explicit CibSubscriptions(size_t queue_limit = 1000) : queue_limit_(queue_limit) {}

  struct Subscriber {
    Requester who;
    bool initial_cib = false;
    std::set<std::string> scopes;  // empty: all
    absl::Mutex mu;
    absl::CondVar cv;
    std::deque<v1::CibChange> queue ABSL_GUARDED_BY(mu);
    bool closed ABSL_GUARDED_BY(mu) = false;
    uint64_t overflows ABSL_GUARDED_BY(mu) = 0;
  };

  // Opens a subscription on `doc` (the current copy); with initial_cib its first item is a
  // RESYNC_INITIAL with `doc` as `who` may read it. Unavailable once closed; PERMISSION_DENIED
  // when `who` may read nothing and asked for the CIB. Loop thread.
  absl::StatusOr<std::shared_ptr<Subscriber>> Open(const CibDocument& doc,
                                                   const Requester& who,
                                                   const v1::SubscribeRequest& request);

  // Queues the change `before` -> `after` for every subscriber. Loop thread.
  void Publish(const CibDocument& before, const CibDocument& after, const ChangeInfo& info);

  // Ends every stream with UNAVAILABLE and refuses new ones. Thread-safe.
  void Close();

  // Writes what `sub` receives until the client goes or the subscriptions close. The body of the
  // streaming handler.
  grpc::Status Serve(grpc::ServerContext* ctx,
                     grpc::ServerWriter<v1::CibChange>* writer,
                     std::shared_ptr<Subscriber> sub);

  size_t size() const;

 private:
  void Enqueue(Subscriber& sub, v1::CibChange change, const CibDocument& after);

  const size_t queue_limit_;
  mutable absl::Mutex mu_;
  std::set<std::shared_ptr<Subscriber>> subscribers_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ha::cib
