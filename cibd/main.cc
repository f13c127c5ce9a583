// cibd: the Cluster Information Base (issue 5). Loads the CIB from <state_dir>/cib/ (an empty
// one on a first start), serves the Cib API on its socket (cibd/cib_service.h) from this node's
// copy, and replicates it: it joins the process group "cib" of the local membershipd
// (cibd/cib_group_link.h) and orders every write through it (cibd/cib_replication.h,
// cibd/cib_replica.h), saving every change before it answers. Until it has joined, reads are
// served from the local copy and writes are refused (UNAVAILABLE).
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cibd/cib_core.h"
#include "cibd/cib_group_link.h"
#include "cibd/cib_replication.h"
#include "cibd/cib_service.h"
#include "cibd/cib_store.h"
#include "common/daemon_runtime.h"
#include "common/group_channel.h"
#include "common/logging.h"

int main(int argc, char** argv) {
  return ha::RunDaemonMain("cibd", argc, argv, [](ha::DaemonRuntime& rt) -> absl::Status {
    const std::string dir = absl::StrCat(rt.config().system.state_dir, "/cib");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create the CIB folder ", dir, ": ", ec.message()));
    }
    auto* store = rt.Adopt(std::make_unique<ha::cib::CibStore>(dir, rt.clock()));
    ha::cib::CibDocument initial;
    absl::StatusOr<ha::cib::CibStore::Loaded> loaded = store->Load();
    if (loaded.ok()) {
      HA_LOG_NOTICE("cib",
                    "Loaded the CIB | file=%s/%s version=%s digest=%s",
                    dir,
                    loaded->file,
                    ha::cib::ToString(loaded->document.Version()),
                    loaded->document.Digest());
      initial = std::move(loaded->document);
    } else if (absl::IsNotFound(loaded.status())) {
      HA_LOG_NOTICE("cib", "No CIB on disk; starting from an empty one | dir=%s", dir);
      initial = ha::cib::EmptyCib();
    } else {
      return loaded.status();  // DATA_LOSS: no good copy; an operator must look
    }
    auto* users = rt.Adopt(std::make_unique<ha::cib::SystemUserDirectory>());
    auto* core = rt.Adopt(std::make_unique<ha::cib::CibCore>(
        std::move(initial), store, rt.clock(), rt.local_node().name));
    auto* service = rt.Adopt(std::make_unique<ha::cib::CibService>(
        rt.loop(),
        *core,
        [&rt](const grpc::ServerContextBase& ctx) { return rt.server()->PeerOf(ctx); },
        *users));
    rt.AddService(service);
    // The link is adopted after the driver, so it (and its threads) goes first.
    auto link_slot = std::make_shared<ha::GroupChannel*>(nullptr);
    auto* replication = rt.Adopt(std::make_unique<ha::cib::CibReplication>(
        *core,
        [link_slot](uint64_t generation, std::string payload) {
          (*link_slot)->Multicast(generation, ha::cib::FramePayload(payload));
        },
        [&rt](const std::string& detail) { rt.SetState(ha::daemon::v1::SERVING, detail); }));
    ha::GroupChannel::Options link_options;
    link_options.group = "cib";
    link_options.client_name = "cibd";
    link_options.log_subsystem = "cib";
    ha::GroupChannel::Handlers handlers;
    handlers.joined = [replication](uint64_t g, uint32_t node_id, uint32_t pid) {
      replication->OnJoined(g, ha::cib::MemberId{node_id, pid});
    };
    handlers.change = [replication](uint64_t g, const ha::membership::v1::GroupChange& change) {
      std::vector<ha::cib::MemberId> members;
      for (const auto& m : change.members())
        members.push_back(ha::cib::MemberId{m.node_id(), m.pid()});
      replication->OnChange(g, ha::cib::ViewIdOf(change), std::move(members));
    };
    handlers.message = [replication](
                           uint64_t g, uint32_t node_id, uint32_t pid, std::string framed) {
      absl::StatusOr<std::string> payload = ha::cib::UnframePayload(framed);
      if (!payload.ok()) {
        HA_LOG_WARN("cib",
                    "Dropped a group message | sender=%u:%u error=%s",
                    node_id,
                    pid,
                    payload.status().message());
        return;
      }
      replication->OnMessage(g, ha::cib::MemberId{node_id, pid}, *payload);
    };
    handlers.lost = [replication](uint64_t g, std::string why) { replication->OnLost(g, why); };
    handlers.quorum = [replication](bool quorate) { replication->OnQuorum(quorate); };
    auto* link =
        rt.Adopt(ha::MakeGroupChannel(rt.config(), rt.loop(), link_options, std::move(handlers)));
    *link_slot = link;
    service->SetWritePath([replication](const ha::cib::Requester& who,
                                        std::vector<ha::cib::WriteOp> ops,
                                        bool transaction,
                                        const ha::cib::WriteOptions& options,
                                        ha::cib::CibService::WriteDone done) {
      replication->Submit(who, std::move(ops), transaction, options, std::move(done));
    });
    rt.SetStopHandler([&rt, service, link] {
      service->Stop();  // ends the Subscribe streams, so the server stops at once
      link->Stop();
      rt.RequestStop();
    });
    link->Start();
    return absl::OkStatus();
  });
}
