// stonithd's driver end to end: a real event loop on its own thread, real fence agents (Debian's
// fence_dummy, and the failing test agent of testdata/), and a real gRPC client on a Unix socket.
#include "stonithd/stonithd_driver.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/grpc_unix_client.h"
#include "common/grpc_unix_server.h"
#include "lrmd/process_runner.h"
#include "pugixml.hpp"

namespace ha::stonithd {
namespace {

namespace fs = std::filesystem;

constexpr char kFenceDummy[] = "/usr/sbin/fence_dummy";
constexpr char kLocalNode[] = "node-local";

// The driver served on a temporary socket, its loop on a thread of its own; fence agents come
// from a folder holding fence_dummy and the test agents.
class Harness {
 public:
  Harness() {
    static int counter = 0;
    dir_ = fs::temp_directory_path() / ("ha-stonithd-driver-test-" + std::to_string(getpid()) +
                                        "-" + std::to_string(++counter));
    fs::create_directories(dir_ + "/bin");
    fs::create_symlink(kFenceDummy, dir_ + "/bin/fence_dummy");
    fs::create_symlink(std::string(HA_STONITHD_TESTDATA_DIR) + "/fence_fail",
                       dir_ + "/bin/fence_fail");
    fs::create_symlink(std::string(HA_STONITHD_TESTDATA_DIR) + "/fence_flaky",
                       dir_ + "/bin/fence_flaky");
    auto loop = CreateQbEventLoop();
    REQUIRE(loop.ok());
    loop_ = *std::move(loop);
    lrmd::PosixProcessRunner::Options runner_options;
    runner_options.kill_group_after_exit = true;
    runner_ = std::make_unique<lrmd::PosixProcessRunner>(*loop_, clock_, runner_options);
    StonithdDriverOptions options;
    options.core.local_node = kLocalNode;
    options.core.retry_pause = absl::Milliseconds(100);
    options.paths.bin_dir = dir_ + "/bin";
    driver_ = std::make_unique<StonithdDriver>(*loop_, clock_, *runner_, options);
    UnixGrpcServer::Options server_options;
    server_options.socket_path = dir_ + "/stonithd.sock";
    server_options.policy = PeerPolicy({getuid()}, {});
    server_options.services = {driver_.get()};
    auto server = UnixGrpcServer::Start(server_options);
    REQUIRE(server.ok());
    server_ = *std::move(server);
    thread_ = std::thread([this] { loop_->Run(); });
    stub_ = v1::Fencer::NewStub(ConnectUnix(server_options.socket_path));
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

  v1::Fencer::Stub& stub() { return *stub_; }
  StonithdDriver& driver() { return *driver_; }
  const std::string& dir() const { return dir_; }

  // Runs `fn` on the loop and waits for it.
  void OnLoop(std::function<void()> fn) {
    absl::Notification done;
    loop_->Post([&] {
      fn();
      done.Notify();
    });
    done.WaitForNotification();
  }

  grpc::Status Register(const std::string& id,
                        const std::string& agent,
                        const std::map<std::string, std::string>& params) {
    v1::RegisterDeviceRequest request;
    request.set_id(id);
    request.set_agent(agent);
    request.mutable_parameters()->insert(params.begin(), params.end());
    v1::RegisterDeviceResponse response;
    auto ctx = ContextWithDeadline(absl::Seconds(20));
    return stub_->RegisterDevice(ctx.get(), request, &response);
  }

  v1::FenceOperation Fence(const std::string& target,
                           v1::FenceAction action,
                           bool async = false,
                           grpc::Status* status = nullptr) {
    v1::FenceRequest request;
    request.set_target(target);
    request.set_action(action);
    request.set_async(async);
    request.set_client_name("test");
    v1::FenceResponse response;
    auto ctx = ContextWithDeadline(absl::Seconds(30));
    grpc::Status s = stub_->Fence(ctx.get(), request, &response);
    if (status != nullptr) {
      *status = s;
    } else {
      REQUIRE(s.ok());
    }
    return response.operation();
  }

  v1::GetHistoryResponse History(const std::string& target, bool last_success_only = false) {
    v1::GetHistoryRequest request;
    request.set_target(target);
    request.set_last_success_only(last_success_only);
    v1::GetHistoryResponse response;
    auto ctx = ContextWithDeadline(absl::Seconds(10));
    REQUIRE(stub_->GetHistory(ctx.get(), request, &response).ok());
    return response;
  }

  std::vector<std::string> Devices(const std::string& target) {
    v1::ListDevicesRequest request;
    request.set_target(target);
    v1::ListDevicesResponse response;
    auto ctx = ContextWithDeadline(absl::Seconds(20));
    REQUIRE(stub_->ListDevices(ctx.get(), request, &response).ok());
    std::vector<std::string> ids;
    for (const v1::Device& d : response.devices()) {
      ids.push_back(d.id());
    }
    return ids;
  }

 private:
  std::string dir_;
  RealClock clock_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<lrmd::PosixProcessRunner> runner_;
  std::unique_ptr<StonithdDriver> driver_;
  std::unique_ptr<UnixGrpcServer> server_;
  std::thread thread_;
  std::unique_ptr<v1::Fencer::Stub> stub_;
};

using Strings = std::vector<std::string>;

TEST_CASE("a fence_dummy device registered through the API fences its target") {
  if (access(kFenceDummy, X_OK) != 0) {
    WARN("fence_dummy is not installed: skipped");
    return;
  }
  Harness h;
  const std::string status_file = h.dir() + "/dummy.status";
  REQUIRE(h.Register("dummy",
                     "fence_dummy",
                     {{"pcmk_host_list", "node-a node-b"},
                      {"status_file", status_file},
                      {"password", "secret"}})
              .ok());

  v1::ListDevicesResponse all;
  {
    auto ctx = ContextWithDeadline(absl::Seconds(10));
    REQUIRE(h.stub().ListDevices(ctx.get(), v1::ListDevicesRequest(), &all).ok());
  }
  REQUIRE(all.devices_size() == 1);
  CHECK(all.devices(0).agent() == "fence_dummy");
  CHECK(all.devices(0).source() == v1::DEVICE_FROM_API);
  CHECK(all.devices(0).host_check() == "static-list");
  CHECK(all.devices(0).parameters().at("password") == "****");
  CHECK(all.devices(0).nodes(0) == kLocalNode);
  CHECK(h.Devices("node-a") == Strings{"dummy"});
  CHECK(h.Devices("node-z").empty());

  v1::ListTargetsRequest targets_request;
  targets_request.set_device("dummy");
  v1::ListTargetsResponse targets;
  auto ctx = ContextWithDeadline(absl::Seconds(10));
  REQUIRE(h.stub().ListTargets(ctx.get(), targets_request, &targets).ok());
  CHECK(Strings(targets.targets().begin(), targets.targets().end()) == Strings{"node-a", "node-b"});

  v1::FenceOperation op = h.Fence("node-a", v1::FENCE_REBOOT);
  CHECK(op.state() == v1::FENCE_DONE);
  CHECK(op.device() == "dummy");
  CHECK(op.delegate() == kLocalNode);
  CHECK(op.origin() == kLocalNode);
  CHECK(op.client() == "test");
  CHECK(op.completed_unix_ms() >= op.requested_unix_ms());
  CHECK(op.id().size() == 36);

  v1::FenceOperation off = h.Fence("node-b", v1::FENCE_OFF);
  CHECK(off.state() == v1::FENCE_DONE);

  v1::GetHistoryResponse history = h.History("node-a");
  REQUIRE(history.operations_size() == 1);
  CHECK(history.operations(0).id() == op.id());
  CHECK(history.operations(0).state() == v1::FENCE_DONE);
  CHECK(h.History("").operations_size() == 2);
  CHECK(h.History("", true).operations_size() == 2);

  SECTION("async: pending at once, then done in the history") {
    v1::FenceOperation pending = h.Fence("node-a", v1::FENCE_OFF, true);
    CHECK(pending.state() == v1::FENCE_PENDING);
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    v1::FenceState state = v1::FENCE_PENDING;
    while (state == v1::FENCE_PENDING && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
      v1::GetHistoryResponse now = h.History("node-a");
      for (const v1::FenceOperation& o : now.operations()) {
        if (o.id() == pending.id()) {
          state = o.state();
        }
      }
    }
    CHECK(state == v1::FENCE_DONE);
    CHECK(h.History("node-a", true).operations_size() == 1);
  }

  SECTION("unregistered, it fences no more") {
    v1::UnregisterDeviceRequest request;
    request.set_id("dummy");
    v1::UnregisterDeviceResponse response;
    auto uctx = ContextWithDeadline(absl::Seconds(10));
    REQUIRE(h.stub().UnregisterDevice(uctx.get(), request, &response).ok());
    v1::FenceOperation none = h.Fence("node-a", v1::FENCE_REBOOT);
    CHECK(none.state() == v1::FENCE_FAILED);
    CHECK(none.exit_reason() == "No fence device");
  }
}

TEST_CASE("a failing device reports the failure with the agent's reason") {
  Harness h;
  REQUIRE(h.Register("bad", "fence_fail", {{"pcmk_host_list", "node-b"}}).ok());
  v1::FenceOperation op = h.Fence("node-b", v1::FENCE_OFF);
  CHECK(op.state() == v1::FENCE_FAILED);
  CHECK(op.device() == "bad");
  CHECK_THAT(op.exit_reason(), Catch::Contains("Unable to connect"));
  v1::GetHistoryResponse history = h.History("node-b");
  REQUIRE(history.operations_size() == 1);
  CHECK(history.operations(0).state() == v1::FENCE_FAILED);
  CHECK(h.History("node-b", true).operations_size() == 0);
}

TEST_CASE("refusals, self-fencing, and manual confirmation") {
  Harness h;
  grpc::Status s = h.Register("x", "fence_not_installed", {});
  CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
  s = h.Register("x", "../fence_dummy", {});
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  h.Fence("", v1::FENCE_OFF, false, &s);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  {
    v1::UnregisterDeviceRequest request;
    request.set_id("nope");
    v1::UnregisterDeviceResponse response;
    auto ctx = ContextWithDeadline(absl::Seconds(10));
    CHECK(h.stub().UnregisterDevice(ctx.get(), request, &response).error_code() ==
          grpc::StatusCode::NOT_FOUND);
  }

  v1::FenceOperation self = h.Fence(kLocalNode, v1::FENCE_REBOOT);
  CHECK(self.state() == v1::FENCE_FAILED);

  v1::ConfirmFencedRequest confirm;
  confirm.set_target("node-c");
  confirm.set_client_name("test");
  v1::ConfirmFencedResponse confirmed;
  auto ctx = ContextWithDeadline(absl::Seconds(10));
  REQUIRE(h.stub().ConfirmFenced(ctx.get(), confirm, &confirmed).ok());
  CHECK(confirmed.operation().state() == v1::FENCE_DONE);
  CHECK(confirmed.operation().device() == kManualAck);
  CHECK(confirmed.operation().action() == v1::FENCE_OFF);
  CHECK(h.History("node-c").operations_size() == 1);
}

TEST_CASE("devices and levels from the CIB sit beside those of the API") {
  Harness h;
  pugi::xml_document doc;
  REQUIRE(doc.load_string(R"(<cib><configuration><crm_config/><nodes/><resources>
      <primitive id="cib-fence" class="stonith" type="fence_fail">
        <instance_attributes id="ia"><nvpair id="n1" name="pcmk_host_list" value="node-d"/>
        </instance_attributes></primitive></resources><constraints/>
      <fencing-topology><fencing-level id="l1" target="node-d" index="1" devices="cib-fence"/>
      </fencing-topology></configuration><status/></cib>)"));
  absl::StatusOr<FencingConfig> config = ParseFencingConfig(doc);
  REQUIRE(config.ok());
  h.OnLoop([&] { h.driver().ApplyCibConfig(*config); });

  CHECK(h.Devices("node-d") == Strings{"cib-fence"});
  CHECK(h.Register("cib-fence", "fence_fail", {}).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  REQUIRE(h.Register("api-fence", "fence_fail", {{"pcmk_host_list", "node-d"}}).ok());
  CHECK(h.Devices("") == Strings{"api-fence", "cib-fence"});

  v1::ListLevelsRequest levels_request;
  levels_request.set_node("node-d");
  v1::ListLevelsResponse levels;
  auto ctx = ContextWithDeadline(absl::Seconds(10));
  REQUIRE(h.stub().ListLevels(ctx.get(), levels_request, &levels).ok());
  REQUIRE(levels.levels_size() == 1);
  CHECK(levels.levels(0).source() == v1::DEVICE_FROM_CIB);
  CHECK(levels.levels(0).devices(0) == "cib-fence");

  // The topology names only cib-fence: api-fence is not tried.
  v1::FenceOperation op = h.Fence("node-d", v1::FENCE_OFF);
  CHECK(op.state() == v1::FENCE_FAILED);
  CHECK(op.device() == "cib-fence");
  CHECK(op.level() == 1);

  // A CIB without the device removes it.
  config->devices.clear();
  config->topology = FencingTopology();
  h.OnLoop([&] { h.driver().ApplyCibConfig(*config); });
  CHECK(h.Devices("") == Strings{"api-fence"});
}

TEST_CASE("cluster options from the CIB: stonith-action and stonith-enabled") {
  if (access(kFenceDummy, X_OK) != 0) {
    WARN("fence_dummy is not installed: skipped");
    return;
  }
  Harness h;
  REQUIRE(h.Register("dummy",
                     "fence_dummy",
                     {{"pcmk_host_list", "node-e"}, {"status_file", h.dir() + "/dummy.status"}})
              .ok());
  auto apply = [&h](const char* enabled, const char* action) {
    pugi::xml_document doc;
    REQUIRE(doc.load_string(absl::StrCat(R"(<cib><configuration><crm_config>
        <cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value=")",
                                         enabled,
                                         R"("/><nvpair id="o2" name="stonith-action" value=")",
                                         action,
                                         R"("/></cluster_property_set></crm_config><nodes/>
        <resources/></configuration><status/></cib>)")
                                .c_str()));
    absl::StatusOr<FencingConfig> config = ParseFencingConfig(doc);
    REQUIRE(config.ok());
    h.OnLoop([&] { h.driver().ApplyCibConfig(*config); });
  };
  // No action in the request: the cluster's stonith-action.
  apply("true", "off");
  v1::FenceOperation op = h.Fence("node-e", v1::FENCE_ACTION_UNSPECIFIED);
  CHECK(op.state() == v1::FENCE_DONE);
  CHECK(op.action() == v1::FENCE_OFF);
  apply("true", "reboot");
  op = h.Fence("node-e", v1::FENCE_ACTION_UNSPECIFIED);
  CHECK(op.action() == v1::FENCE_REBOOT);
  // stonith-enabled=false: refused with FAILED_PRECONDITION, nothing recorded.
  apply("false", "reboot");
  grpc::Status s;
  h.Fence("node-e", v1::FENCE_OFF, false, &s);
  CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(s.error_message().find("stonith-enabled=false") != std::string::npos);
  CHECK(h.History("node-e").operations_size() == 2);
  apply("true", "reboot");
  CHECK(h.Fence("node-e", v1::FENCE_OFF).state() == v1::FENCE_DONE);
}

TEST_CASE("devices are monitored; their status is in ListDevices and MonitorDevice") {
  Harness h;
  const std::string broken = h.dir() + "/switch-broken";
  { std::ofstream(broken) << "x"; }
  REQUIRE(h.Register("flaky", "fence_flaky", {{"pcmk_host_list", "node-f"}, {"fail_file", broken}})
              .ok());
  auto monitor = [&h](const std::string& id, grpc::Status* status = nullptr) {
    v1::MonitorDeviceRequest request;
    request.set_id(id);
    v1::MonitorDeviceResponse response;
    auto ctx = ContextWithDeadline(absl::Seconds(20));
    grpc::Status s = h.stub().MonitorDevice(ctx.get(), request, &response);
    if (status != nullptr) {
      *status = s;
    } else {
      REQUIRE(s.ok());
    }
    return response.device();
  };
  v1::Device d = monitor("flaky");
  CHECK(d.status() == "failed");
  CHECK_THAT(d.status_reason(), Catch::Contains("Unable to connect"));
  CHECK(d.last_check_unix_ms() > 0);
  CHECK(d.monitor_interval_s() == 60);
  // The periodic monitor ran too (at once after registration): ListDevices shows the status.
  v1::ListDevicesResponse all;
  {
    auto ctx = ContextWithDeadline(absl::Seconds(10));
    REQUIRE(h.stub().ListDevices(ctx.get(), v1::ListDevicesRequest(), &all).ok());
  }
  REQUIRE(all.devices_size() == 1);
  CHECK(all.devices(0).status() == "failed");
  fs::remove(broken);
  CHECK(monitor("flaky").status() == "ok");
  grpc::Status s;
  monitor("nope", &s);
  CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace ha::stonithd
