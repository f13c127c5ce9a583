#include "stonithd/fence_agent.h"

#include <pugixml.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ha::stonithd {
namespace {

// absl::StrCat takes absl::string_view, which is not std::string_view on this Abseil.
absl::string_view Sv(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

bool IsTrue(const char* value) {
  std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  return v == "1" || v == "true" || v == "yes" || v == "on" || v == "y";
}

// Parameters the fencer handles itself and never passes to the agent.
bool IsFencerParameter(const std::string& name) {
  return name.rfind("pcmk_", 0) == 0 || name == "action" || name == "crm_feature_set" ||
         name == "provides" || name.find("CRM_meta") != std::string::npos;
}

absl::Status CheckArgument(std::string_view name, std::string_view value) {
  if (name.empty() || name.find_first_of("=\n\r") != std::string_view::npos ||
      value.find_first_of("\n\r") != std::string_view::npos ||
      value.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("fence agent argument '", Sv(name), "' has a newline or a bad name"));
  }
  return absl::OkStatus();
}

// The reason in fencing.py's messages: "2024-01-01 10:00:00,123 ERROR: Failed: ..." or
// "ERROR:root:Failed: ...". The last such line wins.
std::string ReasonFromStderr(const std::string& text) {
  std::string reason;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    size_t at = line.find("ERROR:");
    if (at == absl::string_view::npos) {
      at = line.find("Failed:");
      if (at == absl::string_view::npos) {
        continue;
      }
    } else {
      at += 6;
      if (line.substr(at).rfind("root:", 0) == 0) {
        at += 5;
      }
    }
    absl::string_view rest = absl::StripAsciiWhitespace(line.substr(at));
    if (!rest.empty() && !absl::StartsWith(rest, "Please use '-h'")) {
      reason = std::string(rest.substr(0, 200));
    }
  }
  return reason;
}

}  // namespace

bool FenceAgentMetadata::HasAction(std::string_view action) const {
  for (const Action& a : actions) {
    if (a.name == action) {
      return true;
    }
  }
  return false;
}

const FenceAgentMetadata::Parameter* FenceAgentMetadata::FindParameter(
    std::string_view param_name) const {
  for (const Parameter& p : parameters) {
    if (p.name == param_name) {
      return &p;
    }
  }
  return nullptr;
}

AgentCapabilities FenceAgentMetadata::Capabilities() const {
  AgentCapabilities caps;
  caps.known = true;
  caps.supports_list = HasAction("list");
  caps.supports_status = HasAction("status");
  caps.supports_reboot = HasAction("reboot");
  caps.supports_on = HasAction("on");
  for (const Action& a : actions) {
    if (a.name == "on" && a.automatic) {
      caps.automatic_unfencing = true;
    }
  }
  caps.has_plug_parameter = FindParameter("plug") != nullptr;
  caps.has_port_parameter = FindParameter("port") != nullptr;
  return caps;
}

absl::StatusOr<FenceAgentMetadata> ParseFenceAgentMetadata(absl::string_view xml) {
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed fence agent meta-data: ", parsed.description(), " at offset ", parsed.offset));
  }
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "resource-agent") {
    return absl::InvalidArgumentError(
        absl::StrCat("meta-data root is <", root.name(), ">, not <resource-agent>"));
  }
  FenceAgentMetadata md;
  md.raw_xml = std::string(xml);
  md.name = root.attribute("name").value();
  md.shortdesc = root.attribute("shortdesc").value();
  if (md.shortdesc.empty()) {
    md.shortdesc = std::string(absl::StripAsciiWhitespace(root.child("shortdesc").child_value()));
  }
  for (pugi::xml_node node : root.child("parameters").children("parameter")) {
    FenceAgentMetadata::Parameter p;
    p.name = node.attribute("name").value();
    if (p.name.empty()) {
      return absl::InvalidArgumentError("a <parameter> has no name");
    }
    p.required = IsTrue(node.attribute("required").value());
    p.deprecated = IsTrue(node.attribute("deprecated").value());
    p.obsoletes = node.attribute("obsoletes").value();
    p.type = node.child("content").attribute("type").value();
    p.default_value = node.child("content").attribute("default").value();
    p.shortdesc = std::string(absl::StripAsciiWhitespace(node.child("shortdesc").child_value()));
    md.parameters.push_back(std::move(p));
  }
  for (pugi::xml_node node : root.child("actions").children("action")) {
    FenceAgentMetadata::Action a;
    a.name = node.attribute("name").value();
    if (a.name.empty()) {
      return absl::InvalidArgumentError("an <action> has no name");
    }
    a.automatic =
        IsTrue(node.attribute("automatic").value()) || IsTrue(node.attribute("required").value());
    a.on_target = IsTrue(node.attribute("on_target").value());
    md.actions.push_back(std::move(a));
  }
  return md;
}

bool IsSecretParameter(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
  return lower == "passwd" || lower == "password" || lower.find("passwd") != std::string::npos ||
         lower.find("password") != std::string::npos;
}

absl::StatusOr<std::string> BuildAgentStdin(const FenceDevice& device,
                                            std::string_view action,
                                            std::string_view target,
                                            std::string_view plugin) {
  std::vector<std::pair<std::string, std::string>> args;
  args.emplace_back("action", device.AgentAction(action));
  if (!plugin.empty())
    args.emplace_back("plugin", std::string(plugin));
  if (!target.empty()) {
    args.emplace_back("nodename", std::string(target));
    const std::string& host_arg = device.host_argument;
    if (host_arg != "none" && device.agent != "fence_legacy") {
      auto configured = device.params.find(host_arg);
      if (configured == device.params.end() ||
          absl::AsciiStrToLower(configured->second) == "dynamic") {
        args.emplace_back(host_arg, device.PortFor(target));
      }
    }
  }
  for (const auto& [name, value] : device.params) {
    if (IsFencerParameter(name)) {
      continue;
    }
    bool already = false;
    for (const auto& arg : args) {
      already = already || arg.first == name;
    }
    if (!already) {
      args.emplace_back(name, value);
    }
  }
  std::string text;
  for (const auto& [name, value] : args) {
    absl::Status ok = CheckArgument(name, value);
    if (!ok.ok()) {
      return ok;
    }
    absl::StrAppend(&text, name, "=", value, "\n");
  }
  return text;
}

namespace {
lrmd::AgentCommand CommandFor(std::string path,
                              std::string_view action,
                              std::string stdin_data,
                              const FenceAgentPaths& paths) {
  lrmd::AgentCommand cmd;
  cmd.path = std::move(path);
  cmd.argv = {cmd.path};
  cmd.env = paths.base_env;
  cmd.stdin_data = std::move(stdin_data);
  cmd.action = std::string(action);
  return cmd;
}
}  // namespace

absl::StatusOr<lrmd::AgentCommand> BuildFenceCommand(const FenceDevice& device,
                                                     std::string_view action,
                                                     std::string_view target,
                                                     const FenceAgentPaths& paths) {
  absl::StatusOr<AgentExecutable> exe = ResolveAgent(device.agent, paths);
  if (!exe.ok()) {
    return exe.status();
  }
  absl::StatusOr<std::string> in = BuildAgentStdin(device, action, target, exe->plugin);
  if (!in.ok()) {
    return in.status();
  }
  return CommandFor(std::move(exe->path), action, std::move(*in), paths);
}

absl::StatusOr<lrmd::AgentCommand> BuildMetadataCommand(std::string_view agent,
                                                        const FenceAgentPaths& paths) {
  absl::StatusOr<AgentExecutable> exe = ResolveAgent(agent, paths);
  if (!exe.ok()) {
    return exe.status();
  }
  std::string in = "action=metadata\n";
  if (!exe->plugin.empty()) {
    absl::StrAppend(&in, "plugin=", exe->plugin, "\n");
  }
  return CommandFor(std::move(exe->path), "metadata", std::move(in), paths);
}

bool FenceResult::ok() const {
  if (status != lrmd::ExecStatus::kDone) {
    return false;
  }
  return exit_code == 0 || (action == "status" && exit_code == 2);
}

FenceResult MakeFenceResult(std::string_view action, const lrmd::ProcessOutcome& outcome) {
  FenceResult r;
  r.action = std::string(action);
  r.stdout_tail = outcome.stdout_tail;
  r.stderr_tail = outcome.stderr_tail;
  r.duration = outcome.duration;
  switch (outcome.kind) {
    case lrmd::ProcessOutcome::kExited:
      r.status = lrmd::ExecStatus::kDone;
      r.exit_code = outcome.exit_code;
      break;
    case lrmd::ProcessOutcome::kSignaled:
      r.status = lrmd::ExecStatus::kError;
      r.reason = absl::StrCat("agent killed by signal ", outcome.signal);
      break;
    case lrmd::ProcessOutcome::kTimedOut:
      r.status = lrmd::ExecStatus::kTimedOut;
      r.reason = absl::StrCat("agent timed out after ", absl::FormatDuration(outcome.duration));
      break;
    case lrmd::ProcessOutcome::kCancelled:
      r.status = lrmd::ExecStatus::kCancelled;
      r.reason = "agent cancelled";
      break;
    case lrmd::ProcessOutcome::kSpawnFailed:
      r.status = lrmd::ExecStatus::kError;
      r.reason = absl::StrCat("agent could not be run: ", outcome.error);
      break;
    case lrmd::ProcessOutcome::kNotInstalled:
      r.status = lrmd::ExecStatus::kNotInstalled;
      r.reason = absl::StrCat("agent not installed: ", outcome.error);
      break;
  }
  if (r.status != lrmd::ExecStatus::kDone) {
    return r;
  }
  if (action == "status") {
    r.power = r.exit_code == 0   ? PowerState::kOn
              : r.exit_code == 2 ? PowerState::kOff
                                 : PowerState::kUnknown;
  }
  if (!r.ok()) {
    r.reason = ReasonFromStderr(outcome.stderr_tail);
    if (r.reason.empty()) {
      r.reason = absl::StrCat("agent exited with code ", r.exit_code);
    }
  }
  return r;
}

absl::StatusOr<FenceAgentRunner::RunId> FenceAgentRunner::Run(const FenceDevice& device,
                                                              std::string_view action,
                                                              std::string_view target,
                                                              absl::Duration timeout,
                                                              Done done) {
  absl::StatusOr<lrmd::AgentCommand> cmd = BuildFenceCommand(device, action, target, paths_);
  if (!cmd.ok()) {
    return cmd.status();
  }
  return Start(std::move(*cmd), std::string(action), timeout, std::move(done));
}

absl::StatusOr<FenceAgentRunner::RunId> FenceAgentRunner::RunMetadata(std::string_view agent,
                                                                      absl::Duration timeout,
                                                                      Done done) {
  absl::StatusOr<lrmd::AgentCommand> cmd = BuildMetadataCommand(agent, paths_);
  if (!cmd.ok()) {
    return cmd.status();
  }
  return Start(std::move(*cmd), "metadata", timeout, std::move(done));
}

absl::StatusOr<FenceAgentRunner::RunId> FenceAgentRunner::Start(lrmd::AgentCommand cmd,
                                                                std::string action,
                                                                absl::Duration timeout,
                                                                Done done) {
  return runner_.Run(
      std::move(cmd),
      timeout,
      [action = std::move(action), done = std::move(done)](lrmd::ProcessOutcome outcome) mutable {
        done(MakeFenceResult(action, outcome));
      });
}

}  // namespace ha::stonithd
