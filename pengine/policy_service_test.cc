// The PolicyEngine service: transitions over the API, and the archive of inputs it keeps.
#include "pengine/policy_service.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ha::pengine {
namespace {

namespace pb = ha::pengine::v1;
namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/pengine-test-XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

std::string Cib(const std::string& extra_options = "") {
  return "<cib validate-with=\"pacemaker-3.7\" crm_feature_set=\"3.16.2\" epoch=\"1\" "
         "num_updates=\"1\" admin_epoch=\"0\" have-quorum=\"1\"><configuration><crm_config>"
         "<cluster_property_set id=\"o\"><nvpair id=\"o1\" name=\"stonith-enabled\" "
         "value=\"false\"/>" +
         extra_options +
         "</cluster_property_set></crm_config><nodes><node id=\"1\" uname=\"n1\"/></nodes>"
         "<resources><primitive id=\"a\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"/>"
         "</resources><constraints/></configuration><status><node_state id=\"1\" uname=\"n1\" "
         "in_ccm=\"true\" crmd=\"online\" join=\"member\" expected=\"member\"/></status></cib>";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST_CASE("ComputeTransition answers the graph and summary, and archives the input") {
  TempDir dir;
  PolicyService service(dir.path, [] { return int64_t{1700000000}; });
  grpc::ServerContext context;
  pb::ComputeTransitionRequest request;
  request.set_cib_xml(Cib());
  request.set_show_scores(true);
  pb::ComputeTransitionResponse response;
  REQUIRE(service.ComputeTransition(&context, &request, &response).ok());
  REQUIRE(response.summary_size() == 1);
  CHECK(response.summary(0).find("Start") != std::string::npos);
  CHECK(response.graph_xml().find("operation_key=\"a_start_0\"") != std::string::npos);
  CHECK(response.action_count() >= 1);
  CHECK(response.transition_id() == 0);
  REQUIRE(response.scores_size() == 1);
  CHECK(response.scores(0).score() == "0");
  REQUIRE(response.has_saved_input());
  CHECK(response.saved_input().path() == dir.path + "/pe-input-0.bz2");

  // The archived input replays the decision: same CIB, with "now" stamped in.
  auto xml = Bzip2Decompress(ReadFile(response.saved_input().path()), 1 << 20);
  REQUIRE(xml.ok());
  CHECK(xml->find("execution-date=\"1700000000\"") != std::string::npos);

  pb::ComputeTransitionResponse second;
  REQUIRE(service.ComputeTransition(&context, &request, &second).ok());
  CHECK(second.transition_id() == 1);
  CHECK(second.saved_input().number() == 1);

  pb::ListSavedInputsRequest list;
  pb::ListSavedInputsResponse listed;
  REQUIRE(service.ListSavedInputs(&context, &list, &listed).ok());
  CHECK(listed.inputs_size() == 2);
}

TEST_CASE("dry runs are not archived; series wrap at pe-input-series-max") {
  TempDir dir;
  PolicyService service(dir.path, [] { return int64_t{1700000000}; });
  grpc::ServerContext context;
  pb::ComputeTransitionRequest request;
  request.set_cib_xml(Cib("<nvpair id=\"o2\" name=\"pe-input-series-max\" value=\"2\"/>"));
  request.set_dry_run(true);
  pb::ComputeTransitionResponse response;
  REQUIRE(service.ComputeTransition(&context, &request, &response).ok());
  CHECK_FALSE(response.has_saved_input());
  request.set_dry_run(false);
  std::vector<uint32_t> numbers;
  for (int i = 0; i < 3; ++i) {
    pb::ComputeTransitionResponse r;
    REQUIRE(service.ComputeTransition(&context, &request, &r).ok());
    numbers.push_back(r.saved_input().number());
  }
  CHECK(numbers == std::vector<uint32_t>{0, 1, 0});
  CHECK_FALSE(fs::exists(dir.path + "/pe-input-2.bz2"));
}

TEST_CASE("inputs with unsupported features go to the pe-warn series") {
  TempDir dir;
  PolicyService service(dir.path, [] { return int64_t{1700000000}; });
  grpc::ServerContext context;
  pb::ComputeTransitionRequest request;
  std::string cib = Cib();
  cib.replace(cib.find("<primitive"),
              0,
              "<clone id=\"c\"><primitive id=\"b\" class=\"ocf\" "
              "provider=\"pacemaker\" type=\"Dummy\"/></clone>");
  request.set_cib_xml(cib);
  pb::ComputeTransitionResponse response;
  REQUIRE(service.ComputeTransition(&context, &request, &response).ok());
  CHECK(response.saved_input().series() == pb::PE_WARN);
  REQUIRE(response.diagnostics_size() == 1);
  CHECK(response.diagnostics(0).code() == "unsupported-feature");
}

TEST_CASE("malformed input is an INVALID_ARGUMENT naming the problem") {
  TempDir dir;
  PolicyService service(dir.path, [] { return int64_t{0}; });
  grpc::ServerContext context;
  pb::ComputeTransitionRequest request;
  request.set_cib_xml("<cib><configuration>");
  pb::ComputeTransitionResponse response;
  grpc::Status status = service.ComputeTransition(&context, &request, &response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().find("not well-formed") != std::string::npos);
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("bzip2 refuses what it cannot read and bounds the output") {
  CHECK_FALSE(Bzip2Decompress("not bzip2", 100).ok());
  auto packed = Bzip2Compress(std::string(10000, 'x'));
  REQUIRE(packed.ok());
  CHECK(Bzip2Decompress(*packed, 100).status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(*Bzip2Decompress(*packed, 20000) == std::string(10000, 'x'));
}

}  // namespace
}  // namespace ha::pengine
