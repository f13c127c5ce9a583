// The driver's device half: devices and levels from the CIB and the API, their queries, and the
// agents' meta-data.

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/loop_call.h"
#include "stonithd/ask_loop.h"
#include "stonithd/proto_convert.h"
#include "stonithd/stonithd_driver.h"

namespace ha::stonithd {
namespace {

bool SameSlot(const FencingLevel& a, const LevelTarget& target, int index) {
  return a.target == target && a.index == index;
}

}  // namespace

v1::DeviceSource StonithdDriver::SourceOf(const std::string& id) const {
  auto it = sources_.find(id);
  return it == sources_.end() ? v1::DEVICE_SOURCE_UNSPECIFIED : it->second;
}

void StonithdDriver::ApplyCibConfig(FencingConfig config) {
  for (const std::string& warning : config.warnings) {
    HA_LOG_WARN("fencing", "CIB: %s", warning);
  }
  std::set<std::string> ids;
  for (const FenceDevice& device : config.devices) {
    ids.insert(device.id);
  }
  std::vector<std::string> gone;
  for (const auto& [id, source] : sources_) {
    if (source == v1::DEVICE_FROM_CIB && !ids.contains(id)) {
      gone.push_back(id);
    }
  }
  for (const std::string& id : gone) {
    cluster_.core().UnregisterDevice(id);
    AnswerMonitorWaiters(id, DeviceHealth{.reason = "the device was removed"});
    sources_.erase(id);
    HA_LOG_NOTICE("fencing", "device %s removed (no longer in the CIB)", id);
    PublishDevice(id, false, v1::DEVICE_FROM_CIB);
  }
  for (FenceDevice& device : config.devices) {
    const std::string id = device.id;
    const v1::DeviceSource before = SourceOf(id);
    if (before == v1::DEVICE_FROM_API) {
      HA_LOG_WARN("fencing", "the CIB's device %s replaces the one registered by hand", id);
    }
    if (before != v1::DEVICE_FROM_CIB) {
      HA_LOG_NOTICE("fencing", "device %s (%s) added from the CIB", id, device.agent);
    }
    cluster_.core().RegisterDevice(std::move(device));
    sources_[id] = v1::DEVICE_FROM_CIB;
    PublishDevice(id, true, v1::DEVICE_FROM_CIB);
  }
  const FencingOptions& before = cluster_.cluster_options();
  const FencingOptions& after = config.options;
  if (before.enabled != after.enabled || before.action != after.action ||
      before.timeout != after.timeout || before.priority_delay != after.priority_delay) {
    HA_LOG_NOTICE("fencing",
                  "cluster options from the CIB: stonith-enabled=%s stonith-action=%s "
                  "stonith-timeout=%s priority-fencing-delay=%s",
                  after.enabled ? "true" : "false",
                  after.action,
                  absl::FormatDuration(after.timeout),
                  absl::FormatDuration(after.priority_delay));
  }
  cluster_.SetClusterOptions(after);
  cluster_.SetNodes(
      std::move(config.nodes), std::move(config.node_names), std::move(config.node_priorities));
  EnsureMonitorTick();
  cib_levels_ = config.topology.levels();
  node_attributes_ = std::move(config.node_attributes);
  cluster_.core().SetNodeAttributes(node_attributes_);
  RebuildTopology();
}

void StonithdDriver::RebuildTopology() {
  FencingTopology topology;
  for (const FencingLevel& level : cib_levels_) {
    (void)topology.Add(level);  // checked when the CIB was parsed
  }
  for (const FencingLevel& level : api_levels_) {
    if (!topology.Add(level).ok()) {  // the CIB has this target and index: the API's wins
      (void)topology.Remove(level.target, level.index);
      (void)topology.Add(level);
    }
  }
  topology_ = topology;
  cluster_.core().SetTopology(std::move(topology));
  PublishTopologyChanged();
}

AgentCapabilities StonithdDriver::CapabilitiesOf(const std::string& agent,
                                                 absl::Duration timeout,
                                                 const std::function<bool()>& give_up) {
  absl::StatusOr<AgentCapabilities> caps = AskLoopFor<AgentCapabilities>(
      loop_,
      timeout,
      [this, agent](Reply<AgentCapabilities> reply) {
        if (auto it = capabilities_.find(agent); it != capabilities_.end()) {
          reply(it->second);
          return;
        }
        absl::StatusOr<FenceAgentRunner::RunId> run = agents_.RunMetadata(
            agent, options_.metadata_timeout, [this, agent, reply](FenceResult result) {
              AgentCapabilities found;
              if (result.ok()) {
                absl::StatusOr<FenceAgentMetadata> md = ParseFenceAgentMetadata(result.stdout_tail);
                if (md.ok()) {
                  found = md->Capabilities();
                  capabilities_[agent] = found;
                } else {
                  HA_LOG_WARN("fencing", "meta-data of %s: %s", agent, md.status().ToString());
                }
              } else {
                HA_LOG_WARN("fencing", "meta-data of %s failed: %s", agent, result.reason);
              }
              reply(found);
            });
        if (!run.ok()) {
          HA_LOG_WARN("fencing", "meta-data of %s: %s", agent, run.status().ToString());
          reply(AgentCapabilities{});
        }
      },
      give_up);
  return caps.ok() ? *caps : AgentCapabilities{};
}

// ---- Queries run outside operations ----

void StonithdDriver::RunQuery(const FenceDevice& device,
                              const std::string& action,
                              const std::string& target,
                              std::function<void(FenceResult)> done) {
  absl::StatusOr<FenceAgentRunner::RunId> run = agents_.Run(
      device, action, target, options_.list_timeout, [done](FenceResult r) { done(std::move(r)); });
  if (!run.ok()) {
    FenceResult failed;
    failed.action = action;
    failed.reason = std::string(run.status().message());
    done(std::move(failed));
  }
}

void StonithdDriver::CheckCapable(const FenceDevice& device,
                                  const std::string& target,
                                  CapableCallback done) {
  switch (CheckTarget(device, target)) {
    case TargetCheck::kCapable:
      done(true);
      return;
    case TargetCheck::kNotCapable:
      done(false);
      return;
    case TargetCheck::kNeedsList:
      RunQuery(device, "list", "", [device, target, done](FenceResult r) {
        done(r.ok() && DeviceListsTarget(device, target, ParseTargetList(r.stdout_tail)));
      });
      return;
    case TargetCheck::kNeedsStatus:
      RunQuery(device, "status", target, [done](FenceResult r) { done(r.ok()); });
      return;
  }
}

// ---- Devices ----

grpc::Status StonithdDriver::ListDevices(grpc::ServerContext* ctx,
                                         const v1::ListDevicesRequest* request,
                                         v1::ListDevicesResponse* response) {
  using Devices = std::vector<v1::Device>;
  absl::StatusOr<Devices> devices =
      AskLoop<Devices>(loop_, ctx, [this, target = request->target()](Reply<Devices> reply) {
        struct Pending {
          size_t left = 0;
          std::map<std::string, v1::Device> capable;
          Reply<Devices> reply;
        };
        auto pending = std::make_shared<Pending>();
        pending->left = cluster_.core().devices().size() + 1;
        pending->reply = std::move(reply);
        auto one_done = [pending] {
          if (--pending->left == 0) {
            Devices out;
            for (auto& [id, device] : pending->capable) {
              out.push_back(std::move(device));
            }
            pending->reply(std::move(out));
          }
        };
        for (const auto& [id, device] : cluster_.core().devices()) {
          v1::Device proto =
              ToProto(device, SourceOf(id), options_.core.local_node, cluster_.core().Health(id));
          if (target.empty()) {
            pending->capable[id] = std::move(proto);
            one_done();
            continue;
          }
          CheckCapable(device, target, [pending, one_done, proto](bool capable) {
            if (capable) {
              pending->capable[proto.id()] = proto;
            }
            one_done();
          });
        }
        one_done();
      });
  if (!devices.ok()) {
    return ToGrpcStatus(devices.status());
  }
  for (v1::Device& device : *devices) {
    *response->add_devices() = std::move(device);
  }
  return grpc::Status::OK;
}

grpc::Status StonithdDriver::ListTargets(grpc::ServerContext* ctx,
                                         const v1::ListTargetsRequest* request,
                                         v1::ListTargetsResponse* response) {
  using Targets = absl::StatusOr<std::vector<std::string>>;
  absl::StatusOr<Targets> targets =
      AskLoop<Targets>(loop_, ctx, [this, id = request->device()](Reply<Targets> reply) {
        auto it = cluster_.core().devices().find(id);
        if (it == cluster_.core().devices().end()) {
          reply(absl::NotFoundError(absl::StrCat("no device ", id)));
          return;
        }
        const FenceDevice& device = it->second;
        if (device.host_check == HostCheck::kStaticList) {
          std::vector<std::string> out = device.host_list;
          for (const auto& [node, port] : device.host_map.entries) {
            out.push_back(node);
          }
          reply(out);
          return;
        }
        if (device.capabilities.known && !device.capabilities.supports_list) {
          reply(absl::FailedPreconditionError(
              absl::StrCat("the agent ", device.agent, " of ", id, " has no list action")));
          return;
        }
        RunQuery(device, "list", "", [reply, id](FenceResult r) {
          if (!r.ok()) {
            reply(absl::FailedPreconditionError(
                absl::StrCat("the list action of ", id, " failed: ", r.reason)));
            return;
          }
          reply(ParseTargetList(r.stdout_tail));
        });
      });
  if (targets.ok() && !targets->ok()) {
    targets = targets->status();
  }
  if (!targets.ok()) {
    return ToGrpcStatus(targets.status());
  }
  std::vector<std::string> sorted = **targets;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  for (const std::string& target : sorted) {
    response->add_targets(target);
  }
  return grpc::Status::OK;
}

grpc::Status StonithdDriver::MonitorDevice(grpc::ServerContext* ctx,
                                           const v1::MonitorDeviceRequest* request,
                                           v1::MonitorDeviceResponse* response) {
  using Answer = absl::StatusOr<v1::Device>;
  absl::StatusOr<Answer> device =
      AskLoop<Answer>(loop_, ctx, [this, id = request->id()](Reply<Answer> reply) {
        if (cluster_.core().devices().count(id) == 0) {
          reply(absl::NotFoundError(absl::StrCat("no device ", id, " on this node")));
          return;
        }
        monitor_waiters_[id].push_back([this, id, reply](const DeviceHealth& health) {
          auto it = cluster_.core().devices().find(id);
          if (it == cluster_.core().devices().end()) {
            reply(absl::NotFoundError(absl::StrCat("device ", id, " was removed")));
            return;
          }
          reply(ToProto(it->second, SourceOf(id), options_.core.local_node, health));
        });
        Feed(stonithd::MonitorDevice{id});
      });
  if (!device.ok()) {
    return ToGrpcStatus(device.status());
  }
  if (!device->ok()) {
    return ToGrpcStatus(device->status());
  }
  *response->mutable_device() = **device;
  return grpc::Status::OK;
}

grpc::Status StonithdDriver::RegisterDevice(grpc::ServerContext* ctx,
                                            const v1::RegisterDeviceRequest* request,
                                            v1::RegisterDeviceResponse* response) {
  const std::string& agent = request->agent();
  if (request->id().empty() || !IsValidAgentType(agent)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "a device needs an id and a fence agent (or STONITH plugin) name");
  }
  // A fence agent in the agents' folder, or a legacy plugin run through the adapter.
  if (absl::Status installed = CheckAgentInstalled(agent, options_.paths); !installed.ok())
    return ToGrpcStatus(installed);
  AgentCapabilities caps = CapabilitiesOf(agent, options_.metadata_timeout + absl::Seconds(2));
  std::map<std::string, std::string> params(request->parameters().begin(),
                                            request->parameters().end());
  absl::StatusOr<v1::Device> device = RunOnLoopFlat(
      loop_, ctx, [this, id = request->id(), agent, params, caps]() -> absl::StatusOr<v1::Device> {
        if (SourceOf(id) == v1::DEVICE_FROM_CIB) {
          return absl::InvalidArgumentError(
              absl::StrCat(id, " is a device of the CIB; change it there"));
        }
        absl::StatusOr<FenceDevice> made = MakeFenceDevice(id, agent, params, caps);
        if (!made.ok()) {
          return made.status();
        }
        for (const std::string& warning : made->warnings) {
          HA_LOG_WARN("fencing", "device %s: %s", id, warning);
        }
        v1::Device proto = ToProto(*made, v1::DEVICE_FROM_API, options_.core.local_node);
        HA_LOG_NOTICE("fencing", "device %s (%s) registered through the API", id, agent);
        cluster_.core().RegisterDevice(*std::move(made));
        EnsureMonitorTick();
        sources_[id] = v1::DEVICE_FROM_API;
        PublishDevice(id, true, v1::DEVICE_FROM_API);
        return proto;
      });
  if (!device.ok()) {
    return ToGrpcStatus(device.status());
  }
  *response->mutable_device() = *std::move(device);
  return grpc::Status::OK;
}

grpc::Status StonithdDriver::UnregisterDevice(grpc::ServerContext* ctx,
                                              const v1::UnregisterDeviceRequest* request,
                                              v1::UnregisterDeviceResponse*) {
  absl::Status done = RunOnLoopFlat(loop_, ctx, [this, id = request->id()]() -> absl::Status {
    if (SourceOf(id) != v1::DEVICE_FROM_API) {
      return absl::NotFoundError(absl::StrCat("no device ", id, " registered through the API"));
    }
    cluster_.core().UnregisterDevice(id);
    AnswerMonitorWaiters(id, DeviceHealth{.reason = "the device was removed"});
    sources_.erase(id);
    HA_LOG_NOTICE("fencing", "device %s unregistered through the API", id);
    PublishDevice(id, false, v1::DEVICE_FROM_API);
    return absl::OkStatus();
  });
  return ToGrpcStatus(done);
}

// ---- Levels ----

grpc::Status StonithdDriver::RegisterLevel(grpc::ServerContext* ctx,
                                           const v1::RegisterLevelRequest* request,
                                           v1::RegisterLevelResponse*) {
  absl::StatusOr<LevelTarget> target = FromProto(request->level().target());
  if (!target.ok()) {
    return ToGrpcStatus(target.status());
  }
  FencingLevel level;
  level.target = *target;
  level.index = static_cast<int>(std::min<uint32_t>(request->level().index(), 100));
  level.devices.assign(request->level().devices().begin(), request->level().devices().end());
  level.id = absl::StrCat("api-", level.index);
  FencingTopology scratch;
  if (absl::Status s = scratch.Add(level); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::Status done = RunOnLoopFlat(loop_, ctx, [this, level]() -> absl::Status {
    std::erase_if(api_levels_,
                  [&](const FencingLevel& l) { return SameSlot(l, level.target, level.index); });
    api_levels_.push_back(level);
    RebuildTopology();
    return absl::OkStatus();
  });
  return ToGrpcStatus(done);
}

grpc::Status StonithdDriver::UnregisterLevel(grpc::ServerContext* ctx,
                                             const v1::UnregisterLevelRequest* request,
                                             v1::UnregisterLevelResponse*) {
  absl::StatusOr<LevelTarget> target = FromProto(request->target());
  if (!target.ok()) {
    return ToGrpcStatus(target.status());
  }
  const int index = static_cast<int>(std::min<uint32_t>(request->index(), 100));
  absl::Status done = RunOnLoopFlat(loop_, ctx, [this, target = *target, index]() -> absl::Status {
    size_t removed = std::erase_if(
        api_levels_, [&](const FencingLevel& l) { return SameSlot(l, target, index); });
    if (removed == 0) {
      return absl::NotFoundError(absl::StrCat("no level ", index, " registered for that target"));
    }
    RebuildTopology();
    return absl::OkStatus();
  });
  return ToGrpcStatus(done);
}

grpc::Status StonithdDriver::ListLevels(grpc::ServerContext* ctx,
                                        const v1::ListLevelsRequest* request,
                                        v1::ListLevelsResponse* response) {
  absl::StatusOr<v1::ListLevelsResponse> answer =
      RunOnLoop(loop_, ctx, [this, node = request->node()] {
        auto source = [this](const FencingLevel& level) {
          for (const FencingLevel& api : api_levels_) {
            if (SameSlot(api, level.target, level.index)) {
              return v1::DEVICE_FROM_API;
            }
          }
          return v1::DEVICE_FROM_CIB;
        };
        v1::ListLevelsResponse out;
        if (node.empty()) {
          for (const FencingLevel& level : topology_.levels()) {
            *out.add_levels() = ToProto(level, source(level));
          }
        } else {
          for (const FencingLevel* level : topology_.LevelsFor(node, node_attributes_)) {
            *out.add_levels() = ToProto(*level, source(*level));
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

}  // namespace ha::stonithd
