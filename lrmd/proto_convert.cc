#include "lrmd/proto_convert.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace ha::lrmd {
namespace {

constexpr size_t kMaxTailBytes = 4096;

v1::ExecStatus ToProto(ExecStatus status) {
  switch (status) {
    case ExecStatus::kPending:
      return v1::EXEC_PENDING;
    case ExecStatus::kDone:
      return v1::EXEC_DONE;
    case ExecStatus::kCancelled:
      return v1::EXEC_CANCELLED;
    case ExecStatus::kTimedOut:
      return v1::EXEC_TIMED_OUT;
    case ExecStatus::kNotSupported:
      return v1::EXEC_NOT_SUPPORTED;
    case ExecStatus::kError:
      return v1::EXEC_ERROR;
    case ExecStatus::kNotInstalled:
      return v1::EXEC_NOT_INSTALLED;
    case ExecStatus::kNotConnected:
      return v1::EXEC_NOT_CONNECTED;
  }
  return v1::EXEC_STATUS_UNSPECIFIED;
}

// Keeps the last kMaxTailBytes of `text`; sets `truncated` when it cut.
std::string Tail(const std::string& text, bool& truncated) {
  if (text.size() <= kMaxTailBytes) {
    return text;
  }
  truncated = true;
  return text.substr(text.size() - kMaxTailBytes);
}

uint32_t ToMs(absl::Duration d) {
  return static_cast<uint32_t>(absl::ToInt64Milliseconds(d));
}

}  // namespace

std::optional<AgentClass> AgentClassFromName(const std::string& name) {
  if (name == "ocf") {
    return AgentClass::kOcf;
  }
  if (name == "lsb") {
    return AgentClass::kLsb;
  }
  if (name == "systemd") {
    return AgentClass::kSystemd;
  }
  if (name == "service") {
    return AgentClass::kService;
  }
  if (name == "stonith") {
    return AgentClass::kStonith;
  }
  return std::nullopt;
}

std::string AgentClassToName(AgentClass agent_class) {
  switch (agent_class) {
    case AgentClass::kOcf:
      return "ocf";
    case AgentClass::kLsb:
      return "lsb";
    case AgentClass::kSystemd:
      return "systemd";
    case AgentClass::kService:
      return "service";
    case AgentClass::kStonith:
      return "stonith";
  }
  return "unknown";
}

absl::StatusOr<ActionRequest> FromProto(const v1::ExecRequest& request) {
  static const std::set<std::string> kActions = {"start",
                                                 "stop",
                                                 "monitor",
                                                 "promote",
                                                 "demote",
                                                 "notify",
                                                 "reload",
                                                 "reload-agent",
                                                 "migrate_to",
                                                 "migrate_from",
                                                 "validate-all",
                                                 "meta-data"};
  if (request.resource_id().empty()) {
    return absl::InvalidArgumentError("resource_id is empty");
  }
  std::optional<AgentClass> agent_class = AgentClassFromName(request.agent().resource_class());
  if (!agent_class.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown or unsupported resource class '", request.agent().resource_class(), "'"));
  }
  if (*agent_class == AgentClass::kOcf && request.agent().provider().empty()) {
    return absl::InvalidArgumentError("an OCF agent needs a provider");
  }
  if (request.agent().type().empty()) {
    return absl::InvalidArgumentError("agent type is empty");
  }
  if (!kActions.contains(request.action())) {
    return absl::InvalidArgumentError(absl::StrCat("unknown action '", request.action(), "'"));
  }
  if (request.interval_ms() > 0 && request.action() != "monitor") {
    return absl::InvalidArgumentError(
        absl::StrCat("only a monitor may recur, not '", request.action(), "'"));
  }
  if (request.timeout_ms() == 0) {
    return absl::InvalidArgumentError("timeout_ms is 0");
  }
  ActionRequest out;
  out.resource.id = request.resource_id();
  out.resource.agent_class = *agent_class;
  out.resource.provider = request.agent().provider();
  out.resource.type = request.agent().type();
  out.resource.params.insert(request.parameters().begin(), request.parameters().end());
  out.action = request.action();
  out.interval = absl::Milliseconds(request.interval_ms());
  out.timeout = absl::Milliseconds(request.timeout_ms());
  out.meta.insert(request.meta().begin(), request.meta().end());
  return out;
}

v1::AgentId AgentIdOf(const ResourceSpec& resource) {
  v1::AgentId id;
  id.set_resource_class(AgentClassToName(resource.agent_class));
  id.set_provider(resource.provider);
  id.set_type(resource.type);
  return id;
}

v1::ActionResult ToProto(const ActionResult& result,
                         const v1::AgentId& agent,
                         const std::string& user_data) {
  v1::ActionResult out;
  out.set_call_id(static_cast<uint64_t>(result.call_id));
  out.set_resource_id(result.resource_id);
  out.set_action(result.action);
  out.set_interval_ms(ToMs(result.interval));
  *out.mutable_agent() = agent;
  out.set_exec_status(ToProto(result.status));
  out.set_exit_code(static_cast<v1::OcfExitCode>(static_cast<int>(result.exit_code)));
  out.set_raw_exit_code(result.raw_exit_code);
  out.set_exit_reason(result.exit_reason);
  bool truncated = false;
  out.set_stdout_tail(Tail(result.stdout_tail, truncated));
  out.set_stderr_tail(Tail(result.stderr_tail, truncated));
  out.set_output_truncated(truncated);
  if (result.started != absl::InfinitePast()) {
    out.set_start_time_unix_ms(absl::ToUnixMillis(result.started));
  }
  out.set_duration_ms(absl::ToInt64Milliseconds(result.duration));
  out.set_changed(result.changed || result.interval == absl::ZeroDuration());
  out.set_user_data(user_data);
  return out;
}

v1::AgentMetadata ToProto(const AgentMetadata& metadata, const v1::AgentId& agent) {
  v1::AgentMetadata out;
  *out.mutable_agent() = agent;
  out.set_version(metadata.version);
  out.set_ocf_version(metadata.ocf_version);
  out.set_shortdesc(metadata.shortdesc);
  out.set_longdesc(metadata.longdesc);
  for (const AgentMetadata::Parameter& p : metadata.parameters) {
    v1::AgentParameter* param = out.add_parameters();
    param->set_name(p.name);
    param->set_type(p.type);
    param->set_default_value(p.default_value);
    param->set_has_default(!p.default_value.empty());
    param->set_required(p.required);
    param->set_unique(p.unique);
    param->set_shortdesc(p.shortdesc);
  }
  for (const AgentMetadata::ActionInfo& a : metadata.actions) {
    v1::AgentAction* action = out.add_actions();
    action->set_name(a.name);
    action->set_timeout_ms(ToMs(a.timeout));
    action->set_interval_ms(ToMs(a.interval));
    action->set_depth(static_cast<uint32_t>(a.depth));
    action->set_role(a.role);
  }
  out.set_raw_xml(metadata.raw_xml);
  return out;
}

}  // namespace ha::lrmd
