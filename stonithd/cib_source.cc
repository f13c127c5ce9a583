#include "stonithd/cib_source.h"

#include <memory>
#include <utility>

#include "common/grpc_status.h"
#include "common/grpc_unix_client.h"
#include "common/logging.h"
#include "proto/cib.grpc.pb.h"
#include "pugixml.hpp"
#include "stonithd/fence_device.h"

namespace ha::stonithd {
namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(10);
constexpr char kClientName[] = "stonithd";

}  // namespace

CibSource::CibSource(EventLoop& loop,
                     StonithdDriver& driver,
                     std::string cib_socket,
                     absl::Duration interval)
    : loop_(loop), driver_(driver), socket_(std::move(cib_socket)), interval_(interval) {}

CibSource::~CibSource() {
  Stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void CibSource::Start() {
  thread_ = std::thread([this] { Run(); });
}

void CibSource::Run() {
  while (!stop_.HasBeenNotified()) {
    if (!PollOnce()) {
      digest_.clear();  // read it again once cibd is back
    }
    stop_.WaitForNotificationWithTimeout(interval_);
  }
}

bool CibSource::PollOnce() {
  auto stub = cib::v1::Cib::NewStub(ConnectUnix(socket_));
  cib::v1::GetVersionRequest version_request;
  version_request.mutable_options()->set_client_name(kClientName);
  cib::v1::GetVersionResponse version;
  auto ctx = ContextWithDeadline(kCallTimeout);
  absl::Status s = FromGrpcStatus(stub->GetVersion(ctx.get(), version_request, &version));
  if (!s.ok()) {
    if (!reported_down_) {
      HA_LOG_WARN(
          "cib", "cannot read the CIB from %s (keeping the devices): %s", socket_, s.ToString());
      reported_down_ = true;
    }
    return false;
  }
  if (reported_down_) {
    HA_LOG_NOTICE("cib", "cibd answers again");
    reported_down_ = false;
  }
  if (!digest_.empty() && version.digest() == digest_) {
    return true;
  }
  cib::v1::QueryRequest query;
  query.mutable_options()->set_client_name(kClientName);
  cib::v1::QueryResponse answer;
  auto query_ctx = ContextWithDeadline(kCallTimeout);
  s = FromGrpcStatus(stub->Query(query_ctx.get(), query, &answer));
  if (!s.ok()) {
    HA_LOG_WARN("cib", "Query: %s", s.ToString());
    return false;
  }
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(answer.xml().data(), answer.xml().size());
  if (!parsed) {
    HA_LOG_ERROR("cib", "the CIB does not parse: %s", parsed.description());
    return false;
  }
  auto give_up = [this] { return stop_.HasBeenNotified(); };
  absl::StatusOr<FencingConfig> config =
      ParseFencingConfig(doc, [this, &give_up](const std::string& agent) {
        return driver_.CapabilitiesOf(agent, absl::Seconds(15), give_up);
      });
  if (!config.ok()) {
    HA_LOG_ERROR("cib", "fencing configuration: %s", config.status().ToString());
    return false;
  }
  if (stop_.HasBeenNotified()) {
    return true;
  }
  HA_LOG_INFO("cib",
              "CIB %s: %zu fence devices, %zu topology levels",
              version.digest(),
              config->devices.size(),
              config->topology.levels().size());
  digest_ = version.digest();
  loop_.Post([this, config = std::make_shared<FencingConfig>(*std::move(config))]() mutable {
    driver_.ApplyCibConfig(std::move(*config));
  });
  return true;
}

}  // namespace ha::stonithd
