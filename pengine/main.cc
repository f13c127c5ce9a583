// pengine: the policy engine (issue 6). Serves PolicyEngine (proto/pengine.proto) on its
// socket; every computed input is archived under <state_dir>/pengine.
#include <ctime>

#include "absl/strings/str_cat.h"
#include "common/daemon_runtime.h"
#include "pengine/policy_service.h"

int main(int argc, char** argv) {
  return ha::RunDaemonMain("pengine", argc, argv, [](ha::DaemonRuntime& rt) {
    auto* service = rt.Adopt(std::make_unique<ha::pengine::PolicyService>(
        absl::StrCat(rt.config().system.state_dir, "/pengine"),
        [] { return static_cast<int64_t>(std::time(nullptr)); }));
    rt.AddService(service);
    rt.SetState(ha::daemon::v1::SERVING, "");
    return absl::OkStatus();
  });
}
