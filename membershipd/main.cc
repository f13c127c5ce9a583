// membershipd: the totem ring, votequorum and process groups (over gRPC and libqb IPC) of one
// node.
#include <sched.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "common/daemon_runtime.h"
#include "common/logging.h"
#include "common/peer_auth.h"
#include "membershipd/cpg_ipc_protocol.h"
#include "membershipd/cpg_ipc_server.h"
#include "membershipd/group_host.h"
#include "membershipd/groups_service.h"
#include "membershipd/membership_daemon.h"
#include "membershipd/membership_services.h"

namespace {

// Like corosync: real-time scheduling and locked memory keep the token moving when the machine
// is loaded or swapping. Both need privileges; without them the daemon runs on, and says so.
void RaisePriority(const ha::config::ClusterConfig& config) {
  if (config.system.sched_rr) {
    sched_param param{};
    param.sched_priority = sched_get_priority_max(SCHED_RR);
    if (sched_setscheduler(0, SCHED_RR, &param) != 0) {
      HA_LOG_NOTICE("main",
                    "could not set SCHED_RR priority %d: %s",
                    param.sched_priority,
                    std::strerror(errno));
    }
  }
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    HA_LOG_NOTICE("main", "could not lock memory: %s", std::strerror(errno));
  }
}

}  // namespace

int main(int argc, char** argv) {
  return ha::RunDaemonMain("membershipd", argc, argv, [](ha::DaemonRuntime& rt) -> absl::Status {
    RaisePriority(rt.config());
    absl::StatusOr<std::unique_ptr<ha::membership::MembershipDaemon>> created =
        ha::membership::MembershipDaemon::Create(
            rt.loop(), rt.clock(), rt.config(), rt.local_node());
    if (!created.ok()) {
      return created.status();
    }
    ha::membership::MembershipDaemon* daemon = rt.Adopt(*std::move(created));
    if (absl::Status s = daemon->Start(); !s.ok()) {
      return s;
    }
    rt.AddService(
        rt.Adopt(std::make_unique<ha::membership::MembershipService>(rt.loop(), *daemon)));
    rt.AddService(rt.Adopt(std::make_unique<ha::membership::QuorumService>(rt.loop(), *daemon)));
    auto* host = rt.Adopt(std::make_unique<ha::membership::GroupHost>(*daemon));
    auto* groups = rt.Adopt(std::make_unique<ha::membership::GroupsService>(
        rt.loop(), *host, [&rt](const grpc::ServerContextBase& ctx) {
          return rt.server()->PeerOf(ctx);
        }));
    rt.AddService(groups);
    // CPG over libqb IPC, named after the run folder, with the gRPC server's caller policy.
    absl::StatusOr<ha::PeerPolicy> policy = ha::PeerPolicy::FromConfig(rt.config().uidgid);
    if (!policy.ok())
      return policy.status();
    ha::membership::CpgIpcServerOptions ipc;
    ipc.service_name = ha::membership::cpg_ipc::ServiceName(rt.config().system.run_dir);
    ipc.policy = *policy;
    absl::StatusOr<std::unique_ptr<ha::membership::CpgIpcServer>> ipc_server =
        ha::membership::CpgIpcServer::Start(rt.loop(), rt.clock(), *host, std::move(ipc));
    if (!ipc_server.ok())
      return ipc_server.status();
    rt.Adopt(*std::move(ipc_server));
    rt.SetStopHandler([&rt, daemon, groups] {
      groups->CloseSessions();
      daemon->Leave([&rt, daemon] {
        daemon->CloseWatchers();
        rt.RequestStop();
      });
    });
    rt.SetState(ha::daemon::v1::SERVING, "serving; the ring forms as peers answer");
    return absl::OkStatus();
  });
}
