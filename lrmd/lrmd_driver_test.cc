// lrmd's driver end to end: a real event loop on its own thread, real agent processes, and a real
// gRPC client on a Unix socket.
#include "lrmd/lrmd_driver.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

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
  explicit Harness(const std::string& slow_agent = "") {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("ha-lrmd-driver-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter));
    fs::create_directories(dir_);
    LrmdDriverOptions driver_options;
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
    driver_ = std::make_unique<LrmdDriver>(*loop_, clock_, *runner_, driver_options);
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

}  // namespace
}  // namespace ha::lrmd
