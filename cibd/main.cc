// cibd: the Cluster Information Base (issue 5). Loads the CIB from <state_dir>/cib/ (an empty
// one on a first start), and serves the Cib API on its socket (cibd/cib_service.h) from this
// node's copy, saving every change before it answers. Replication between nodes is not wired
// yet: the node is its own master and counts as quorate.
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cibd/cib_core.h"
#include "cibd/cib_service.h"
#include "cibd/cib_store.h"
#include "common/daemon_runtime.h"
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
    rt.SetStopHandler([&rt, service] {
      service->Stop();  // ends the Subscribe streams, so the server stops at once
      rt.RequestStop();
    });
    rt.SetState(ha::daemon::v1::SERVING, "serving this node's copy (replication not wired)");
    return absl::OkStatus();
  });
}
