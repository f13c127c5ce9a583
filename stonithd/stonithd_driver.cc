// The driver's core half: effects, fencing, confirmation, history, events. Devices and levels are
// in stonithd_devices.cc.
#include "stonithd/stonithd_driver.h"

#include <syslog.h>

#include <optional>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/loop_call.h"
#include "stonithd/ask_loop.h"
#include "stonithd/proto_convert.h"

namespace ha::stonithd {
namespace {

int Priority(LogLine::Level level) {
  switch (level) {
    case LogLine::kDebug:
      return LOG_DEBUG;
    case LogLine::kInfo:
      return LOG_INFO;
    case LogLine::kNotice:
      return LOG_NOTICE;
    case LogLine::kWarning:
      return LOG_WARNING;
    case LogLine::kError:
      return LOG_ERR;
    case LogLine::kCrit:
      return LOG_CRIT;
  }
  return LOG_INFO;
}

int64_t NowMillis(Clock& clock) {
  return absl::ToUnixMillis(clock.WallNow());
}

}  // namespace

StonithdDriver::StonithdDriver(EventLoop& loop,
                               Clock& clock,
                               lrmd::ProcessRunner& runner,
                               StonithdDriverOptions options)
    : loop_(loop),
      clock_(clock),
      options_(std::move(options)),
      agents_(runner, options_.paths),
      cluster_(FencingClusterOptions{.core = options_.core,
                                     .standalone = options_.standalone,
                                     .incarnation = options_.incarnation}) {}

StonithdDriver::~StonithdDriver() {
  Stop();
  if (monitor_tick_) {
    loop_.CancelTimer(*monitor_tick_);
  }
  for (auto& [key, timer] : timers_) {
    loop_.CancelTimer(timer);
  }
}

void StonithdDriver::Stop() {
  watchers_.Close();
}

std::string StonithdDriver::NewOperationId() {
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng();
  uint64_t b = rng();
  // A version 4 UUID.
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x",
                         a >> 32,
                         (a >> 16) & 0xffff,
                         a & 0xfff,
                         ((b >> 48) & 0x3fff) | 0x8000,
                         b & 0xffffffffffffULL);
}

// ---- Effects ----

void StonithdDriver::Feed(ClusterEvent event) {
  pump_.Feed(std::move(event));
}

// ---- The stonithd group ----

void StonithdDriver::OnGroupJoined(uint64_t generation, GroupMember self) {
  generation_ = generation;
  Feed(GroupJoined{self});
  ReportStatus();
}

void StonithdDriver::OnGroupChange(uint64_t generation, std::vector<GroupMember> members) {
  if (generation != generation_) {
    return;
  }
  Feed(GroupView{std::move(members)});
  ReportStatus();
}

void StonithdDriver::OnGroupMessage(uint64_t generation, GroupMember sender, std::string payload) {
  if (generation != generation_) {
    return;
  }
  Feed(GroupDelivered{sender, std::move(payload)});
  ReportStatus();  // a member refused as fenced changes the count
}

void StonithdDriver::OnGroupLost(uint64_t generation, std::string why) {
  if (generation != generation_) {
    return;  // a session that never joined
  }
  Feed(GroupLost{std::move(why)});
  generation_ = 0;
  ReportStatus();
}

void StonithdDriver::OnQuorum(bool quorate) {
  HA_LOG_INFO("fencing", "this partition %s quorum", quorate ? "has" : "does not have");
  cluster_.SetQuorate(quorate);
}

void StonithdDriver::ReportStatus() {
  std::string status =
      cluster_.fenced_self() ? "this node was fenced: stopping its stack"
      : cluster_.joined()
          ? absl::StrCat("in the stonithd group, ", cluster_.members(), " member(s)")
          : "waiting for the stonithd group (membershipd)";
  if (status != last_status_ && on_status_) {
    last_status_ = status;
    on_status_(status);
  }
}

void StonithdDriver::Apply(const Effect& effect) {
  if (const auto* run = std::get_if<RunAgent>(&effect)) {
    RunAgentNow(*run);
  } else if (const auto* cancel = std::get_if<CancelRun>(&effect)) {
    if (auto it = runs_.find(cancel->run_id); it != runs_.end()) {
      if (absl::Status s = agents_.Cancel(it->second); !s.ok()) {
        HA_LOG_DEBUG("fencing", "cancel of run %d: %s", cancel->run_id, s.ToString());
      }
    }
  } else if (const auto* arm = std::get_if<ArmTimer>(&effect)) {
    TimerKey key = arm->key;
    if (auto it = timers_.find(key); it != timers_.end()) {
      loop_.CancelTimer(it->second);
    }
    timers_[key] = loop_.AddTimer(arm->after, [this, key] {
      timers_.erase(key);
      Feed(TimerFired{key});
    });
  } else if (const auto* cancel_timer = std::get_if<CancelTimer>(&effect)) {
    if (auto it = timers_.find(cancel_timer->key); it != timers_.end()) {
      loop_.CancelTimer(it->second);
      timers_.erase(it);
    }
  } else if (const auto* changed = std::get_if<OperationChanged>(&effect)) {
    const FenceRecord& record = changed->record;
    PublishOperation(record);
    if (auto it = waiters_.find(record.id);
        it != waiters_.end() && (record.state != FenceState::kPending || !it->second.final_only)) {
      RecordCallback reply = std::move(it->second.reply);
      waiters_.erase(it);
      reply(record);
    }
  } else if (const auto* checked = std::get_if<DeviceChecked>(&effect)) {
    AnswerMonitorWaiters(checked->device, checked->health);
  } else if (const auto* line = std::get_if<LogLine>(&effect)) {
    HA_LOG("fencing", Priority(line->level), "%s", line->text);
  }
}

void StonithdDriver::RunAgentNow(const RunAgent& run) {
  const int64_t run_id = run.run_id;
  absl::StatusOr<FenceAgentRunner::RunId> id =
      agents_.Run(run.device, run.action, run.target, run.timeout, [this, run_id](FenceResult r) {
        runs_.erase(run_id);
        Feed(AgentFinished{run_id, std::move(r)});
      });
  if (!id.ok()) {
    FenceResult failed;
    failed.action = run.action;
    failed.status = lrmd::ExecStatus::kError;
    failed.reason = std::string(id.status().message());
    Feed(AgentFinished{run_id, std::move(failed)});
    return;
  }
  runs_[run_id] = *id;
}

void StonithdDriver::PublishOperation(const FenceRecord& record) {
  v1::FenceEvent event;
  event.set_time_unix_ms(NowMillis(clock_));
  *event.mutable_operation() = ToProto(record);
  watchers_.Publish(event);
}

void StonithdDriver::PublishDevice(const std::string& id,
                                   bool registered,
                                   v1::DeviceSource source) {
  v1::FenceEvent event;
  event.set_time_unix_ms(NowMillis(clock_));
  event.mutable_device()->set_id(id);
  event.mutable_device()->set_registered(registered);
  event.mutable_device()->set_source(source);
  watchers_.Publish(event);
}

void StonithdDriver::PublishTopologyChanged() {
  v1::FenceEvent event;
  event.set_time_unix_ms(NowMillis(clock_));
  event.set_topology_changed(true);
  watchers_.Publish(event);
}

void StonithdDriver::AnswerMonitorWaiters(const std::string& device, const DeviceHealth& health) {
  auto it = monitor_waiters_.find(device);
  if (it == monitor_waiters_.end()) {
    return;
  }
  auto waiters = std::move(it->second);
  monitor_waiters_.erase(it);
  for (auto& waiter : waiters) {
    waiter(health);
  }
}

void StonithdDriver::EnsureMonitorTick() {
  if (monitor_tick_) {
    return;
  }
  monitor_tick_ = loop_.AddTimer(absl::Seconds(1), [this] {
    monitor_tick_.reset();
    Feed(MonitorTick{});
    EnsureMonitorTick();
  });
}

// ---- Fencing ----

grpc::Status StonithdDriver::Fence(grpc::ServerContext* ctx,
                                   const v1::FenceRequest* request,
                                   v1::FenceResponse* response) {
  if (request->target().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the target is empty");
  }
  // FENCE_ACTION_UNSPECIFIED: the cluster's stonith-action, read on the loop.
  std::optional<FenceAction> action;
  if (request->action() != v1::FENCE_ACTION_UNSPECIFIED) {
    absl::StatusOr<FenceAction> given = FromProto(request->action());
    if (!given.ok()) {
      return ToGrpcStatus(given.status());
    }
    action = *given;
  }
  RequestFence fence;
  fence.target = request->target();
  fence.origin = options_.core.local_node;
  fence.client = request->client_name().empty() ? "unknown" : request->client_name();
  fence.timeout = absl::Seconds(request->timeout_s());
  fence.tolerance = absl::Seconds(request->tolerance_s());
  fence.only_if_lost = request->only_if_lost();
  const bool final_only = !request->async();
  absl::StatusOr<absl::StatusOr<FenceRecord>> record = AskLoop<absl::StatusOr<FenceRecord>>(
      loop_, ctx, [this, fence, action, final_only](Reply<absl::StatusOr<FenceRecord>> reply) {
        RequestFence copy = fence;
        const FencingOptions& options = cluster_.cluster_options();
        copy.action =
            action.value_or(options.action == "off" ? FenceAction::kOff : FenceAction::kReboot);
        if (!options.enabled) {
          HA_LOG_WARN("fencing",
                      "refusing to %s %s: fencing is disabled (stonith-enabled=false) | client=%s",
                      FenceActionName(copy.action),
                      copy.target,
                      copy.client);
          reply(absl::FailedPreconditionError(
              absl::StrCat("fencing is disabled in this cluster (stonith-enabled=false): not ",
                           copy.action == FenceAction::kOn ? "unfencing " : "fencing ",
                           copy.target)));
          return;
        }
        copy.id = NewOperationId();
        waiters_[copy.id] = Waiter{[reply](const FenceRecord& r) { reply(r); }, final_only};
        Feed(LocalFence{std::move(copy)});
      });
  if (!record.ok()) {
    return ToGrpcStatus(record.status());
  }
  if (!record->ok()) {
    return ToGrpcStatus(record->status());
  }
  *response->mutable_operation() = ToProto(**record);
  return grpc::Status::OK;
}

grpc::Status StonithdDriver::ConfirmFenced(grpc::ServerContext* ctx,
                                           const v1::ConfirmFencedRequest* request,
                                           v1::ConfirmFencedResponse* response) {
  if (request->target().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the target is empty");
  }
  stonithd::ConfirmFenced confirm;
  confirm.target = request->target();
  confirm.origin = options_.core.local_node;
  confirm.client = request->client_name().empty() ? "unknown" : request->client_name();
  absl::StatusOr<FenceRecord> record =
      AskLoop<FenceRecord>(loop_, ctx, [this, confirm](Reply<FenceRecord> reply) {
        stonithd::ConfirmFenced copy = confirm;
        copy.id = NewOperationId();
        waiters_[copy.id] = Waiter{std::move(reply), true};
        Feed(LocalConfirm{std::move(copy)});
      });
  if (!record.ok()) {
    return ToGrpcStatus(record.status());
  }
  *response->mutable_operation() = ToProto(*record);
  return grpc::Status::OK;
}

grpc::Status StonithdDriver::GetHistory(grpc::ServerContext* ctx,
                                        const v1::GetHistoryRequest* request,
                                        v1::GetHistoryResponse* response) {
  absl::StatusOr<v1::GetHistoryResponse> answer = RunOnLoop(
      loop_, ctx, [this, target = request->target(), last = request->last_success_only()] {
        v1::GetHistoryResponse out;
        std::set<std::string> seen;  // targets whose last success is in `out`
        for (const FenceRecord& record : cluster_.History(target)) {
          if (last) {
            if (record.state != FenceState::kDone || !seen.insert(record.target).second) {
              continue;
            }
          }
          *out.add_operations() = ToProto(record);
        }
        return out;
      });
  if (!answer.ok()) {
    return ToGrpcStatus(answer.status());
  }
  *response = *std::move(answer);
  return grpc::Status::OK;
}

grpc::Status StonithdDriver::WatchEvents(grpc::ServerContext* ctx,
                                         const v1::WatchEventsRequest*,
                                         grpc::ServerWriter<v1::FenceEvent>* writer) {
  return watchers_.Serve(ctx, writer, StreamHub<v1::FenceEvent>::Filter());
}

}  // namespace ha::stonithd
