// cibd's Cib service end to end: the service on a real event loop on its own thread, the CIB
// saved in a temporary folder, a real gRPC client on a Unix socket.
#include "cibd/cib_service.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cibd/cib_diff.h"
#include "cibd/cib_store.h"
#include "common/grpc_unix_client.h"
#include "common/grpc_unix_server.h"

namespace ha::cib {
namespace {

namespace fs = std::filesystem;

// cibd's logic served on a temporary socket; the CIB lives in `dir`/cib, loaded at start.
class Harness {
 public:
  // `keep`: leave the folder behind (for a restart).
  explicit Harness(std::string dir, bool keep = false) : dir_(std::move(dir)), keep_(keep) {
    fs::create_directories(dir_ + "/cib");
    auto loop = CreateQbEventLoop();
    REQUIRE(loop.ok());
    loop_ = *std::move(loop);
    store_ = std::make_unique<CibStore>(dir_ + "/cib", clock_);
    auto loaded = store_->Load();
    CibDocument initial = loaded.ok() ? std::move(loaded->document) : EmptyCib();
    core_ = std::make_unique<CibCore>(std::move(initial), store_.get(), clock_, "node1");
    service_ = std::make_unique<CibService>(
        *loop_,
        *core_,
        [this](const grpc::ServerContextBase& ctx) { return server_->PeerOf(ctx); },
        users_);
    UnixGrpcServer::Options options;
    options.socket_path = dir_ + "/cibd.sock";
    options.policy = PeerPolicy({getuid()}, {});
    options.services = {service_.get()};
    auto server = UnixGrpcServer::Start(options);
    REQUIRE(server.ok());
    server_ = *std::move(server);
    thread_ = std::thread([this] { loop_->Run(); });
    stub_ = v1::Cib::NewStub(ConnectUnix(options.socket_path));
  }

  ~Harness() {
    service_->Stop();
    server_->Shutdown();
    server_.reset();
    loop_->Stop();
    thread_.join();
    service_.reset();
    core_.reset();
    store_.reset();
    loop_.reset();
    if (!keep_) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  v1::Cib::Stub& stub() { return *stub_; }

 private:
  std::string dir_;
  bool keep_ = false;
  RealClock clock_;
  SystemUserDirectory users_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<CibStore> store_;
  std::unique_ptr<CibCore> core_;
  std::unique_ptr<CibService> service_;
  std::unique_ptr<UnixGrpcServer> server_;
  std::thread thread_;
  std::unique_ptr<v1::Cib::Stub> stub_;
};

std::string TempDir() {
  static int counter = 0;
  std::string dir =
      (fs::temp_directory_path() /
       ("ha-cib-service-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter)))
          .string();
  fs::remove_all(dir);
  return dir;
}

CibVersion V(const v1::CibVersion& v) {
  return CibVersion{v.admin_epoch(), v.epoch(), v.num_updates()};
}

grpc::Status Create(v1::Cib::Stub& stub,
                    const std::string& scope,
                    const std::string& xml,
                    v1::WriteResponse* out,
                    const std::string& user = "") {
  v1::CreateRequest req;
  req.mutable_target()->set_scope(scope);
  req.set_xml(xml);
  req.mutable_options()->set_user(user);
  req.mutable_options()->set_client_name("test");
  auto ctx = ContextWithDeadline();
  return stub.Create(ctx.get(), req, out);
}

grpc::Status Query(v1::Cib::Stub& stub,
                   const std::string& scope,
                   const std::string& xpath,
                   v1::QueryResponse* out,
                   const std::string& user = "") {
  v1::QueryRequest req;
  req.mutable_target()->set_scope(scope);
  req.mutable_target()->set_xpath(xpath);
  req.mutable_options()->set_user(user);
  auto ctx = ContextWithDeadline();
  return stub.Query(ctx.get(), req, out);
}

constexpr char kDummy[] = R"(<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"/>)";

TEST_CASE("Cib service: create, modify, query, delete with the version rules") {
  Harness h(TempDir());
  v1::GetVersionResponse version;
  {
    auto ctx = ContextWithDeadline();
    REQUIRE(h.stub().GetVersion(ctx.get(), v1::GetVersionRequest(), &version).ok());
  }
  CHECK(V(version.version()) == CibVersion{0, 0, 0});
  CHECK(version.validate_with() == "pacemaker-3.9");
  CHECK(version.have_quorum());

  v1::WriteResponse w;
  REQUIRE(Create(h.stub(), "resources", kDummy, &w).ok());
  CHECK(w.changed());
  CHECK(V(w.version()) == CibVersion{0, 1, 0});
  CHECK(Create(h.stub(), "resources", kDummy, &w).error_code() == grpc::StatusCode::ALREADY_EXISTS);
  CHECK(Create(h.stub(), "resources", "<primitive id=", &w).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(Create(h.stub(), "nonsense", kDummy, &w).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);

  {
    v1::ModifyRequest req;
    req.set_xml(R"(<primitive id="d1" description="a dummy"/>)");
    auto ctx = ContextWithDeadline();
    REQUIRE(h.stub().Modify(ctx.get(), req, &w).ok());
    CHECK(V(w.version()) == CibVersion{0, 2, 0});
    req.set_xml(R"(<primitive id="nope" description="x"/>)");
    auto ctx2 = ContextWithDeadline();
    CHECK(h.stub().Modify(ctx2.get(), req, &w).error_code() == grpc::StatusCode::NOT_FOUND);
  }
  {
    // A status change raises num_updates.
    REQUIRE(Create(h.stub(), "status", R"(<node_state id="1" uname="node1"/>)", &w).ok());
    CHECK(V(w.version()) == CibVersion{0, 2, 1});
  }
  {
    v1::ModifyRequest req;
    req.set_xml(R"(<primitive id="d1" description="other"/>)");
    *req.mutable_options()->mutable_expected_version() = v1::CibVersion();
    auto ctx = ContextWithDeadline();
    CHECK(h.stub().Modify(ctx.get(), req, &w).error_code() == grpc::StatusCode::ABORTED);
    req.mutable_options()->set_local(true);
    auto ctx2 = ContextWithDeadline();
    CHECK(h.stub().Modify(ctx2.get(), req, &w).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  v1::QueryResponse q;
  REQUIRE(Query(h.stub(), "", "//primitive[@id='d1']", &q).ok());
  CHECK(absl::StrContains(q.xml(), "description=\"a dummy\""));
  CHECK(q.matches() == 1);
  CHECK(V(q.version()) == CibVersion{0, 2, 1});
  REQUIRE(Query(h.stub(), "resources", "", &q).ok());
  CHECK(absl::StartsWith(q.xml(), "<resources"));
  CHECK(Query(h.stub(), "", "//primitive[@id='zz']", &q).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  CHECK(Query(h.stub(), "resources", "//x", &q).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  {
    v1::QueryRequest req;
    req.mutable_target()->set_xpath("//primitive");
    req.set_node_path(true);
    auto ctx = ContextWithDeadline();
    REQUIRE(h.stub().Query(ctx.get(), req, &q).ok());
    CHECK(q.xml() == "/cib/configuration/resources/primitive[@id='d1']");
  }
  {
    v1::DeleteRequest req;
    req.set_xml(R"(<primitive id="d1"/>)");
    auto ctx = ContextWithDeadline();
    REQUIRE(h.stub().Delete(ctx.get(), req, &w).ok());
    CHECK(V(w.version()) == CibVersion{0, 3, 0});
    auto ctx2 = ContextWithDeadline();
    CHECK(h.stub().Delete(ctx2.get(), req, &w).error_code() == grpc::StatusCode::NOT_FOUND);
  }
  {
    v1::BumpEpochRequest req;
    auto ctx = ContextWithDeadline();
    REQUIRE(h.stub().BumpEpoch(ctx.get(), req, &w).ok());
    CHECK(V(w.version()) == CibVersion{0, 4, 0});
  }
  {
    v1::EraseRequest req;
    auto ctx = ContextWithDeadline();
    CHECK(h.stub().Erase(ctx.get(), req, &w).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    req.mutable_options()->set_force(true);
    auto ctx2 = ContextWithDeadline();
    REQUIRE(h.stub().Erase(ctx2.get(), req, &w).ok());
    CHECK(w.changed());
  }
  {
    // A transaction: one version bump for both, or nothing.
    v1::ApplyTransactionRequest req;
    auto* c1 = req.add_operations()->mutable_create();
    c1->mutable_target()->set_scope("resources");
    c1->set_xml(kDummy);
    auto* c2 = req.add_operations()->mutable_create();
    c2->mutable_target()->set_scope("resources");
    c2->set_xml(kDummy);
    auto ctx = ContextWithDeadline();
    grpc::Status s = h.stub().ApplyTransaction(ctx.get(), req, &w);
    CHECK(s.error_code() == grpc::StatusCode::ALREADY_EXISTS);
    CHECK(absl::StartsWith(s.error_message(), "operation 1: "));
    req.mutable_operations()->RemoveLast();
    auto ctx2 = ContextWithDeadline();
    REQUIRE(h.stub().ApplyTransaction(ctx2.get(), req, &w).ok());
    CHECK(w.version().epoch() >= 1);
  }
  {
    // A whole-CIB replace with an older version is refused.
    v1::ReplaceRequest req;
    req.set_xml(
        R"(<cib admin_epoch="0" epoch="0" num_updates="0"><configuration><crm_config/><nodes/><resources/><constraints/></configuration><status/></cib>)");
    auto ctx = ContextWithDeadline();
    CHECK(h.stub().Replace(ctx.get(), req, &w).error_code() == grpc::StatusCode::ABORTED);
  }
}

TEST_CASE("Cib service: ACLs of the user a privileged caller names") {
  Harness h(TempDir());
  v1::WriteResponse w;
  {
    v1::ModifyRequest req;
    req.mutable_target()->set_scope("crm_config");
    req.set_allow_create(true);
    req.set_xml(
        R"(<cluster_property_set id="opts"><nvpair id="acl" name="enable-acl" value="true"/></cluster_property_set>)");
    auto ctx = ContextWithDeadline();
    REQUIRE(h.stub().Modify(ctx.get(), req, &w).ok());
  }
  REQUIRE(
      Create(
          h.stub(),
          "acls",
          R"(<acl_role id="ro"><acl_permission id="ro-p" kind="read" xpath="/cib/configuration/resources"/></acl_role>)",
          &w)
          .ok());
  REQUIRE(
      Create(h.stub(), "acls", R"(<acl_target id="nobody"><role id="ro"/></acl_target>)", &w).ok());
  REQUIRE(Create(h.stub(), "resources", kDummy, &w).ok());

  v1::QueryResponse q;
  REQUIRE(Query(h.stub(), "resources", "", &q, "nobody").ok());
  CHECK(absl::StrContains(q.xml(), "d1"));
  grpc::Status denied = Query(h.stub(), "constraints", "", &q, "nobody");
  CHECK(denied.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status write =
      Create(h.stub(),
             "resources",
             R"(<primitive id="d2" class="ocf" provider="pacemaker" type="Dummy"/>)",
             &w,
             "nobody");
  CHECK(write.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(Query(h.stub(), "", "", &q, "stranger").error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  // Nothing was written by the refused call.
  REQUIRE(Query(h.stub(), "", "//primitive[@id='d2']", &q).error_code() ==
          grpc::StatusCode::NOT_FOUND);
}

// A Subscribe stream read on a thread of its own.
class Subscriber {
 public:
  Subscriber(v1::Cib::Stub& stub, const v1::SubscribeRequest& request) {
    reader_ = stub.Subscribe(&ctx_, request);
    reader_->WaitForInitialMetadata();
    thread_ = std::thread([this] {
      v1::CibChange change;
      while (reader_->Read(&change)) {
        absl::MutexLock lock(&mu_);
        changes_.push_back(change);
      }
      (void)reader_->Finish();
    });
  }
  ~Subscriber() {
    ctx_.TryCancel();
    thread_.join();
  }
  std::vector<v1::CibChange> WaitFor(size_t n) {
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      {
        absl::MutexLock lock(&mu_);
        if (changes_.size() >= n) {
          return changes_;
        }
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    absl::MutexLock lock(&mu_);
    return changes_;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::CibChange>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<v1::CibChange> changes_ ABSL_GUARDED_BY(mu_);
};

TEST_CASE("Cib service: subscribers get every change in order and can follow it") {
  Harness h(TempDir());
  v1::SubscribeRequest req;
  req.set_initial_cib(true);
  Subscriber sub(h.stub(), req);
  v1::WriteResponse w;
  constexpr int kWrites = 20;
  for (int i = 0; i < kWrites; ++i) {
    REQUIRE(Create(h.stub(),
                   i % 2 == 0 ? "resources" : "status",
                   i % 2 == 0 ? "<primitive id=\"p" + std::to_string(i) +
                                    "\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"/>"
                              : "<node_state id=\"" + std::to_string(i) + "\" uname=\"n" +
                                    std::to_string(i) + "\"/>",
                   &w)
                .ok());
  }
  std::vector<v1::CibChange> got = sub.WaitFor(kWrites + 1);
  REQUIRE(got.size() == kWrites + 1);
  REQUIRE(got[0].has_resync());
  auto doc = CibDocument::Parse(got[0].resync().cib_xml());
  REQUIRE(doc.ok());
  CibDocument copy = std::move(doc).value();
  for (int i = 1; i <= kWrites; ++i) {
    REQUIRE(got[i].has_patchset());
    CHECK(V(got[i].patchset().source_version()) == copy.Version());
    CHECK(got[i].patchset().client() == "test");
    CHECK(got[i].patchset().operation() == "create");
    auto next = ApplyPatchset(copy, got[i].patchset().diff_xml());
    REQUIRE(next.ok());
    copy = std::move(next).value();
    CHECK(copy.Digest() == got[i].patchset().digest());
  }
  CHECK(V(w.version()) == copy.Version());
  CHECK(w.digest() == copy.Digest());
}

TEST_CASE("Cib service: a restart keeps the CIB") {
  const std::string dir = TempDir();
  v1::WriteResponse w;
  {
    Harness h(dir, /*keep=*/true);
    REQUIRE(Create(h.stub(), "resources", kDummy, &w).ok());
  }
  Harness h(dir);
  v1::QueryResponse q;
  REQUIRE(Query(h.stub(), "", "//primitive[@id='d1']", &q).ok());
  CHECK(V(q.version()) == V(w.version()));
  v1::GetVersionResponse version;
  auto ctx = ContextWithDeadline();
  REQUIRE(h.stub().GetVersion(ctx.get(), v1::GetVersionRequest(), &version).ok());
  CHECK(version.digest() == w.digest());
}

}  // namespace
}  // namespace ha::cib
