#include "tools/crm_resource_util.h"

#include <catch2/catch.hpp>

namespace cr = ha::crm_resource;
namespace lrmdpb = ha::lrmd::v1;

TEST_CASE("agent specs parse as Pacemaker's crm_parse_agent_spec", "[crm_resource]") {
  auto ocf = cr::ParseAgentSpec("ocf:heartbeat:Dummy");
  REQUIRE(ocf.ok());
  CHECK(ocf->resource_class() == "ocf");
  CHECK(ocf->provider() == "heartbeat");
  CHECK(ocf->type() == "Dummy");
  CHECK(cr::AgentName(*ocf) == "ocf:heartbeat:Dummy");

  auto lsb = cr::ParseAgentSpec("LSB:cron");
  REQUIRE(lsb.ok());
  CHECK(lsb->resource_class() == "lsb");
  CHECK(lsb->provider().empty());
  CHECK(lsb->type() == "cron");
  CHECK(cr::AgentName(*lsb) == "lsb:cron");

  for (const char* bad :
       {"", "Dummy", ":Dummy", "ocf:Dummy", "ocf::Dummy", "ocf:heartbeat:", "lsb:"}) {
    INFO(bad);
    auto parsed = cr::ParseAgentSpec(bad);
    REQUIRE(!parsed.ok());
    CHECK(parsed.status().message() ==
          std::string("'") + bad + "' is not a valid agent specification");
  }
}

TEST_CASE("standard specs split class and provider", "[crm_resource]") {
  CHECK(cr::ParseStandardSpec("ocf") == std::make_pair(std::string("ocf"), std::string()));
  CHECK(cr::ParseStandardSpec("OCF:heartbeat") ==
        std::make_pair(std::string("ocf"), std::string("heartbeat")));
}

TEST_CASE("times read as Pacemaker's crm_get_msec (seconds by default)", "[crm_resource]") {
  CHECK(*cr::ParseTimeMs("20") == 20000);
  CHECK(*cr::ParseTimeMs(" 20s ") == 20000);
  CHECK(*cr::ParseTimeMs("500ms") == 500);
  CHECK(*cr::ParseTimeMs("500 msec") == 500);
  CHECK(*cr::ParseTimeMs("2min") == 120000);
  CHECK(*cr::ParseTimeMs("2m") == 120000);
  CHECK(*cr::ParseTimeMs("1h") == 3600000);
  CHECK(*cr::ParseTimeMs("5000us") == 5);
  for (const char* bad : {"", "s", "0", "0ms", "10x", "-5", "1.5s", "9999999999999", "5000000s"}) {
    INFO(bad);
    CHECK(!cr::ParseTimeMs(bad).ok());
  }
}

TEST_CASE("--option takes NAME=VALUE", "[crm_resource]") {
  auto p = cr::ParseNameValue("state=/tmp/x=y");
  REQUIRE(p.ok());
  CHECK(p->first == "state");
  CHECK(p->second == "/tmp/x=y");
  auto empty = cr::ParseNameValue("fake=");
  REQUIRE(empty.ok());
  CHECK(empty->second.empty());
  CHECK(!cr::ParseNameValue("state").ok());
  CHECK(!cr::ParseNameValue("=x").ok());
}

TEST_CASE("commands map to lrmd actions", "[crm_resource]") {
  CHECK(cr::LrmdAction("force-start") == "start");
  CHECK(cr::LrmdAction("force-stop") == "stop");
  CHECK(cr::LrmdAction("force-check") == "monitor");
  CHECK(cr::LrmdAction("force-promote") == "promote");
  CHECK(cr::LrmdAction("force-demote") == "demote");
  CHECK(cr::LrmdAction("validate") == "validate-all");
  CHECK(cr::LrmdAction("list-agents").empty());
}

TEST_CASE("results are worded as Pacemaker's crm_resource words them", "[crm_resource]") {
  lrmdpb::ActionResult r;
  r.mutable_agent()->set_resource_class("ocf");
  r.mutable_agent()->set_provider("heartbeat");
  r.mutable_agent()->set_type("Dummy");
  r.set_exec_status(lrmdpb::EXEC_DONE);
  r.set_exit_code(lrmdpb::OCF_OK);
  cr::ResultLine ok = cr::FormatResult("force-start", "", r);
  CHECK(ok.text == "Operation force-start (ocf:heartbeat:Dummy) returned 0 (ok)");
  CHECK(!ok.is_error);

  r.set_exit_code(lrmdpb::OCF_NOT_RUNNING);
  CHECK(cr::FormatResult("force-check", "db", r).text ==
        "Operation force-check for db (ocf:heartbeat:Dummy) returned 7 (not running)");

  r.set_exit_code(lrmdpb::OCF_ERR_CONFIGURED);
  r.set_exit_reason("IP address (the ip parameter) is mandatory");
  CHECK(cr::FormatResult("validate", "", r).text ==
        "Operation validate (ocf:heartbeat:Dummy) returned 6 (not configured: IP address (the ip "
        "parameter) is mandatory)");

  r.set_exec_status(lrmdpb::EXEC_TIMED_OUT);
  r.set_exit_code(lrmdpb::OCF_ERR_GENERIC);
  r.set_exit_reason("Timed out after 1000ms");
  cr::ResultLine timed_out = cr::FormatResult("force-stop", "", r);
  CHECK(timed_out.text ==
        "Operation force-stop (ocf:heartbeat:Dummy) could not be executed (Timed out: Timed out "
        "after 1000ms)");
  CHECK(timed_out.is_error);

  lrmdpb::ActionResult lsb;
  lsb.mutable_agent()->set_resource_class("lsb");
  lsb.mutable_agent()->set_type("cron");
  lsb.set_exec_status(lrmdpb::EXEC_NOT_INSTALLED);
  lsb.set_exit_code(lrmdpb::OCF_ERR_INSTALLED);
  CHECK(cr::FormatResult("force-start", "", lsb).text ==
        "Operation force-start (lsb:cron) could not be executed (Not installed)");
}

TEST_CASE("exit codes are Pacemaker's", "[crm_resource]") {
  CHECK(cr::ExitForRpcError(absl::UnavailableError("x")) == cr::CrmExit::kDisconnect);
  CHECK(cr::ToInt(cr::CrmExit::kDisconnect) == 102);
  CHECK(cr::ExitForRpcError(absl::DeadlineExceededError("x")) == cr::CrmExit::kTimeout);
  CHECK(cr::ExitForRpcError(absl::PermissionDeniedError("x")) == cr::CrmExit::kInsufficientPriv);
  CHECK(cr::ExitForRpcError(absl::NotFoundError("x")) == cr::CrmExit::kNoSuch);
  CHECK(cr::ExitForRpcError(absl::InvalidArgumentError("x")) == cr::CrmExit::kUsage);
  CHECK(cr::ExitForRpcError(absl::FailedPreconditionError("x")) == cr::CrmExit::kUnsafe);
  CHECK(cr::ExitForRpcError(absl::InternalError("x")) == cr::CrmExit::kError);
  CHECK(cr::CrmExitText(7) == "Not running");
  CHECK(cr::CrmExitText(102) == "Not connected");
  CHECK(cr::OcfExitCodeText(9) == "promoted (failed)");
  CHECK(cr::ExecStatusText(lrmdpb::EXEC_NOT_CONNECTED) == "Internal communication failure");
}
