// lrmd's driver end to end: a real event loop on its own thread, real agent processes, and a real
// gRPC client on a Unix socket.
#include "lrmd/lrmd_driver.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/grpc_unix_client.h"
#include "common/grpc_unix_server.h"
#include "lrmd/process_runner.h"

namespace ha::lrmd {
namespace {

namespace fs = std::filesystem;

constexpr char kDummy[] = "/usr/lib/ocf/resource.d/heartbeat/Dummy";

// The driver served on a temporary socket, its loop running on a thread of its own.
class Harness {
 public:
  // `slow_agent`: when set, the OCF root is one under the temp dir holding only
  // ocf:test:<slow_agent>, which sleeps 30 s.
  // `configure`, when given, adjusts the driver's options; it gets the harness's temp dir.
  // `make_fencer`, when given, makes the driver's FencerClient.
  explicit Harness(
      const std::string& slow_agent = "",
      std::function<void(LrmdDriverOptions&, const std::string& dir)> configure = nullptr,
      std::function<std::unique_ptr<FencerClient>(EventLoop&)> make_fencer = nullptr) {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("ha-lrmd-driver-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter));
    fs::create_directories(dir_);
    LrmdDriverOptions driver_options;
    if (configure)
      configure(driver_options, dir_);
    if (!slow_agent.empty()) {
      fs::create_directories(dir_ + "/ocf/resource.d/test");
      std::string path = dir_ + "/ocf/resource.d/test/" + slow_agent;
      FILE* f = fopen(path.c_str(), "w");
      REQUIRE(f != nullptr);
      fputs("#!/bin/sh\nsleep 30\n", f);
      fclose(f);
      fs::permissions(path, fs::perms::owner_all);
      driver_options.paths.ocf_root = dir_ + "/ocf";
    }
    auto loop = CreateQbEventLoop();
    REQUIRE(loop.ok());
    loop_ = *std::move(loop);
    runner_ = std::make_unique<PosixProcessRunner>(*loop_, clock_);
    driver_ = std::make_unique<LrmdDriver>(
        *loop_, clock_, *runner_, driver_options, make_fencer ? make_fencer(*loop_) : nullptr);
    UnixGrpcServer::Options options;
    options.socket_path = dir_ + "/lrmd.sock";
    options.policy = PeerPolicy({getuid()}, {});
    options.services = {driver_.get()};
    auto server = UnixGrpcServer::Start(options);
    REQUIRE(server.ok());
    server_ = *std::move(server);
    thread_ = std::thread([this] { loop_->Run(); });
    stub_ = v1::ResourceManager::NewStub(ConnectUnix(options.socket_path));
  }

  ~Harness() {
    driver_->Stop();
    server_->Shutdown();
    server_.reset();
    loop_->Stop();
    thread_.join();
    driver_.reset();
    runner_.reset();
    loop_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  v1::ResourceManager::Stub& stub() { return *stub_; }
  LrmdDriver& driver() { return *driver_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  RealClock clock_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<PosixProcessRunner> runner_;
  std::unique_ptr<LrmdDriver> driver_;
  std::unique_ptr<UnixGrpcServer> server_;
  std::thread thread_;
  std::unique_ptr<v1::ResourceManager::Stub> stub_;
};

// A WatchResults stream read on a thread of its own.
class Watcher {
 public:
  explicit Watcher(v1::ResourceManager::Stub& stub) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    reader_ = stub.WatchResults(&ctx_, v1::WatchResultsRequest());
    thread_ = std::thread([this] {
      v1::ActionResult result;
      while (reader_->Read(&result)) {
        absl::MutexLock lock(&mu_);
        results_.push_back(result);
      }
      grpc::Status end = reader_->Finish();
      absl::MutexLock lock(&mu_);
      end_ = end;
      ended_ = true;
    });
    // Let the server register the watch before the test asks for anything.
    absl::SleepFor(absl::Milliseconds(300));
  }
  ~Watcher() {
    ctx_.TryCancel();
    thread_.join();
  }

  // How the stream ended, once it has (waiting up to `timeout`).
  std::optional<grpc::Status> WaitForEnd(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      {
        absl::MutexLock lock(&mu_);
        if (ended_) {
          return end_;
        }
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return std::nullopt;
  }

  // The first result after the `from`-th that `pred` accepts, waiting up to `timeout`; its index
  // goes to `index`.
  std::optional<v1::ActionResult> WaitFor(const std::function<bool(const v1::ActionResult&)>& pred,
                                          absl::Duration timeout,
                                          size_t from = 0,
                                          size_t* index = nullptr) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      {
        absl::MutexLock lock(&mu_);
        for (size_t i = from; i < results_.size(); ++i) {
          if (pred(results_[i])) {
            if (index != nullptr) {
              *index = i;
            }
            return results_[i];
          }
        }
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return std::nullopt;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::ActionResult>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<v1::ActionResult> results_ ABSL_GUARDED_BY(mu_);
  grpc::Status end_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

v1::ExecRequest DummyRequest(const std::string& state_file, const std::string& action) {
  v1::ExecRequest request;
  request.set_resource_id("d1");
  request.mutable_agent()->set_resource_class("ocf");
  request.mutable_agent()->set_provider("heartbeat");
  request.mutable_agent()->set_type("Dummy");
  request.set_action(action);
  request.set_timeout_ms(10000);
  (*request.mutable_parameters())["state"] = state_file;
  return request;
}

#define SKIP_UNLESS_DUMMY()                               \
  do {                                                    \
    if (access(kDummy, X_OK) != 0) {                      \
      WARN("skipped: " << kDummy << " is not installed"); \
      return;                                             \
    }                                                     \
  } while (false)

TEST_CASE("lrmd driver runs Dummy: start, recurring monitor, failure, cancel") {
  SKIP_UNLESS_DUMMY();
  Harness h;
  Watcher watch(h.stub());
  const std::string state = h.dir() + "/dummy.state";

  v1::ActionResult started;
  auto ctx = ContextWithDeadline(absl::Seconds(15));
  grpc::Status s = h.stub().ExecSync(ctx.get(), DummyRequest(state, "start"), &started);
  REQUIRE(s.ok());
  CHECK(started.exec_status() == v1::EXEC_DONE);
  CHECK(started.exit_code() == v1::OCF_OK);
  CHECK(started.changed());
  CHECK(fs::exists(state));

  v1::ExecRequest monitor = DummyRequest(state, "monitor");
  monitor.set_interval_ms(1000);
  monitor.set_user_data("key-1");
  v1::ExecResponse exec;
  ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().Exec(ctx.get(), monitor, &exec).ok());
  const uint64_t monitor_call = exec.call_id();
  CHECK(monitor_call > started.call_id());

  auto of_monitor = [monitor_call](v1::ExecStatus status, v1::OcfExitCode code) {
    return [=](const v1::ActionResult& r) {
      return r.call_id() == monitor_call && r.exec_status() == status &&
             (status != v1::EXEC_DONE || r.exit_code() == code);
    };
  };
  size_t at = 0;
  auto first = watch.WaitFor(of_monitor(v1::EXEC_DONE, v1::OCF_OK), absl::Seconds(5), 0, &at);
  REQUIRE(first.has_value());
  CHECK(first->changed());
  CHECK(first->interval_ms() == 1000);
  CHECK(first->user_data() == "key-1");
  CHECK(first->agent().type() == "Dummy");

  {
    v1::ListResourcesResponse list;
    ctx = ContextWithDeadline(absl::Seconds(5));
    REQUIRE(h.stub().ListResources(ctx.get(), v1::ListResourcesRequest(), &list).ok());
    REQUIRE(list.resources_size() == 1);
    CHECK(list.resources(0).resource_id() == "d1");
    REQUIRE(list.resources(0).recurring_size() == 1);
    CHECK(list.resources(0).recurring(0).call_id() == monitor_call);
  }

  fs::remove(state);
  auto failed =
      watch.WaitFor(of_monitor(v1::EXEC_DONE, v1::OCF_NOT_RUNNING), absl::Seconds(3), at + 1, &at);
  REQUIRE(failed.has_value());
  CHECK(failed->changed());

  v1::CancelRequest cancel;
  cancel.set_resource_id("d1");
  cancel.set_action("monitor");
  cancel.set_interval_ms(1000);
  v1::CancelResponse cancelled;
  ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().Cancel(ctx.get(), cancel, &cancelled).ok());
  CHECK(cancelled.call_id() == monitor_call);
  CHECK(watch.WaitFor(of_monitor(v1::EXEC_CANCELLED, v1::OCF_OK), absl::Seconds(3), at + 1)
            .has_value());

  // Nothing left to cancel.
  ctx = ContextWithDeadline(absl::Seconds(5));
  CHECK(h.stub().Cancel(ctx.get(), cancel, &cancelled).error_code() == grpc::StatusCode::NOT_FOUND);

  v1::GetHistoryRequest history_request;
  history_request.set_resource_id("d1");
  v1::GetHistoryResponse history;
  ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().GetHistory(ctx.get(), history_request, &history).ok());
  REQUIRE(history.resources_size() == 1);
  CHECK(history.resources(0).last_results_size() >= 1);
}

TEST_CASE("lrmd driver reports a missing agent as not installed") {
  Harness h;
  v1::ExecRequest request = DummyRequest(h.dir() + "/x.state", "start");
  request.mutable_agent()->set_type("NoSuchAgentHere");
  v1::ActionResult result;
  auto ctx = ContextWithDeadline(absl::Seconds(10));
  REQUIRE(h.stub().ExecSync(ctx.get(), request, &result).ok());
  CHECK(result.exec_status() == v1::EXEC_NOT_INSTALLED);
  CHECK(result.exit_code() == v1::OCF_ERR_INSTALLED);
}

TEST_CASE("lrmd driver ends watches with UNAVAILABLE when it stops") {
  Harness h;
  Watcher watch(h.stub());
  h.driver().Stop();
  std::optional<grpc::Status> end = watch.WaitForEnd(absl::Seconds(5));
  REQUIRE(end.has_value());
  CHECK(end->error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("lrmd driver's ExecSync gives DEADLINE_EXCEEDED past the client's deadline") {
  Harness h("Slow");
  v1::ExecRequest request = DummyRequest(h.dir() + "/x.state", "start");
  request.mutable_agent()->set_provider("test");
  request.mutable_agent()->set_type("Slow");
  v1::ActionResult result;
  auto ctx = ContextWithDeadline(absl::Milliseconds(500));
  CHECK(h.stub().ExecSync(ctx.get(), request, &result).error_code() ==
        grpc::StatusCode::DEADLINE_EXCEEDED);
  // The agent still runs: the resource has it as its running action (the harness kills it).
  v1::ListResourcesResponse list;
  ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().ListResources(ctx.get(), v1::ListResourcesRequest(), &list).ok());
  REQUIRE(list.resources_size() == 1);
  CHECK(list.resources(0).running_action() == "start");
}

TEST_CASE("lrmd driver refuses invalid requests") {
  Harness h;
  v1::ExecRequest request = DummyRequest(h.dir() + "/x.state", "start");
  request.set_interval_ms(1000);  // only monitors recur
  v1::ExecResponse response;
  auto ctx = ContextWithDeadline(absl::Seconds(5));
  CHECK(h.stub().Exec(ctx.get(), request, &response).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  request = DummyRequest(h.dir() + "/x.state", "start");
  request.mutable_agent()->set_resource_class("nope");
  ctx = ContextWithDeadline(absl::Seconds(5));
  CHECK(h.stub().Exec(ctx.get(), request, &response).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("lrmd driver serves Dummy's meta-data and lists agents") {
  SKIP_UNLESS_DUMMY();
  Harness h;
  v1::GetMetadataRequest request;
  request.mutable_agent()->set_resource_class("ocf");
  request.mutable_agent()->set_provider("heartbeat");
  request.mutable_agent()->set_type("Dummy");
  v1::GetMetadataResponse response;
  auto ctx = ContextWithDeadline(absl::Seconds(15));
  grpc::Status s = h.stub().GetMetadata(ctx.get(), request, &response);
  REQUIRE(s.ok());
  bool has_state = false;
  for (const v1::AgentParameter& p : response.metadata().parameters()) {
    has_state = has_state || p.name() == "state";
  }
  CHECK(has_state);

  // The meta-data call leaves no resource behind.
  v1::ListResourcesResponse list;
  ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().ListResources(ctx.get(), v1::ListResourcesRequest(), &list).ok());
  CHECK(list.resources_size() == 0);

  request.mutable_agent()->set_type("NoSuchAgentHere");
  ctx = ContextWithDeadline(absl::Seconds(15));
  CHECK(h.stub().GetMetadata(ctx.get(), request, &response).error_code() ==
        grpc::StatusCode::NOT_FOUND);

  v1::ListProvidersRequest providers_request;
  providers_request.set_type("Dummy");
  v1::ListProvidersResponse providers;
  ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().ListProviders(ctx.get(), providers_request, &providers).ok());
  CHECK(std::find(providers.providers().begin(), providers.providers().end(), "heartbeat") !=
        providers.providers().end());

  v1::ListAgentsRequest agents_request;
  agents_request.set_resource_class("ocf");
  agents_request.set_provider("heartbeat");
  v1::ListAgentsResponse agents;
  ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().ListAgents(ctx.get(), agents_request, &agents).ok());
  bool has_dummy = false;
  for (const v1::AgentId& id : agents.agents()) {
    has_dummy = has_dummy || id.type() == "Dummy";
  }
  CHECK(has_dummy);

  v1::ListClassesResponse classes;
  ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().ListClasses(ctx.get(), v1::ListClassesRequest(), &classes).ok());
  CHECK(classes.classes_size() == 4);
}

// The agents ListAgents finds for one class, as "type" strings.
std::vector<std::string> ListAgentTypes(Harness& h, const std::string& resource_class) {
  v1::ListAgentsRequest request;
  request.set_resource_class(resource_class);
  v1::ListAgentsResponse response;
  auto ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().ListAgents(ctx.get(), request, &response).ok());
  std::vector<std::string> types;
  for (const v1::AgentId& id : response.agents()) {
    CHECK(id.resource_class() == resource_class);
    types.push_back(id.type());
  }
  return types;
}

void WriteFile(const std::string& path, const std::string& text, fs::perms perms) {
  FILE* f = fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  fputs(text.c_str(), f);
  fclose(f);
  fs::permissions(path, perms);
}

TEST_CASE("ListAgents: systemd service units from the unit folders when systemd runs",
          "[lrmd_driver]") {
  for (bool systemd_running : {true, false}) {
    INFO("systemd_running=" << systemd_running);
    Harness h("", [systemd_running](LrmdDriverOptions& options, const std::string& dir) {
      const std::string units = dir + "/units";
      const std::string more = dir + "/more-units";
      fs::create_directories(units);
      fs::create_directories(more);
      fs::create_directories(dir + "/init.d");
      WriteFile(units + "/web.service", "[Service]\nExecStart=/bin/true\n", fs::perms::owner_read);
      WriteFile(units + "/getty@.service", "", fs::perms::owner_read);      // a template
      WriteFile(units + "/backup.timer", "", fs::perms::owner_read);        // not a service
      fs::create_symlink("/dev/null", units + "/masked.service");           // masked
      fs::create_symlink(units + "/web.service", more + "/alias.service");  // linked: counts
      WriteFile(more + "/web.service", "", fs::perms::owner_read);          // listed once
      WriteFile(dir + "/init.d/legacy", "#!/bin/sh\n", fs::perms::owner_all);
      options.paths.systemd_unit_dirs = {units, more, dir + "/missing"};
      options.paths.init_dir = dir + "/init.d";
      options.paths.systemd_running = [systemd_running] { return systemd_running; };
    });
    if (systemd_running) {
      CHECK(ListAgentTypes(h, "systemd") == std::vector<std::string>{"alias", "web"});
      CHECK(ListAgentTypes(h, "service") == std::vector<std::string>{"alias", "legacy", "web"});
    } else {
      CHECK(ListAgentTypes(h, "systemd").empty());
      CHECK(ListAgentTypes(h, "service") == std::vector<std::string>{"legacy"});
    }
    CHECK(ListAgentTypes(h, "lsb") == std::vector<std::string>{"legacy"});
  }
}

TEST_CASE("meta-data runs as the unprivileged user, start as lrmd's", "[lrmd_driver]") {
  if (geteuid() != 0) {
    WARN("skipped: switching users needs root");
    return;
  }
  absl::StatusOr<RunAs> user = ResolveClusterUser("");
  REQUIRE(user.ok());
  Harness h("", [&user](LrmdDriverOptions& options, const std::string& dir) {
    // A copy of ocf:ha-test:WhoAmI in a folder every user may read (the source tree may not be).
    fs::create_directories(dir + "/ocf/resource.d/ha-test");
    fs::copy_file(HA_LRMD_TESTDATA_DIR "/agents/ha-test/WhoAmI",
                  dir + "/ocf/resource.d/ha-test/WhoAmI");
    for (const std::string& d : {dir, dir + "/ocf", dir + "/ocf/resource.d"})
      fs::permissions(d, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
    options.paths.ocf_root = dir + "/ocf";
    options.paths.unprivileged = *user;
  });
  v1::GetMetadataRequest request;
  request.mutable_agent()->set_resource_class("ocf");
  request.mutable_agent()->set_provider("ha-test");
  request.mutable_agent()->set_type("WhoAmI");
  v1::GetMetadataResponse response;
  auto ctx = ContextWithDeadline(absl::Seconds(15));
  grpc::Status status = h.stub().GetMetadata(ctx.get(), request, &response);
  REQUIRE(status.ok());
  const std::string& who = response.metadata().shortdesc();
  INFO(who);
  CHECK(who.starts_with(absl::StrCat("uid=", user->uid, " gid=", user->gid, " groups=")));
  CHECK(who.find("uid=0 ") == std::string::npos);

  const std::string file = h.dir() + "/start-user";
  v1::ExecRequest exec;
  exec.set_resource_id("who");
  *exec.mutable_agent() = request.agent();
  exec.set_action("start");
  exec.set_timeout_ms(10000);
  (*exec.mutable_parameters())["file"] = file;
  v1::ActionResult result;
  ctx = ContextWithDeadline(absl::Seconds(15));
  REQUIRE(h.stub().ExecSync(ctx.get(), exec, &result).ok());
  CHECK(result.exit_code() == 0);
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  CHECK(line.starts_with("uid=0 gid=0"));
}

TEST_CASE("meta-data of an agent the unprivileged user cannot reach runs as lrmd's user",
          "[lrmd_driver]") {
  if (geteuid() != 0) {
    WARN("skipped: switching users needs root");
    return;
  }
  absl::StatusOr<RunAs> user = ResolveClusterUser("");
  REQUIRE(user.ok());
  Harness h("", [&user](LrmdDriverOptions& options, const std::string& dir) {
    const std::string closed = dir + "/closed";  // 0700: only root gets in
    fs::create_directories(closed + "/ocf/resource.d/ha-test");
    fs::copy_file(HA_LRMD_TESTDATA_DIR "/agents/ha-test/WhoAmI",
                  closed + "/ocf/resource.d/ha-test/WhoAmI");
    fs::permissions(closed, fs::perms::owner_all);
    options.paths.ocf_root = closed + "/ocf";
    options.paths.unprivileged = *user;
  });
  v1::GetMetadataRequest request;
  request.mutable_agent()->set_resource_class("ocf");
  request.mutable_agent()->set_provider("ha-test");
  request.mutable_agent()->set_type("WhoAmI");
  v1::GetMetadataResponse response;
  auto ctx = ContextWithDeadline(absl::Seconds(15));
  REQUIRE(h.stub().GetMetadata(ctx.get(), request, &response).ok());
  CHECK(response.metadata().shortdesc().starts_with("uid=0 "));
}

// stonithd's device registrations and monitors, in memory: a fake of the FencerClient seam that
// answers on the loop as GrpcFencerClient does.
class FakeFencer final : public FencerClient {
 public:
  explicit FakeFencer(EventLoop& loop) : loop_(loop) {}

  void Call(FencerCall call, Done done) override {
    absl::StatusOr<FencerAnswer> outcome = FencerAnswer();
    {
      absl::MutexLock lock(&mu_);
      timeouts_.push_back(call.timeout);
      if (hold_) {  // answered by Release()
        held_.push_back(std::move(done));
        return;
      }
      if (!fail_with_.ok()) {
        outcome = fail_with_;
      } else if (call.kind == FencerCall::kUnregister) {
        if (registered_.erase(call.device_id) == 0)
          outcome = absl::NotFoundError("no device " + call.device_id);
      } else {
        if (call.kind == FencerCall::kStart)
          registered_[call.device_id] = call.agent;
        outcome->registered = registered_.contains(call.device_id);
        if (outcome->registered) {
          ++monitors_;
          outcome->device_status = broken_.empty() ? "ok" : "failed";
          outcome->status_reason = broken_;
        }
      }
    }
    loop_.Post([done = std::move(done), outcome]() mutable { done(outcome); });
  }

  // Holds the calls made from now on until Release() answers them (the device is fine).
  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  size_t held() {
    absl::MutexLock lock(&mu_);
    return held_.size();
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    hold_ = false;
    for (Done& done : held_) {
      FencerAnswer fine;
      fine.device_status = "ok";
      loop_.Post([done = std::move(done), fine]() mutable { done(fine); });
    }
    held_.clear();
  }

  void FailWith(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_with_ = std::move(status);
  }
  // The devices' monitor fails with `reason` (empty: it succeeds).
  void Break(std::string reason) {
    absl::MutexLock lock(&mu_);
    broken_ = std::move(reason);
  }
  std::map<std::string, std::string> registered() {
    absl::MutexLock lock(&mu_);
    return registered_;
  }
  int monitors() {
    absl::MutexLock lock(&mu_);
    return monitors_;
  }
  std::vector<absl::Duration> timeouts() {
    absl::MutexLock lock(&mu_);
    return timeouts_;
  }

 private:
  EventLoop& loop_;
  absl::Mutex mu_;
  std::map<std::string, std::string> registered_ ABSL_GUARDED_BY(mu_);  // id -> agent
  std::string broken_ ABSL_GUARDED_BY(mu_);
  int monitors_ ABSL_GUARDED_BY(mu_) = 0;  // MonitorDevice calls
  std::vector<absl::Duration> timeouts_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_with_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Done> held_ ABSL_GUARDED_BY(mu_);
};

v1::ActionResult RunFenceAction(Harness& h, const std::string& action) {
  v1::ExecRequest request;
  request.set_resource_id("fence1");
  request.mutable_agent()->set_resource_class("stonith");
  request.mutable_agent()->set_type("fence_test");
  request.set_action(action);
  request.set_timeout_ms(10000);
  (*request.mutable_parameters())["pcmk_host_list"] = "node9";
  (*request.mutable_parameters())["ipaddr"] = "10.0.0.9";
  v1::ActionResult result;
  auto ctx = ContextWithDeadline(absl::Seconds(15));
  grpc::Status status = h.stub().ExecSync(ctx.get(), request, &result);
  REQUIRE(status.ok());
  return result;
}

TEST_CASE("stonith resources: start registers then stonithd monitors, stop unregisters",
          "[lrmd_driver]") {
  FakeFencer* fencer = nullptr;
  Harness h(
      "",
      [](LrmdDriverOptions& options, const std::string& dir) {
        // A fence agent that keeps its stdin: only validate-all and meta-data may run it.
        fs::create_directories(dir + "/fence");
        WriteFile(dir + "/fence/fence_test",
                  "#!/bin/sh\ncat > " + dir + "/stdin\nexit 0\n",
                  fs::perms::owner_all);
        options.paths.fence_agents.bin_dir = dir + "/fence";
      },
      [&fencer](EventLoop& loop) {
        auto fake = std::make_unique<FakeFencer>(loop);
        fencer = fake.get();
        return fake;
      });
  const std::string stdin_file = h.dir() + "/stdin";
  auto agent_stdin = [&stdin_file] {
    std::ifstream in(stdin_file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };

  v1::ListClassesResponse classes;
  auto ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().ListClasses(ctx.get(), v1::ListClassesRequest(), &classes).ok());
  CHECK(std::find(classes.classes().begin(), classes.classes().end(), "stonith") !=
        classes.classes().end());
  CHECK(ListAgentTypes(h, "stonith") == std::vector<std::string>{"fence_test"});

  v1::ActionResult result = RunFenceAction(h, "monitor");
  CHECK(result.exec_status() == v1::EXEC_DONE);
  CHECK(result.exit_code() == v1::OCF_NOT_RUNNING);
  CHECK(fencer->monitors() == 0);  // not registered: nothing to monitor

  result = RunFenceAction(h, "start");
  CHECK(result.exec_status() == v1::EXEC_DONE);
  CHECK(result.exit_code() == v1::OCF_OK);
  CHECK(fencer->registered() == std::map<std::string, std::string>{{"fence1", "fence_test"}});
  CHECK(fencer->monitors() == 1);
  CHECK(fencer->timeouts().back() == absl::Seconds(10));  // the action's timeout

  CHECK(RunFenceAction(h, "monitor").exit_code() == v1::OCF_OK);
  CHECK(fencer->monitors() == 2);
  fencer->Break("Unable to connect/login to fencing device");
  result = RunFenceAction(h, "monitor");
  CHECK(result.exec_status() == v1::EXEC_ERROR);
  CHECK(result.exit_code() == v1::OCF_ERR_GENERIC);
  CHECK(result.exit_reason() == "Unable to connect/login to fencing device");
  fencer->Break("");
  CHECK_FALSE(fs::exists(stdin_file));  // start and monitor never ran the agent

  result = RunFenceAction(h, "validate-all");  // the agent's, run by lrmd
  CHECK(result.exit_code() == v1::OCF_OK);
  CHECK(agent_stdin() == "action=validate-all\nipaddr=10.0.0.9\n");  // pcmk_* are the fencer's
  fs::remove(stdin_file);

  result = RunFenceAction(h, "stop");
  CHECK(result.exit_code() == v1::OCF_OK);
  CHECK(fencer->registered().empty());
  CHECK(RunFenceAction(h, "stop").exit_code() == v1::OCF_OK);  // stopped already
  CHECK(RunFenceAction(h, "monitor").exit_code() == v1::OCF_NOT_RUNNING);

  // Cancelled while stonithd has not answered: cancelled once it does.
  fencer->Hold();
  v1::ActionResult cancelled_start;
  std::thread starter([&h, &cancelled_start] { cancelled_start = RunFenceAction(h, "start"); });
  bool held = false;
  for (int i = 0; i < 500 && !held; ++i) {
    held = fencer->held() == 1;
    if (!held)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(held);
  v1::CancelRequest cancel;
  cancel.set_resource_id("fence1");
  cancel.set_action("start");
  v1::CancelResponse cancel_response;
  ctx = ContextWithDeadline(absl::Seconds(5));
  CHECK(h.stub().Cancel(ctx.get(), cancel, &cancel_response).ok());
  fencer->Release();
  starter.join();
  CHECK(cancelled_start.exec_status() == v1::EXEC_CANCELLED);
  CHECK(RunFenceAction(h, "stop").exit_code() == v1::OCF_OK);

  fencer->FailWith(absl::UnavailableError("connection refused"));
  result = RunFenceAction(h, "start");
  CHECK(result.exec_status() == v1::EXEC_NOT_CONNECTED);
  CHECK(result.exit_reason().find("stonithd is not reachable") != std::string::npos);
  fencer->FailWith(absl::DeadlineExceededError("Deadline Exceeded"));
  result = RunFenceAction(h, "monitor");
  CHECK(result.exec_status() == v1::EXEC_TIMED_OUT);
  fencer->FailWith(absl::NotFoundError("fence_test is not installed"));
  result = RunFenceAction(h, "start");
  CHECK(result.exec_status() == v1::EXEC_NOT_INSTALLED);
  CHECK(result.exit_code() == v1::OCF_ERR_INSTALLED);
}

TEST_CASE("stonith resources without a fencer: not offered, not connected", "[lrmd_driver]") {
  Harness h;  // no fencer socket, no client
  v1::ListClassesResponse classes;
  auto ctx = ContextWithDeadline(absl::Seconds(5));
  REQUIRE(h.stub().ListClasses(ctx.get(), v1::ListClassesRequest(), &classes).ok());
  CHECK(std::find(classes.classes().begin(), classes.classes().end(), "stonith") ==
        classes.classes().end());
  v1::ActionResult result = RunFenceAction(h, "start");
  CHECK(result.exec_status() == v1::EXEC_NOT_CONNECTED);
}

TEST_CASE("GrpcFencerClient: stonithd not running is UNAVAILABLE", "[lrmd_driver]") {
  Harness h("", [](LrmdDriverOptions& options, const std::string& dir) {
    options.fencer_socket = dir + "/no-stonithd.sock";
  });
  v1::ActionResult result = RunFenceAction(h, "monitor");
  CHECK(result.exec_status() == v1::EXEC_NOT_CONNECTED);
  CHECK(result.exit_reason().find("stonithd is not reachable") != std::string::npos);
}

}  // namespace
}  // namespace ha::lrmd
