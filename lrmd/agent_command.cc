#include "lrmd/agent_command.h"

#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "lrmd/agent_metadata.h"
#include "lrmd/stonith_actions.h"

namespace ha::lrmd {
namespace {

// A provider, type, unit or action: becomes a path component or an argument.
absl::Status CheckName(absl::string_view what, const std::string& name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  }
  if (name.find('/') != std::string::npos || absl::StrContains(name, "..") || name[0] == '.') {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", name, "' may not contain '/' or '..' or start with '.'"));
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(what, " contains a control character"));
    }
  }
  return absl::OkStatus();
}

// An action or a unit is an argument of its own: one starting with '-' would be an option.
absl::Status CheckArgument(absl::string_view what, const std::string& name) {
  HA_RETURN_IF_ERROR(CheckName(what, name));
  if (name[0] == '-') {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", name, "' may not start with '-'"));
  }
  return absl::OkStatus();
}

// Parameter and meta names become parts of environment variable names.
absl::Status CheckKey(absl::string_view what, const std::string& key, const std::string& value) {
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " name is empty"));
  }
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " name '", absl::CHexEscape(key), "' is not [A-Za-z0-9_-]+"));
    }
  }
  if (value.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", key, "' has a NUL in its value"));
  }
  return absl::OkStatus();
}

// base_env, then `vars` (which replace base entries of the same name), in a stable order.
std::vector<std::string> MergeEnv(const std::vector<std::string>& base,
                                  const std::map<std::string, std::string>& vars) {
  std::vector<std::string> env;
  for (const std::string& entry : base) {
    std::string key = entry.substr(0, entry.find('='));
    if (vars.find(key) == vars.end()) {
      env.push_back(entry);
    }
  }
  for (const auto& [key, value] : vars) {
    env.push_back(absl::StrCat(key, "=", value));
  }
  return env;
}

bool IsStatusAction(const std::string& action) {
  return action == "monitor" || action == "status";
}

absl::StatusOr<AgentCommand> BuildOcf(const ActionRequest& request, const AgentPaths& paths) {
  const ResourceSpec& rsc = request.resource;
  HA_RETURN_IF_ERROR(CheckName("provider", rsc.provider));
  HA_RETURN_IF_ERROR(CheckName("type", rsc.type));
  std::map<std::string, std::string> vars;
  for (const auto& [key, value] : rsc.params) {
    HA_RETURN_IF_ERROR(CheckKey("parameter", key, value));
    vars[absl::StrCat("OCF_RESKEY_", key)] = value;
  }
  for (const auto& [key, value] : request.meta) {
    HA_RETURN_IF_ERROR(CheckKey("meta attribute", key, value));
    std::string name = key;
    std::replace(name.begin(), name.end(), '-', '_');
    vars[absl::StrCat("OCF_RESKEY_CRM_meta_", name)] = value;
  }
  if (rsc.id.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("resource id has a NUL");
  }
  vars["OCF_RESKEY_CRM_meta_interval"] = absl::StrCat(absl::ToInt64Milliseconds(request.interval));
  vars["OCF_RESKEY_CRM_meta_timeout"] = absl::StrCat(absl::ToInt64Milliseconds(request.timeout));
  vars["OCF_ROOT"] = paths.ocf_root;
  vars["OCF_FUNCTIONS_DIR"] = absl::StrCat(paths.ocf_root, "/lib/heartbeat");
  vars["OCF_RA_VERSION_MAJOR"] = "1";
  vars["OCF_RA_VERSION_MINOR"] = "1";
  vars["OCF_RESOURCE_INSTANCE"] = rsc.id;
  vars["OCF_RESOURCE_TYPE"] = rsc.type;
  vars["OCF_RESOURCE_PROVIDER"] = rsc.provider;

  AgentCommand cmd;
  cmd.agent_class = AgentClass::kOcf;
  cmd.action = request.action;
  cmd.path = absl::StrCat(paths.ocf_root, "/resource.d/", rsc.provider, "/", rsc.type);
  cmd.argv = {cmd.path, request.action};
  cmd.env = MergeEnv(paths.base_env, vars);
  if (request.action == "meta-data")
    cmd.run_as = paths.unprivileged;
  return cmd;
}

AgentCommand Synthesized(const ActionRequest& request,
                         AgentClass agent_class,
                         const LsbInitInfo& init_info = {}) {
  AgentCommand cmd;
  cmd.agent_class = agent_class;
  cmd.action = request.action;
  cmd.synthesized_metadata = true;
  cmd.synthesized_output = SynthesizedMetadataXml(agent_class, request.resource.type, init_info);
  return cmd;
}

// The start of an init script, for its INIT INFO block. NotFound when it cannot be read.
absl::StatusOr<std::string> ReadScriptHead(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat(path, ": ", strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::NotFoundError(absl::StrCat(path, ": not a file"));
  }
  std::string text(kMaxInitScriptHeaderBytes, '\0');
  size_t used = 0;
  while (used < text.size()) {
    ssize_t n = read(fd, text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    used += static_cast<size_t>(n);
  }
  close(fd);
  text.resize(used);
  return text;
}

absl::StatusOr<AgentCommand> BuildLsb(const ActionRequest& request, const AgentPaths& paths) {
  HA_RETURN_IF_ERROR(CheckName("type", request.resource.type));
  if (request.action == "meta-data") {
    // Made up, as Pacemaker does, from the script's INIT INFO block: the script must exist.
    HA_ASSIGN_OR_RETURN(std::string head,
                        ReadScriptHead(absl::StrCat(paths.init_dir, "/", request.resource.type)));
    return Synthesized(request, AgentClass::kLsb, ParseLsbInitInfo(head));
  }
  AgentCommand cmd;
  cmd.agent_class = AgentClass::kLsb;
  cmd.action = request.action;
  cmd.path = absl::StrCat(paths.init_dir, "/", request.resource.type);
  cmd.argv = {cmd.path, request.action == "monitor" ? std::string("status") : request.action};
  cmd.env = paths.base_env;
  return cmd;
}

absl::StatusOr<AgentCommand> BuildSystemd(const ActionRequest& request, const AgentPaths& paths) {
  HA_RETURN_IF_ERROR(CheckArgument("unit", request.resource.type));
  if (request.action == "meta-data") {
    return Synthesized(request, AgentClass::kSystemd);
  }
  std::string unit = SystemdUnitName(request.resource.type);
  AgentCommand cmd;
  cmd.agent_class = AgentClass::kSystemd;
  cmd.action = request.action;
  cmd.path = paths.systemctl;
  if (request.action == "start" || request.action == "stop" || request.action == "status") {
    // `systemctl start/stop` waits for the job to finish by default.
    cmd.argv = {cmd.path, request.action, unit};
  } else if (request.action == "monitor") {
    cmd.argv = {cmd.path, "is-active", "--quiet", unit};
  } else {
    return absl::UnimplementedError(
        absl::StrCat("systemd resources have no action '", request.action, "'"));
  }
  cmd.env = paths.base_env;
  return cmd;
}

}  // namespace

absl::StatusOr<RunAs> LookupUser(const std::string& name) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<size_t>(size) : 16384);
  struct passwd pw;
  struct passwd* found = nullptr;
  int err;
  while ((err = getpwnam_r(name.c_str(), &pw, buffer.data(), buffer.size(), &found)) == ERANGE)
    buffer.resize(buffer.size() * 2);
  if (err != 0)
    return absl::UnavailableError(absl::StrCat("looking up user ", name, ": ", strerror(err)));
  if (found == nullptr)
    return absl::NotFoundError(absl::StrCat("no user ", name));
  return RunAs{found->pw_uid, found->pw_gid, name};
}

absl::StatusOr<RunAs> ResolveClusterUser(const std::string& configured) {
  if (!configured.empty())
    return LookupUser(configured);
  for (const char* name : {"hacluster", "nobody"}) {
    absl::StatusOr<RunAs> user = LookupUser(name);
    if (user.ok() || !absl::IsNotFound(user.status()))
      return user;
  }
  return absl::NotFoundError("neither user hacluster nor user nobody exists");
}

bool SystemdIsRunning() {
  struct stat st;
  return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

std::string SystemdUnitName(const std::string& type) {
  static constexpr absl::string_view kSuffixes[] = {".service",
                                                    ".socket",
                                                    ".device",
                                                    ".mount",
                                                    ".automount",
                                                    ".swap",
                                                    ".target",
                                                    ".path",
                                                    ".timer",
                                                    ".slice",
                                                    ".scope"};
  for (absl::string_view suffix : kSuffixes) {
    if (type.size() > suffix.size() && absl::EndsWith(type, suffix)) {
      return type;
    }
  }
  return absl::StrCat(type, ".service");
}

absl::StatusOr<AgentCommand> BuildAgentCommand(const ActionRequest& request,
                                               const AgentPaths& paths) {
  HA_RETURN_IF_ERROR(CheckArgument("action", request.action));
  switch (request.resource.agent_class) {
    case AgentClass::kOcf:
      return BuildOcf(request, paths);
    case AgentClass::kLsb:
      return BuildLsb(request, paths);
    case AgentClass::kSystemd:
      return BuildSystemd(request, paths);
    case AgentClass::kService:
      if (paths.systemd_running && paths.systemd_running()) {
        return BuildSystemd(request, paths);
      }
      return BuildLsb(request, paths);
    case AgentClass::kStonith:
      return BuildStonithAgentCommand(request, paths);
  }
  return absl::InvalidArgumentError("unknown agent class");
}

OcfExitCode MapExitCode(AgentClass agent_class, const std::string& action, int raw) {
  auto lsb_status = [](int code) {
    switch (code) {
      case 0:
        return OcfExitCode::kOk;
      case 1:  // dead, but a pid file exists
      case 2:  // dead, but a lock file exists
      case 3:  // not running
        return OcfExitCode::kNotRunning;
      case 150:  // not installed (Pacemaker's code in the range LSB leaves to applications)
        return OcfExitCode::kErrInstalled;
      case 151:  // insufficient privileges (Pacemaker's, likewise)
        return OcfExitCode::kErrPerm;
      default:  // 4: status unknown, and anything else
        return OcfExitCode::kErrGeneric;
    }
  };
  switch (agent_class) {
    case AgentClass::kOcf:
      if (raw >= 0 && raw <= static_cast<int>(OcfExitCode::kFailedPromoted)) {
        return static_cast<OcfExitCode>(raw);
      }
      return OcfExitCode::kErrGeneric;
    case AgentClass::kStonith:
      return raw == 0 ? OcfExitCode::kOk : OcfExitCode::kErrGeneric;
    case AgentClass::kSystemd:
      if (action == "monitor") {
        return raw == 0 ? OcfExitCode::kOk : OcfExitCode::kNotRunning;
      }
      if (action == "status") {
        return lsb_status(raw);
      }
      if (raw == 5)  // systemctl start/stop: "Unit ... not found" (or not loaded)
        return OcfExitCode::kErrInstalled;
      return raw == 0 ? OcfExitCode::kOk : OcfExitCode::kErrGeneric;
    case AgentClass::kLsb:
    case AgentClass::kService:
      if (IsStatusAction(action)) {
        return lsb_status(raw);
      }
      if (raw == 7 && action == "stop") {
        return OcfExitCode::kOk;
      }
      if (raw >= 0 && raw <= static_cast<int>(OcfExitCode::kNotRunning)) {
        return static_cast<OcfExitCode>(raw);
      }
      return OcfExitCode::kErrGeneric;
  }
  return OcfExitCode::kErrGeneric;
}

std::string ParseExitReason(const std::string& stderr_text) {
  // ocf-shellfuncs' ocf_exit_reason prints "ocf-exit-reason:" (Pacemaker's prefix) unless
  // OCF_EXIT_REASON_PREFIX says otherwise; "ocf-exitreason:" is accepted too.
  static constexpr absl::string_view kPrefixes[] = {"ocf-exit-reason:", "ocf-exitreason:"};
  absl::string_view found;
  bool any = false;
  for (absl::string_view line : absl::StrSplit(stderr_text, '\n')) {
    for (absl::string_view prefix : kPrefixes) {
      if (absl::StartsWith(line, prefix)) {
        found = line.substr(prefix.size());
        any = true;
      }
    }
  }
  if (!any) {
    return "";
  }
  found = absl::StripAsciiWhitespace(found);
  if (found.size() > kMaxExitReasonBytes) {
    size_t cut = kMaxExitReasonBytes;
    // Do not split a UTF-8 sequence: back up over continuation bytes (10xxxxxx).
    while (cut > 0 && (static_cast<unsigned char>(found[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    found = absl::StripTrailingAsciiWhitespace(found.substr(0, cut));
  }
  return std::string(found);
}

}  // namespace ha::lrmd
