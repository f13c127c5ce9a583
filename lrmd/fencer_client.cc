#include "lrmd/fencer_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>

#include "common/grpc_status.h"
#include "common/grpc_unix_client.h"
#include "common/status_macros.h"
#include "proto/stonithd.grpc.pb.h"

namespace ha::lrmd {

namespace fencerpb = ha::stonithd::v1;

GrpcFencerClient::GrpcFencerClient(EventLoop& loop, Clock& clock, std::string socket_path)
    : loop_(loop), clock_(clock), socket_path_(std::move(socket_path)) {
  thread_ = std::thread([this] { Work(); });
}

GrpcFencerClient::~GrpcFencerClient() {
  *alive_ = false;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (in_flight_ != nullptr)
      in_flight_->TryCancel();
  }
  thread_.join();
}

void GrpcFencerClient::Call(FencerCall call, Done done) {
  absl::MutexLock lock(&mu_);
  jobs_.push_back(Job{std::move(call), std::move(done)});
}

void GrpcFencerClient::Work() {
  for (;;) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](GrpcFencerClient* self)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return self->stopping_ || !self->jobs_.empty(); },
          this));
      if (stopping_)
        return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    absl::StatusOr<FencerAnswer> outcome = Make(job.call);
    loop_.Post(
        [alive = alive_, done = std::move(job.done), outcome = std::move(outcome)]() mutable {
          if (*alive)
            done(std::move(outcome));
        });
  }
}

absl::StatusOr<FencerAnswer> GrpcFencerClient::Make(const FencerCall& call) {
  // A channel per call: stonithd may have been restarted (a new socket) since the last one.
  std::unique_ptr<fencerpb::Fencer::Stub> stub =
      fencerpb::Fencer::NewStub(ConnectUnix(socket_path_));
  // The action's timeout bounds all of its RPCs together.
  const absl::Time deadline = clock_.MonotonicNow() + call.timeout;
  // Runs one RPC with a context of its own (cancelled if the client is destroyed meanwhile).
  auto rpc = [&](auto&& invoke) -> absl::Status {
    std::unique_ptr<grpc::ClientContext> ctx =
        ContextWithDeadline(std::max(deadline - clock_.MonotonicNow(), absl::Milliseconds(1)));
    {
      absl::MutexLock lock(&mu_);
      if (stopping_)
        return absl::CancelledError("lrmd is stopping");
      in_flight_ = ctx.get();
    }
    grpc::Status status = invoke(ctx.get());
    absl::MutexLock lock(&mu_);
    in_flight_ = nullptr;
    return FromGrpcStatus(status);
  };

  fencerpb::ListDevicesResponse devices;
  HA_RETURN_IF_ERROR(rpc([&](grpc::ClientContext* ctx) {
    return stub->ListDevices(ctx, fencerpb::ListDevicesRequest(), &devices);
  }));
  const fencerpb::Device* held = nullptr;
  for (const fencerpb::Device& device : devices.devices()) {
    if (device.id() == call.device_id)
      held = &device;
  }
  // A device stonithd holds from the CIB (a configured stonith resource) is the one the cluster
  // uses: stonithd refuses an API registration of its id, and there is nothing to unregister.
  const bool from_cib = held != nullptr && held->source() == fencerpb::DEVICE_FROM_CIB;
  FencerAnswer answer;
  switch (call.kind) {
    case FencerCall::kUnregister: {
      if (from_cib)
        return answer;
      fencerpb::UnregisterDeviceRequest request;
      request.set_id(call.device_id);
      fencerpb::UnregisterDeviceResponse response;
      HA_RETURN_IF_ERROR(rpc([&](grpc::ClientContext* ctx) {
        return stub->UnregisterDevice(ctx, request, &response);
      }));
      return answer;
    }
    case FencerCall::kMonitor:
      if (held == nullptr) {
        answer.registered = false;
        return answer;
      }
      break;
    case FencerCall::kStart:
      if (!from_cib) {
        fencerpb::RegisterDeviceRequest request;
        request.set_id(call.device_id);
        request.set_agent(call.agent);
        for (const auto& [name, value] : call.parameters)
          (*request.mutable_parameters())[name] = value;
        fencerpb::RegisterDeviceResponse response;
        HA_RETURN_IF_ERROR(rpc([&](grpc::ClientContext* ctx) {
          return stub->RegisterDevice(ctx, request, &response);
        }));
      }
      break;
  }
  // Pacemaker's executor asks the fencer to monitor the device (start ends with it too).
  fencerpb::MonitorDeviceRequest request;
  request.set_id(call.device_id);
  fencerpb::MonitorDeviceResponse response;
  absl::Status monitored =
      rpc([&](grpc::ClientContext* ctx) { return stub->MonitorDevice(ctx, request, &response); });
  if (absl::IsNotFound(monitored)) {  // removed meanwhile
    answer.registered = false;
    return answer;
  }
  HA_RETURN_IF_ERROR(monitored);
  answer.device_status = response.device().status();
  answer.status_reason = response.device().status_reason();
  return answer;
}

}  // namespace ha::lrmd
