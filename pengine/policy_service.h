// The PolicyEngine gRPC service (proto/pengine.proto): the scheduler behind a socket, with every
// non-dry-run input archived (input_archive.h). Stateless apart from the transition counter and
// the archive; calls run on gRPC's threads, serialized by a mutex because the archive and the
// counter are shared.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "pengine/input_archive.h"
#include "proto/pengine.grpc.pb.h"

namespace ha::pengine {

class PolicyService final : public ha::pengine::v1::PolicyEngine::Service {
 public:
  // `archive_dir`: where pe-input-N.bz2 files go; `now` gives the time for inputs that carry
  // none (injected for tests).
  PolicyService(std::string archive_dir, std::function<int64_t()> now);

  grpc::Status ComputeTransition(grpc::ServerContext* context,
                                 const ha::pengine::v1::ComputeTransitionRequest* request,
                                 ha::pengine::v1::ComputeTransitionResponse* response) override;
  grpc::Status ListSavedInputs(grpc::ServerContext* context,
                               const ha::pengine::v1::ListSavedInputsRequest* request,
                               ha::pengine::v1::ListSavedInputsResponse* response) override;

 private:
  std::function<int64_t()> now_;
  absl::Mutex mutex_;
  InputArchive archive_ ABSL_GUARDED_BY(mutex_);
  int64_t next_transition_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace ha::pengine
