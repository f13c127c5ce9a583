#include "tools/crm_resource_util.h"

#include <cctype>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ha::crm_resource {

namespace lrmdpb = ha::lrmd::v1;

absl::string_view CrmExitText(int code) {
  switch (code) {
    case 0:
      return "OK";
    case 1:
      return "Error occurred";
    case 2:
      return "Invalid parameter";
    case 3:
      return "Unimplemented";
    case 4:
      return "Insufficient privileges";
    case 5:
      return "Not installed";
    case 6:
      return "Not configured";
    case 7:
      return "Not running";
    case 8:
      return "Promoted";
    case 9:
      return "Failed in promoted role";
    case 64:
      return "Incorrect usage";
    case 78:
      return "Invalid configuration";
    case 102:
      return "Not connected";
    case 105:
      return "No such object";
    case 107:
      return "Operation not safe";
    case 124:
      return "Timeout occurred";
    default:
      return "Unknown exit status";
  }
}

absl::string_view OcfExitCodeText(int code) {
  switch (code) {
    case 0:
      return "ok";
    case 1:
      return "error";
    case 2:
      return "invalid parameter";
    case 3:
      return "unimplemented feature";
    case 4:
      return "insufficient privileges";
    case 5:
      return "not installed";
    case 6:
      return "not configured";
    case 7:
      return "not running";
    case 8:
      return "promoted";
    case 9:
      return "promoted (failed)";
    default:
      return "unknown";
  }
}

absl::string_view ExecStatusText(lrmdpb::ExecStatus status) {
  switch (static_cast<int>(status)) {
    case lrmdpb::EXEC_PENDING:
      return "Pending";
    case lrmdpb::EXEC_DONE:
      return "Done";
    case lrmdpb::EXEC_CANCELLED:
      return "Cancelled";
    case lrmdpb::EXEC_TIMED_OUT:
      return "Timed out";
    case lrmdpb::EXEC_NOT_SUPPORTED:
      return "Unsupported";
    case lrmdpb::EXEC_ERROR:
      return "Error";
    case lrmdpb::EXEC_ERROR_HARD:
      return "Hard error";
    case lrmdpb::EXEC_ERROR_FATAL:
      return "Fatal error";
    case lrmdpb::EXEC_NOT_INSTALLED:
      return "Not installed";
    case lrmdpb::EXEC_NOT_CONNECTED:
      return "Internal communication failure";
    case lrmdpb::EXEC_INVALID:
      return "Cannot execute now";
    default:
      return "Unrecognized status (bug?)";
  }
}

absl::StatusOr<lrmdpb::AgentId> ParseAgentSpec(absl::string_view spec) {
  auto invalid = [spec] {
    return absl::InvalidArgumentError(
        absl::StrCat("'", spec, "' is not a valid agent specification"));
  };
  size_t colon = spec.find(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return invalid();
  }
  lrmdpb::AgentId agent;
  agent.set_resource_class(absl::AsciiStrToLower(spec.substr(0, colon)));
  absl::string_view rest = spec.substr(colon + 1);
  if (agent.resource_class() == "ocf") {
    colon = rest.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return invalid();
    }
    agent.set_provider(std::string(rest.substr(0, colon)));
    rest = rest.substr(colon + 1);
  }
  if (rest.empty()) {
    return invalid();
  }
  agent.set_type(std::string(rest));
  return agent;
}

std::pair<std::string, std::string> ParseStandardSpec(absl::string_view spec) {
  size_t colon = spec.find(':');
  if (colon == absl::string_view::npos) {
    return {absl::AsciiStrToLower(spec), ""};
  }
  return {absl::AsciiStrToLower(spec.substr(0, colon)), std::string(spec.substr(colon + 1))};
}

std::string AgentName(const lrmdpb::AgentId& agent) {
  if (agent.provider().empty()) {
    return absl::StrCat(agent.resource_class(), ":", agent.type());
  }
  return absl::StrCat(agent.resource_class(), ":", agent.provider(), ":", agent.type());
}

absl::StatusOr<uint32_t> ParseTimeMs(absl::string_view text) {
  auto invalid = [text] {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a valid time"));
  };
  absl::string_view t = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < t.size() && std::isdigit(static_cast<unsigned char>(t[digits])) != 0) {
    ++digits;
  }
  uint64_t number = 0;
  if (digits == 0 || digits > 12 || !absl::SimpleAtoi(t.substr(0, digits), &number)) {
    return invalid();
  }
  std::string unit = absl::AsciiStrToLower(absl::StripLeadingAsciiWhitespace(t.substr(digits)));
  uint64_t ms = 0;
  if (unit.empty() || unit == "s" || unit == "sec") {
    ms = number * 1000;
  } else if (unit == "ms" || unit == "msec") {
    ms = number;
  } else if (unit == "us" || unit == "usec") {
    ms = number / 1000;
  } else if (unit == "m" || unit == "min") {
    ms = number * 60 * 1000;
  } else if (unit == "h" || unit == "hr") {
    ms = number * 60 * 60 * 1000;
  } else {
    return invalid();
  }
  if (ms == 0 || ms > std::numeric_limits<uint32_t>::max()) {
    return invalid();
  }
  return static_cast<uint32_t>(ms);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseNameValue(absl::string_view text) {
  size_t eq = text.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not NAME=VALUE (error parsing option --option)"));
  }
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

absl::string_view LrmdAction(absl::string_view command) {
  if (command == "force-start") {
    return "start";
  }
  if (command == "force-stop") {
    return "stop";
  }
  if (command == "force-check") {
    return "monitor";
  }
  if (command == "force-promote") {
    return "promote";
  }
  if (command == "force-demote") {
    return "demote";
  }
  if (command == "validate") {
    return "validate-all";
  }
  return "";
}

ResultLine FormatResult(absl::string_view command,
                        absl::string_view name,
                        const lrmdpb::ActionResult& result) {
  std::string head = absl::StrCat("Operation ",
                                  command,
                                  name.empty() ? "" : " for ",
                                  name,
                                  " (",
                                  AgentName(result.agent()),
                                  ")");
  std::string reason =
      result.exit_reason().empty() ? std::string() : absl::StrCat(": ", result.exit_reason());
  if (result.exec_status() == lrmdpb::EXEC_DONE) {
    const int code = static_cast<int>(result.exit_code());
    return {absl::StrCat(head, " returned ", code, " (", OcfExitCodeText(code), reason, ")"),
            false};
  }
  return {absl::StrCat(
              head, " could not be executed (", ExecStatusText(result.exec_status()), reason, ")"),
          true};
}

CrmExit ExitForRpcError(const absl::Status& status) {
  if (absl::IsUnavailable(status)) {
    return CrmExit::kDisconnect;
  }
  if (absl::IsDeadlineExceeded(status)) {
    return CrmExit::kTimeout;
  }
  if (absl::IsPermissionDenied(status) || absl::IsUnauthenticated(status)) {
    return CrmExit::kInsufficientPriv;
  }
  if (absl::IsNotFound(status)) {
    return CrmExit::kNoSuch;
  }
  if (absl::IsInvalidArgument(status)) {
    return CrmExit::kUsage;
  }
  if (absl::IsFailedPrecondition(status)) {
    return CrmExit::kUnsafe;
  }
  return CrmExit::kError;
}

}  // namespace ha::crm_resource
