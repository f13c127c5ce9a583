// stonithd: fencing (issue 8). Runs fence agents for fencing requests with the devices of the CIB
// and those registered through the API, keeps the fencing history, and serves the Fencer API on
// its socket (stonithd/stonithd_driver.h). Requests go to every node through membershipd's
// `stonithd` process group (common/group_channel.h, stonithd/fencing_cluster.h). When this node
// learns that it was fenced while it still runs, stonithd exits ExitCode::kFatal, so the
// supervisor stops the whole stack and does not respawn it.
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/daemon_runtime.h"
#include "common/exit_codes.h"
#include "common/group_channel.h"
#include "common/logging.h"
#include "lrmd/process_runner.h"
#include "stonithd/cib_source.h"
#include "stonithd/stonithd_driver.h"

int main(int argc, char** argv) {
  return ha::RunDaemonMain("stonithd", argc, argv, [](ha::DaemonRuntime& rt) {
    ha::stonithd::StonithdDriverOptions options;
    options.core.local_node = rt.local_node().name;
    options.core.seed = static_cast<uint64_t>(absl::ToUnixNanos(rt.clock().WallNow()));
    options.standalone = false;
    // This start of the node's stack (the supervisor's, else this process's): a new stack is a
    // new incarnation, accepted in the stonithd group after a fencing of this node.
    if (const char* stack = std::getenv("HA_STACK_INCARNATION"); stack != nullptr && *stack != 0)
      options.incarnation = stack;
    else
      options.incarnation =
          absl::StrCat(getpid(), "-", absl::ToUnixNanos(rt.clock().WallNow()) & 0xffffffffffffLL);
    if (const char* dir = std::getenv("HA_FENCE_AGENT_DIR"); dir != nullptr && *dir != '\0') {
      options.paths.bin_dir = dir;  // tests: agents of their own
    }
    // Fence agents carry a tag of their own (not lrmd's): what a killed stonithd left running
    // is killed before this one serves.
    ha::lrmd::PosixProcessRunner::Options runner_options;
    runner_options.owner_tag = rt.config().system.run_dir + "/stonithd";
    runner_options.kill_group_after_exit = true;
    if (int orphans = ha::lrmd::KillOrphanedAgents(runner_options.owner_tag); orphans > 0)
      HA_LOG_WARN("main", "killed %d fence agent processes left by a previous stonithd", orphans);
    // Adopted objects are destroyed in reverse: the CIB poller, the driver, the runner.
    auto* runner = rt.Adopt(
        std::make_unique<ha::lrmd::PosixProcessRunner>(rt.loop(), rt.clock(), runner_options));
    auto* driver = rt.Adopt(
        std::make_unique<ha::stonithd::StonithdDriver>(rt.loop(), rt.clock(), *runner, options));
    auto* cib = rt.Adopt(std::make_unique<ha::stonithd::CibSource>(
        rt.loop(), *driver, ha::DaemonSocketPath(rt.config(), "cibd")));
    // The link is adopted after the driver, so it (and its threads) goes first.
    ha::GroupChannel::Options link_options;
    link_options.group = "stonithd";
    link_options.client_name = "stonithd";
    link_options.log_subsystem = "fencing";
    ha::GroupChannel::Handlers handlers;
    handlers.joined = [driver](uint64_t g, uint32_t node_id, uint32_t pid) {
      driver->OnGroupJoined(g, ha::stonithd::GroupMember{node_id, pid});
    };
    handlers.change = [driver](uint64_t g, const ha::membership::v1::GroupChange& change) {
      std::vector<ha::stonithd::GroupMember> members;
      for (const auto& m : change.members())
        members.push_back(ha::stonithd::GroupMember{m.node_id(), m.pid()});
      driver->OnGroupChange(g, std::move(members));
    };
    handlers.message = [driver](uint64_t g, uint32_t node_id, uint32_t pid, std::string payload) {
      driver->OnGroupMessage(g, ha::stonithd::GroupMember{node_id, pid}, std::move(payload));
    };
    handlers.lost = [driver](uint64_t g, std::string why) { driver->OnGroupLost(g, why); };
    handlers.quorum = [driver](bool quorate) { driver->OnQuorum(quorate); };
    auto* link =
        rt.Adopt(ha::MakeGroupChannel(rt.config(), rt.loop(), link_options, std::move(handlers)));
    driver->SetGroupSend([link](uint64_t generation, std::string payload) {
      link->Multicast(generation, std::move(payload));
    });
    driver->SetStatusListener(
        [&rt](const std::string& detail) { rt.SetState(ha::daemon::v1::SERVING, detail); });
    rt.AddService(driver);
    auto stop = [&rt, driver, cib, link] {
      cib->Stop();
      link->Stop();
      driver->Stop();  // ends the WatchEvents streams, so the server stops at once
      rt.RequestStop();
    };
    rt.SetStopHandler(stop);
    // Fenced but still running (the device did nothing, or the node came back without a
    // reboot): the stack must not go on, nor be respawned (like Pacemaker's controller).
    driver->SetFencedListener([&rt, stop](const ha::stonithd::FencedSelf& fenced) {
      HA_LOG("main",
             LOG_CRIT,
             "this node was fenced (%s); exiting fatally so that the supervisor stops the "
             "stack without a respawn",
             fenced.op_id.empty() ? std::string("refused by the stonithd group")
                                  : absl::StrCat("op ", fenced.op_id, " by ", fenced.executor));
      rt.SetExitCode(ha::ToInt(ha::ExitCode::kFatal));
      rt.loop().Post(stop);
    });
    cib->Start();
    link->Start();
    rt.SetState(ha::daemon::v1::SERVING, "waiting for the stonithd group (membershipd)");
    return absl::OkStatus();
  });
}
