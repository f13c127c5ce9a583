// lrmd: the local resource manager (issue 7).
// Until that work lands, it is an empty shell that serves its health check on its socket, so
// that the supervisor, the tools and the local-cluster script already handle it as a daemon.
#include "common/daemon_runtime.h"

int main(int argc, char** argv) {
  return ha::RunDaemonMain("lrmd", argc, argv, [](ha::DaemonRuntime& rt) {
    rt.SetState(ha::daemon::v1::SERVING, "shell: serves its health check only");
    return absl::OkStatus();
  });
}
