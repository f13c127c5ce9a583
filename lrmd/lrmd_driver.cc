#include "lrmd/lrmd_driver.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/loop_call.h"
#include "google/protobuf/util/message_differencer.h"
#include "lrmd/agent_metadata.h"
#include "lrmd/proto_convert.h"
#include "stonithd/agent_type.h"

namespace ha::lrmd {
namespace {

constexpr uint32_t kMetadataTimeoutMs = 30000;

bool IsExecutable(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && access(path.c_str(), X_OK) == 0;
}

// The sorted names of the entries of `dir` that are directories (`dirs`) or executable files.
std::vector<std::string> ListDir(const std::filesystem::path& dir, bool dirs) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code ec2;
    bool match = dirs ? entry.is_directory(ec2) : IsExecutable(entry.path());
    std::string name = entry.path().filename().string();
    if (match && !name.starts_with(".")) {
      names.push_back(std::move(name));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The service units found in `dirs` (names without ".service"), as systemd would load them:
// templates ("name@.service") and masked units (linked to /dev/null) are left out.
std::set<std::string> ListServiceUnits(const std::vector<std::string>& dirs) {
  constexpr absl::string_view kSuffix = ".service";
  std::set<std::string> units;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      if (!absl::EndsWith(name, kSuffix) || name.size() == kSuffix.size() || name[0] == '.')
        continue;
      std::string unit = name.substr(0, name.size() - kSuffix.size());
      if (unit.back() == '@')
        continue;
      std::error_code ec2;
      if (entry.is_symlink(ec2) && std::filesystem::read_symlink(entry.path(), ec2) == "/dev/null")
        continue;
      if (!entry.is_regular_file(ec2))  // follows links: units linked from elsewhere count
        continue;
      units.insert(std::move(unit));
    }
  }
  return units;
}

}  // namespace

LrmdDriver::LrmdDriver(EventLoop& loop,
                       Clock& clock,
                       ProcessRunner& runner,
                       LrmdDriverOptions options,
                       std::unique_ptr<FencerClient> fencer)
    : loop_(loop),
      clock_(clock),
      runner_(runner),
      options_(std::move(options)),
      core_(options_.executor),
      fencer_(std::move(fencer)) {
  if (fencer_ == nullptr && !options_.fencer_socket.empty())
    fencer_ = std::make_unique<GrpcFencerClient>(loop_, clock_, options_.fencer_socket);
}

LrmdDriver::~LrmdDriver() {
  fencer_.reset();
  Stop();
  for (auto& [call_id, timer] : timers_) {
    loop_.CancelTimer(timer);
  }
}

void LrmdDriver::Stop() {
  watchers_.Close();
}

// ---- Effects ----

void LrmdDriver::Feed(Event event) {
  pump_.Feed(std::move(event));
}

void LrmdDriver::Apply(const Effect& effect) {
  if (const auto* assigned = std::get_if<CallAssigned>(&effect)) {
    last_assigned_ = assigned->call_id;
    if (assigning_info_.has_value()) {
      calls_[assigned->call_id] = *assigning_info_;
    }
    if (assigning_ != nullptr) {
      sync_[assigned->call_id] = assigning_;
    }
  } else if (const auto* run = std::get_if<RunAgent>(&effect)) {
    RunAgentNow(*run);
  } else if (const auto* cancel = std::get_if<CancelRun>(&effect)) {
    if (fencer_runs_.contains(cancel->run_id)) {
      fencer_cancelled_.insert(cancel->run_id);  // reported when the fencer answers
    } else if (auto it = runs_.find(cancel->run_id); it != runs_.end()) {
      if (absl::Status s = runner_.Cancel(it->second); !s.ok()) {
        HA_LOG_DEBUG("lrmd", "cancel of run %d: %s", cancel->run_id, s.ToString());
      }
    }
  } else if (const auto* arm = std::get_if<ArmTimer>(&effect)) {
    TimerKey key = arm->key;
    if (auto it = timers_.find(key.call_id); it != timers_.end()) {
      loop_.CancelTimer(it->second);
    }
    timers_[key.call_id] = loop_.AddTimer(arm->after, [this, key] {
      timers_.erase(key.call_id);
      Feed(TimerFired{key});
    });
  } else if (const auto* cancel_timer = std::get_if<CancelTimer>(&effect)) {
    if (auto it = timers_.find(cancel_timer->key.call_id); it != timers_.end()) {
      loop_.CancelTimer(it->second);
      timers_.erase(it);
    }
  } else if (const auto* report = std::get_if<Report>(&effect)) {
    const ActionResult& result = report->result;
    if (auto it = sync_.find(result.call_id); it != sync_.end()) {
      std::shared_ptr<SyncWaiter> waiter = std::move(it->second);
      sync_.erase(it);
      waiter->result.set_value(result);
      if (waiter->forget_resource) {
        Feed(lrmd::UnregisterResource{result.resource_id});
        agents_.erase(result.resource_id);
      }
    }
    Publish(result);
    if (result.interval == absl::ZeroDuration() || result.status == ExecStatus::kCancelled) {
      calls_.erase(result.call_id);
    }
  } else if (const auto* msg = std::get_if<LogMessage>(&effect)) {
    HA_LOG("lrmd", msg->priority, "%s", msg->text);
  }
}

void LrmdDriver::RunAgentNow(const RunAgent& run) {
  const int64_t run_id = run.run_id;
  if (run.request.resource.agent_class == AgentClass::kStonith) {
    if (std::optional<FencerCall> call = FencerCallFor(run.request)) {
      RunFencerCall(run_id, *std::move(call));
      return;
    }
  }
  absl::StatusOr<AgentCommand> cmd = BuildAgentCommand(run.request, options_.paths);
  if (!cmd.ok()) {
    AgentFinished finished;
    finished.run_id = run_id;
    if (absl::IsNotFound(cmd.status())) {
      finished.status = ExecStatus::kNotInstalled;
      finished.exit_code = OcfExitCode::kErrInstalled;
    } else if (absl::IsUnimplemented(cmd.status())) {
      finished.status = ExecStatus::kNotSupported;
      finished.exit_code = OcfExitCode::kErrUnimplemented;
    } else {
      finished.status = ExecStatus::kError;
      finished.exit_code = OcfExitCode::kErrGeneric;
    }
    finished.raw_exit_code = -1;
    finished.exit_reason = std::string(cmd.status().message());
    finished.started = clock_.WallNow();
    Feed(std::move(finished));
    return;
  }
  StartRun(run_id, run.request, *std::move(cmd));
}

void LrmdDriver::StartRun(int64_t run_id, const ActionRequest& request, AgentCommand cmd) {
  AgentCommand copy = cmd;
  ProcessRunner::RunId id = runner_.Run(
      std::move(cmd),
      request.timeout,
      [this, run_id, request, copy = std::move(copy)](ProcessOutcome outcome) mutable {
        runs_.erase(run_id);
        if (copy.run_as.has_value() && outcome.kind == ProcessOutcome::kNotInstalled &&
            outcome.exec_errno == EACCES) {
          // Degraded: the cluster user cannot reach the agent (a folder on its path is closed
          // to it, as test folders made by mktemp are). Run it as lrmd's user rather than fail.
          if (unreachable_warned_.insert(copy.path).second)
            HA_LOG_WARN("lrmd",
                        "%s cannot be run as user %s (%s): running its %s as lrmd's user",
                        copy.path,
                        copy.run_as->name,
                        outcome.error,
                        copy.action);
          ++privileged_fallbacks_;
          copy.run_as.reset();
          StartRun(run_id, request, std::move(copy));
          return;
        }
        ActionResult r = MakeActionResult(request, copy, outcome);
        AgentFinished finished;
        finished.run_id = run_id;
        finished.status = r.status;
        finished.exit_code = r.exit_code;
        finished.raw_exit_code = r.raw_exit_code;
        finished.exit_reason = std::move(r.exit_reason);
        finished.stdout_tail = std::move(r.stdout_tail);
        finished.stderr_tail = std::move(r.stderr_tail);
        finished.started = r.started;
        finished.duration = r.duration;
        Feed(std::move(finished));
      });
  runs_[run_id] = id;
}

void LrmdDriver::RunFencerCall(int64_t run_id, FencerCall call) {
  const absl::Time started = clock_.WallNow();
  const absl::Time begun = clock_.MonotonicNow();
  auto finish = [this, run_id, started, begun](
                    ExecStatus status, OcfExitCode code, std::string reason) {
    AgentFinished finished;
    finished.run_id = run_id;
    finished.status = status;
    finished.exit_code = code;
    finished.raw_exit_code = -1;
    finished.exit_reason = std::move(reason);
    finished.started = started;
    finished.duration = clock_.MonotonicNow() - begun;
    Feed(std::move(finished));
  };
  if (fencer_ == nullptr) {
    finish(ExecStatus::kNotConnected,
           OcfExitCode::kErrGeneric,
           "lrmd has no fencer (stonithd) socket configured");
    return;
  }
  fencer_runs_.insert(run_id);
  FencerCall made = call;
  fencer_->Call(
      std::move(call),
      [this, run_id, made = std::move(made), finish](absl::StatusOr<FencerAnswer> outcome) mutable {
        fencer_runs_.erase(run_id);
        if (fencer_cancelled_.erase(run_id) > 0) {
          finish(ExecStatus::kCancelled, OcfExitCode::kErrGeneric, "");
          return;
        }
        FencerResult result = MapFencerOutcome(made, outcome);
        finish(result.status, result.exit_code, std::move(result.reason));
      });
}

void LrmdDriver::Publish(const ActionResult& result) {
  CallInfo info;
  if (auto it = calls_.find(result.call_id); it != calls_.end()) {
    info = it->second;
  }
  watchers_.Publish(ToProto(result, info.agent, info.user_data));
}

// ---- Exec ----

absl::StatusOr<int64_t> LrmdDriver::ExecOnLoop(const ActionRequest& request,
                                               const v1::ExecRequest& proto,
                                               std::shared_ptr<SyncWaiter> waiter) {
  const std::string& id = request.resource.id;
  if (auto it = agents_.find(id);
      it != agents_.end() &&
      !google::protobuf::util::MessageDifferencer::Equals(it->second, proto.agent())) {
    for (const OpView& op : core_.Operations()) {
      if (op.resource_id == id) {
        return absl::FailedPreconditionError(absl::StrCat("resource ",
                                                          id,
                                                          " has active operations with agent ",
                                                          it->second.resource_class(),
                                                          ":",
                                                          it->second.provider(),
                                                          ":",
                                                          it->second.type()));
      }
    }
  }
  agents_[id] = proto.agent();
  assigning_ = std::move(waiter);
  assigning_info_ = CallInfo{proto.agent(), proto.user_data(), proto.timeout_ms()};
  Feed(lrmd::Exec{request});
  assigning_.reset();
  assigning_info_.reset();
  return last_assigned_;
}

absl::StatusOr<ActionResult> LrmdDriver::RunSync(grpc::ServerContext* ctx,
                                                 const ActionRequest& request,
                                                 const v1::ExecRequest& proto,
                                                 bool forget_resource) {
  auto waiter = std::make_shared<SyncWaiter>();
  waiter->forget_resource = forget_resource;
  std::future<ActionResult> result = waiter->result.get_future();
  absl::StatusOr<int64_t> call =
      RunOnLoopFlat(loop_, ctx, [this, request, proto, waiter]() -> absl::StatusOr<int64_t> {
        return ExecOnLoop(request, proto, waiter);
      });
  if (!call.ok()) {
    return call.status();
  }
  return WaitFor(ctx, result);
}

grpc::Status LrmdDriver::Exec(grpc::ServerContext* ctx,
                              const v1::ExecRequest* request,
                              v1::ExecResponse* response) {
  absl::StatusOr<ActionRequest> action = FromProto(*request);
  if (!action.ok()) {
    return ToGrpcStatus(action.status());
  }
  absl::StatusOr<int64_t> call = RunOnLoopFlat(
      loop_,
      ctx,
      [this, action = *std::move(action), proto = *request]() -> absl::StatusOr<int64_t> {
        return ExecOnLoop(action, proto, nullptr);
      });
  if (!call.ok()) {
    return ToGrpcStatus(call.status());
  }
  response->set_call_id(static_cast<uint64_t>(*call));
  return grpc::Status::OK;
}

grpc::Status LrmdDriver::ExecSync(grpc::ServerContext* ctx,
                                  const v1::ExecRequest* request,
                                  v1::ActionResult* response) {
  absl::StatusOr<ActionRequest> action = FromProto(*request);
  if (!action.ok()) {
    return ToGrpcStatus(action.status());
  }
  if (action->interval > absl::ZeroDuration()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "ExecSync runs one-shot actions only");
  }
  absl::StatusOr<ActionResult> result = RunSync(ctx, *action, *request, false);
  if (!result.ok()) {
    return ToGrpcStatus(result.status());
  }
  *response = ToProto(*result, request->agent(), request->user_data());
  return grpc::Status::OK;
}

grpc::Status LrmdDriver::Cancel(grpc::ServerContext* ctx,
                                const v1::CancelRequest* request,
                                v1::CancelResponse* response) {
  absl::StatusOr<int64_t> call =
      RunOnLoopFlat(loop_, ctx, [this, request = *request]() -> absl::StatusOr<int64_t> {
        const absl::Duration interval = absl::Milliseconds(request.interval_ms());
        for (const OpView& op : core_.Operations()) {
          if (op.resource_id == request.resource_id() && op.action == request.action() &&
              op.interval == interval) {
            Feed(lrmd::Cancel{request.resource_id(), request.action(), interval});
            return op.call_id;
          }
        }
        return absl::NotFoundError(absl::StrCat("no operation ",
                                                request.resource_id(),
                                                " ",
                                                request.action(),
                                                " every ",
                                                request.interval_ms(),
                                                "ms"));
      });
  if (!call.ok()) {
    return ToGrpcStatus(call.status());
  }
  response->set_call_id(static_cast<uint64_t>(*call));
  return grpc::Status::OK;
}

grpc::Status LrmdDriver::UnregisterResource(grpc::ServerContext* ctx,
                                            const v1::UnregisterResourceRequest* request,
                                            v1::UnregisterResourceResponse*) {
  absl::Status done =
      RunOnLoopFlat(loop_, ctx, [this, id = request->resource_id()]() -> absl::Status {
        std::vector<std::string> resources = core_.Resources();
        if (std::find(resources.begin(), resources.end(), id) == resources.end()) {
          return absl::NotFoundError(absl::StrCat("no resource ", id));
        }
        for (const OpView& op : core_.Operations()) {
          if (op.resource_id == id && op.interval == absl::ZeroDuration() &&
              (op.state == OpState::kRunning || op.state == OpState::kCancelling)) {
            return absl::FailedPreconditionError(absl::StrCat(id,
                                                              " is running ",
                                                              op.action,
                                                              " (call ",
                                                              op.call_id,
                                                              "); retry once its result is in"));
          }
        }
        Feed(lrmd::UnregisterResource{id});
        agents_.erase(id);
        return absl::OkStatus();
      });
  return ToGrpcStatus(done);
}

// ---- Queries ----

grpc::Status LrmdDriver::ListResources(grpc::ServerContext* ctx,
                                       const v1::ListResourcesRequest*,
                                       v1::ListResourcesResponse* response) {
  absl::StatusOr<v1::ListResourcesResponse> answer =
      RunOnLoopFlat(loop_, ctx, [this]() -> absl::StatusOr<v1::ListResourcesResponse> {
        std::map<std::string, v1::RegisteredResource> by_id;
        for (const std::string& id : core_.Resources()) {
          v1::RegisteredResource& r = by_id[id];
          r.set_resource_id(id);
          if (auto it = agents_.find(id); it != agents_.end()) {
            *r.mutable_agent() = it->second;
          }
        }
        for (const OpView& op : core_.Operations()) {
          auto it = by_id.find(op.resource_id);
          if (it == by_id.end()) {
            continue;
          }
          v1::RegisteredResource& r = it->second;
          if (op.interval > absl::ZeroDuration()) {
            v1::RecurringOperation* rec = r.add_recurring();
            rec->set_action(op.action);
            rec->set_interval_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(op.interval)));
            rec->set_call_id(static_cast<uint64_t>(op.call_id));
            if (auto call = calls_.find(op.call_id); call != calls_.end()) {
              rec->set_timeout_ms(call->second.timeout_ms);
            }
          } else if (op.state == OpState::kQueued) {
            r.set_queued_actions(r.queued_actions() + 1);
          } else {
            r.set_running_action(op.action);
            r.set_running_call_id(static_cast<uint64_t>(op.call_id));
          }
        }
        v1::ListResourcesResponse out;
        for (auto& [id, r] : by_id) {
          *out.add_resources() = std::move(r);
        }
        return out;
      });
  if (!answer.ok()) {
    return ToGrpcStatus(answer.status());
  }
  *response = *std::move(answer);
  return grpc::Status::OK;
}

grpc::Status LrmdDriver::GetHistory(grpc::ServerContext* ctx,
                                    const v1::GetHistoryRequest* request,
                                    v1::GetHistoryResponse* response) {
  absl::StatusOr<v1::GetHistoryResponse> answer = RunOnLoopFlat(
      loop_,
      ctx,
      [this, wanted = request->resource_id()]() -> absl::StatusOr<v1::GetHistoryResponse> {
        std::vector<std::string> ids =
            wanted.empty() ? core_.Resources() : std::vector<std::string>{wanted};
        v1::GetHistoryResponse out;
        for (const std::string& id : ids) {
          std::optional<ResourceHistory> history = core_.History(id);
          if (!history.has_value()) {
            return absl::NotFoundError(absl::StrCat("no resource ", id));
          }
          v1::AgentId agent;
          if (auto it = agents_.find(id); it != agents_.end()) {
            agent = it->second;
          }
          v1::ResourceHistory* h = out.add_resources();
          h->set_resource_id(id);
          *h->mutable_agent() = agent;
          std::vector<const ActionResult*> last;
          for (const auto& [key, result] : history->last) {
            last.push_back(&result);
          }
          std::stable_sort(
              last.begin(), last.end(), [](const ActionResult* a, const ActionResult* b) {
                return a->started < b->started;
              });
          for (const ActionResult* result : last) {
            *h->add_last_results() = ToProto(*result, agent, "");
          }
          if (history->last_failure.has_value()) {
            *h->mutable_last_failure() = ToProto(*history->last_failure, agent, "");
          }
        }
        return out;
      });
  if (!answer.ok()) {
    return ToGrpcStatus(answer.status());
  }
  *response = *std::move(answer);
  return grpc::Status::OK;
}

grpc::Status LrmdDriver::GetMetadata(grpc::ServerContext* ctx,
                                     const v1::GetMetadataRequest* request,
                                     v1::GetMetadataResponse* response) {
  static std::atomic<uint64_t> counter{0};
  const v1::AgentId& agent = request->agent();
  v1::ExecRequest exec;
  // A resource of its own, forgotten once the result is in, so that concurrent calls for one
  // agent do not wait for each other.
  exec.set_resource_id(absl::StrCat("meta-data:",
                                    agent.resource_class(),
                                    ":",
                                    agent.provider(),
                                    ":",
                                    agent.type(),
                                    ":",
                                    ++counter));
  *exec.mutable_agent() = agent;
  exec.set_action("meta-data");
  exec.set_timeout_ms(kMetadataTimeoutMs);
  exec.set_client_name("GetMetadata");
  absl::StatusOr<ActionRequest> action = FromProto(exec);
  if (!action.ok()) {
    return ToGrpcStatus(action.status());
  }
  absl::StatusOr<ActionResult> result = RunSync(ctx, *action, exec, true);
  if (!result.ok()) {
    return ToGrpcStatus(result.status());
  }
  const std::string name =
      absl::StrCat(agent.resource_class(), ":", agent.provider(), ":", agent.type());
  if (result->status == ExecStatus::kNotInstalled) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat(name, " is not installed: ", result->exit_reason));
  }
  if (result->status != ExecStatus::kDone || result->exit_code != OcfExitCode::kOk) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat(name,
                                     " meta-data failed: ",
                                     std::string(ExecStatusName(result->status)),
                                     ", ",
                                     std::string(OcfExitCodeName(result->exit_code)),
                                     ": ",
                                     result->exit_reason));
  }
  absl::StatusOr<AgentMetadata> metadata = ParseAgentMetadata(result->stdout_tail);
  if (!metadata.ok()) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat(
            name, " printed meta-data that does not parse: ", metadata.status().message()));
  }
  *response->mutable_metadata() = ToProto(*metadata, agent);
  return grpc::Status::OK;
}

// ---- Agents (read from the file system on the gRPC thread: no state of the driver) ----

grpc::Status LrmdDriver::ListClasses(grpc::ServerContext*,
                                     const v1::ListClassesRequest*,
                                     v1::ListClassesResponse* response) {
  for (const char* name : {"ocf", "lsb", "systemd", "service"}) {
    response->add_classes(name);
  }
  if (fencer_ != nullptr)
    response->add_classes("stonith");
  return grpc::Status::OK;
}

grpc::Status LrmdDriver::ListProviders(grpc::ServerContext*,
                                       const v1::ListProvidersRequest* request,
                                       v1::ListProvidersResponse* response) {
  std::filesystem::path root = std::filesystem::path(options_.paths.ocf_root) / "resource.d";
  for (const std::string& provider : ListDir(root, true)) {
    if (request->type().empty() || IsExecutable(root / provider / request->type())) {
      response->add_providers(provider);
    }
  }
  return grpc::Status::OK;
}

grpc::Status LrmdDriver::ListAgents(grpc::ServerContext*,
                                    const v1::ListAgentsRequest* request,
                                    v1::ListAgentsResponse* response) {
  const std::string& wanted = request->resource_class();
  if (!wanted.empty() && !AgentClassFromName(wanted).has_value()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("unknown resource class '", wanted, "'"));
  }
  auto add = [response](
                 const std::string& cls, const std::string& provider, const std::string& type) {
    v1::AgentId* id = response->add_agents();
    id->set_resource_class(cls);
    id->set_provider(provider);
    id->set_type(type);
  };
  std::vector<std::string> init_scripts = ListDir(options_.paths.init_dir, false);
  if (wanted.empty() || wanted == "lsb") {
    for (const std::string& type : init_scripts) {
      add("lsb", "", type);
    }
  }
  if (wanted.empty() || wanted == "ocf") {
    std::filesystem::path root = std::filesystem::path(options_.paths.ocf_root) / "resource.d";
    for (const std::string& provider : ListDir(root, true)) {
      if (!request->provider().empty() && provider != request->provider()) {
        continue;
      }
      for (const std::string& type : ListDir(root / provider, false)) {
        add("ocf", provider, type);
      }
    }
  }
  // systemd's service units, from the unit folders, when systemd is the init system.
  std::set<std::string> units;
  if ((wanted.empty() || wanted == "systemd" || wanted == "service") &&
      options_.paths.systemd_running && options_.paths.systemd_running()) {
    units = ListServiceUnits(options_.paths.systemd_unit_dirs);
  }
  if (wanted.empty() || wanted == "service") {
    std::set<std::string> services(init_scripts.begin(), init_scripts.end());
    services.insert(units.begin(), units.end());
    for (const std::string& type : services) {
      add("service", "", type);
    }
  }
  if ((wanted.empty() || wanted == "stonith") && fencer_ != nullptr) {
    for (const std::string& type : ListDir(options_.paths.fence_agents.bin_dir, false)) {
      if (type.starts_with("fence_"))
        add("stonith", "", type);
    }
    // cluster-glue's legacy plugins, which stonithd runs through its adapter.
    for (const std::string& type : stonithd::ListLegacyPlugins(options_.paths.fence_agents))
      add("stonith", "", type);
  }
  if (wanted.empty() || wanted == "systemd") {
    for (const std::string& type : units) {
      add("systemd", "", type);
    }
  }
  return grpc::Status::OK;
}

grpc::Status LrmdDriver::WatchResults(grpc::ServerContext* ctx,
                                      const v1::WatchResultsRequest* request,
                                      grpc::ServerWriter<v1::ActionResult>* writer) {
  std::set<std::string> ids(request->resource_ids().begin(), request->resource_ids().end());
  StreamHub<v1::ActionResult>::Filter filter;
  if (!ids.empty()) {
    filter = [ids](const v1::ActionResult& r) { return ids.contains(r.resource_id()); };
  }
  return watchers_.Serve(ctx, writer, std::move(filter));
}

}  // namespace ha::lrmd
