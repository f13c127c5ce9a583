// membershipd: the totem ring, votequorum and (soon) process groups of one node.
#include <sched.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "common/daemon_runtime.h"
#include "common/logging.h"
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
    auto* groups = rt.Adopt(std::make_unique<ha::membership::GroupsService>(
        rt.loop(), *daemon, [&rt](const grpc::ServerContextBase& ctx) {
          return rt.server()->PeerOf(ctx);
        }));
    rt.AddService(groups);
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
