// ha-lrmd-load: loads a running lrmd with many resources and recurring monitors, and reports how
// it copes: the daemon's CPU and how late the monitors ran.
//   ha-lrmd-load --run-dir DIR --lrmd-pid PID --stamp-dir DIR [--resources 500]
//                [--interval-ms 10000] [--duration-s 60] [--timeout-ms 20000]
//   ha-lrmd-load --run-dir DIR --one-shot COUNT [--agent PROVIDER:TYPE] [--action ACTION]
// The second form runs COUNT one-shot actions back to back and prints "ops_per_s overhead_ms"
// (overhead: an action's wall time minus the agent's own run time), for bench/.
// The resources are ocf:ha-test:Stamp (lrmd/testdata/agents), whose monitor appends its run
// time to <stamp-dir>/<resource>.stamps. Exit 0 when every monitor ran and none ran later than
// its timeout after its due time, 1 otherwise (the figures are printed either way).
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/grpc_unix_client.h"
#include "proto/lrmd.grpc.pb.h"

namespace {

namespace pb = ha::lrmd::v1;

// The process's user + system CPU time in clock ticks (0 when it cannot be read).
long CpuTicks(int pid) {
  std::string path = absl::StrCat("/proc/", pid, "/stat");
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return 0;
  char buffer[4096];
  ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buffer[n] = '\0';
  // Fields after the command name (which may hold spaces): utime is the 14th, stime the 15th.
  const char* after = strrchr(buffer, ')');
  if (!after)
    return 0;
  std::vector<std::string> fields = absl::StrSplit(after + 2, ' ');
  if (fields.size() < 13)
    return 0;
  return std::stol(fields[11]) + std::stol(fields[12]);
}

pb::ExecRequest Request(const std::string& id,
                        const std::string& action,
                        uint32_t interval,
                        uint32_t timeout,
                        const std::string& stamp_dir) {
  pb::ExecRequest request;
  request.set_resource_id(id);
  request.mutable_agent()->set_resource_class("ocf");
  request.mutable_agent()->set_provider("ha-test");
  request.mutable_agent()->set_type("Stamp");
  request.set_action(action);
  request.set_interval_ms(interval);
  request.set_timeout_ms(timeout);
  (*request.mutable_parameters())["dir"] = stamp_dir;
  request.set_client_name("ha-lrmd-load");
  return request;
}

bool Check(const grpc::Status& status, const std::string& what) {
  if (status.ok())
    return true;
  std::cerr << "ha-lrmd-load: " << what << ": " << status.error_message() << "\n";
  return false;
}

int OneShotRate(pb::ResourceManager::Stub& stub,
                int count,
                const std::string& agent,
                const std::string& action) {
  std::vector<std::string> parts = absl::StrSplit(agent, ':');
  if (parts.size() != 2) {
    std::cerr << "ha-lrmd-load: --agent is PROVIDER:TYPE\n";
    return 64;
  }
  double overhead_ms = 0;
  auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    pb::ExecRequest request;
    request.set_resource_id("bench");
    request.mutable_agent()->set_resource_class("ocf");
    request.mutable_agent()->set_provider(parts[0]);
    request.mutable_agent()->set_type(parts[1]);
    request.set_action(action);
    request.set_timeout_ms(20000);
    pb::ActionResult result;
    auto context = ha::ContextWithDeadline(absl::Seconds(60));
    auto sent = std::chrono::steady_clock::now();
    if (!Check(stub.ExecSync(context.get(), request, &result), action))
      return 1;
    overhead_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count() -
        static_cast<double>(result.duration_ms());
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  std::printf("%.1f %.2f\n", count / seconds, overhead_ms / count);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ha-lrmd-load: many resources with recurring monitors on a running lrmd"};
  std::string run_dir, stamp_dir;
  int pid = 0, resources = 500, duration_s = 60;
  uint32_t interval_ms = 10000, timeout_ms = 20000;
  int one_shot = 0;
  std::string agent = "heartbeat:Dummy", action = "monitor";
  app.add_option("--run-dir", run_dir, "lrmd's run folder (its socket is lrmd.sock)")->required();
  app.add_option("--lrmd-pid", pid, "lrmd's pid, for its CPU time");
  app.add_option("--stamp-dir", stamp_dir, "Where the agents write their monitor times");
  app.add_option("--one-shot", one_shot, "Run this many one-shot actions and report the rate");
  app.add_option("--agent", agent, "PROVIDER:TYPE of the OCF agent for --one-shot");
  app.add_option("--action", action, "The action for --one-shot");
  app.add_option("--resources", resources, "How many resources");
  app.add_option("--interval-ms", interval_ms, "Monitor interval");
  app.add_option("--timeout-ms", timeout_ms, "Monitor timeout (and the lateness allowed)");
  app.add_option("--duration-s", duration_s, "How long to watch");
  CLI11_PARSE(app, argc, argv);

  auto stub = pb::ResourceManager::NewStub(ha::ConnectUnix(run_dir + "/lrmd.sock"));
  if (one_shot > 0)
    return OneShotRate(*stub, one_shot, agent, action);
  if (pid == 0 || stamp_dir.empty()) {
    std::cerr << "ha-lrmd-load: --lrmd-pid and --stamp-dir are needed for the load test\n";
    return 64;
  }
  std::vector<std::string> ids;
  for (int i = 0; i < resources; ++i)
    ids.push_back(absl::StrCat("load-", i));
  for (const std::string& id : ids) {
    pb::ActionResult result;
    auto context = ha::ContextWithDeadline(absl::Seconds(60));
    if (!Check(
            stub->ExecSync(context.get(), Request(id, "start", 0, timeout_ms, stamp_dir), &result),
            "start " + id))
      return 1;
  }
  auto started = std::chrono::steady_clock::now();
  int64_t registered_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  for (const std::string& id : ids) {
    pb::ExecResponse response;
    auto context = ha::ContextWithDeadline();
    if (!Check(stub->Exec(context.get(),
                          Request(id, "monitor", interval_ms, timeout_ms, stamp_dir),
                          &response),
               "monitor " + id))
      return 1;
  }
  long ticks_before = CpuTicks(pid);
  std::this_thread::sleep_for(std::chrono::seconds(duration_s));
  long ticks_after = CpuTicks(pid);
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  int64_t ended_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  for (const std::string& id : ids) {
    pb::ActionResult result;
    auto context = ha::ContextWithDeadline(absl::Seconds(60));
    Check(stub->ExecSync(context.get(), Request(id, "stop", 0, timeout_ms, stamp_dir), &result),
          "stop " + id);
  }

  // Lateness: each run after the first is due one interval after the one before it.
  std::vector<int64_t> lateness;
  int missing = 0;
  int64_t runs = 0;
  for (const std::string& id : ids) {
    std::ifstream in(stamp_dir + "/" + id + ".stamps");
    std::vector<int64_t> stamps;
    for (int64_t t; in >> t;)
      if (t <= ended_at_ms)
        stamps.push_back(t);
    runs += static_cast<int64_t>(stamps.size());
    int64_t expected = (ended_at_ms - registered_at_ms) / interval_ms;
    if (static_cast<int64_t>(stamps.size()) < expected)
      ++missing;
    for (size_t i = 1; i < stamps.size(); ++i)
      lateness.push_back(std::max<int64_t>(0, stamps[i] - stamps[i - 1] - interval_ms));
  }
  std::sort(lateness.begin(), lateness.end());
  auto percentile = [&](double p) -> int64_t {
    if (lateness.empty())
      return 0;
    return lateness[std::min(lateness.size() - 1, static_cast<size_t>(p * lateness.size()))];
  };
  double cpu_percent = 100.0 * static_cast<double>(ticks_after - ticks_before) /
                       static_cast<double>(sysconf(_SC_CLK_TCK)) / elapsed;
  std::printf("resources %d, interval %u ms, watched %.0f s, monitor runs %lld\n",
              resources,
              interval_ms,
              elapsed,
              static_cast<long long>(runs));
  std::printf("lrmd CPU %.1f %% of one core (%.3f ms per monitor run)\n",
              cpu_percent,
              runs ? 1000.0 * static_cast<double>(ticks_after - ticks_before) /
                         static_cast<double>(sysconf(_SC_CLK_TCK)) / static_cast<double>(runs)
                   : 0.0);
  std::printf(
      "monitor lateness: p50 %lld ms, p99 %lld ms, max %lld ms; resources with missed "
      "runs: %d\n",
      static_cast<long long>(percentile(0.5)),
      static_cast<long long>(percentile(0.99)),
      static_cast<long long>(lateness.empty() ? 0 : lateness.back()),
      missing);
  bool ok = missing == 0 && (lateness.empty() || lateness.back() <= timeout_ms);
  std::printf("%s\n",
              ok ? "OK: no monitor late by more than its timeout"
                 : "FAILED: monitors missed or late beyond their timeout");
  return ok ? 0 : 1;
}
