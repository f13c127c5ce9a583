#include "stonithd/agent_type.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace ha::stonithd {
namespace {

// absl::StrCat takes absl::string_view, which is not std::string_view on this Abseil.
absl::string_view Sv(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

bool Executable(const std::string& path) {
  return access(path.c_str(), X_OK) == 0;
}

bool Exists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

bool IsValidName(std::string_view part) {
  return !part.empty() && part[0] != '.' && part[0] != '-' &&
         part.find_first_of("/\n\r") == std::string_view::npos;
}

}  // namespace

bool IsValidAgentType(std::string_view agent) {
  const size_t slash = agent.find('/');
  if (slash == std::string_view::npos)
    return IsValidName(agent);
  return IsValidName(agent.substr(0, slash)) && IsValidName(agent.substr(slash + 1));
}

AgentKind KindOfAgent(std::string_view agent, const AgentDirs& dirs) {
  if (agent.find('/') != std::string_view::npos)
    return AgentKind::kLegacyPlugin;
  if (agent.empty() || Executable(absl::StrCat(dirs.bin_dir, "/", Sv(agent))))
    return AgentKind::kFenceAgent;
  if (Exists(absl::StrCat(dirs.legacy_plugin_dir, "/stonith2/", Sv(agent), ".so")))
    return AgentKind::kLegacyPlugin;
  return AgentKind::kFenceAgent;
}

absl::Status CheckAgentInstalled(std::string_view agent, const AgentDirs& dirs) {
  if (!IsValidAgentType(agent)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", Sv(agent), "' is not a fence agent or STONITH plugin name"));
  }
  if (KindOfAgent(agent, dirs) == AgentKind::kFenceAgent) {
    const std::string path = absl::StrCat(dirs.bin_dir, "/", Sv(agent));
    if (!Executable(path)) {
      return absl::NotFoundError(
          absl::StrCat("the fence agent ", Sv(agent), " is not installed (", path, ")"));
    }
    return absl::OkStatus();
  }
  const std::string adapter = absl::StrCat(dirs.bin_dir, "/", dirs.legacy_adapter);
  if (!Executable(adapter)) {
    return absl::NotFoundError(absl::StrCat(
        "the STONITH plugin adapter for ", Sv(agent), " is not installed (", adapter, ")"));
  }
  const size_t slash = agent.find('/');
  const std::string module = std::string(agent.substr(0, slash));
  const std::string so = absl::StrCat(dirs.legacy_plugin_dir, "/stonith2/", module, ".so");
  if (!Exists(so)) {
    return absl::NotFoundError(
        absl::StrCat("the STONITH plugin ", Sv(agent), " is not installed (", so, ")"));
  }
  if (slash != std::string_view::npos) {
    const std::string member = absl::StrCat(dirs.legacy_plugin_dir, "/", Sv(agent));
    if (!Exists(member)) {
      return absl::NotFoundError(
          absl::StrCat("the STONITH plugin ", Sv(agent), " is not installed (", member, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentExecutable> ResolveAgent(std::string_view agent, const AgentDirs& dirs) {
  if (!IsValidAgentType(agent)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", Sv(agent), "' is not a fence agent or STONITH plugin name"));
  }
  if (KindOfAgent(agent, dirs) == AgentKind::kFenceAgent)
    return AgentExecutable{absl::StrCat(dirs.bin_dir, "/", Sv(agent)), ""};
  if (!IsValidName(dirs.legacy_adapter)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", dirs.legacy_adapter, "' is not a fence agent name"));
  }
  return AgentExecutable{absl::StrCat(dirs.bin_dir, "/", dirs.legacy_adapter), std::string(agent)};
}

std::vector<std::string> ListLegacyPlugins(const AgentDirs& dirs) {
  std::vector<std::string> out;
  if (!Executable(absl::StrCat(dirs.bin_dir, "/", dirs.legacy_adapter)))
    return out;
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& entry :
       fs::directory_iterator(fs::path(dirs.legacy_plugin_dir) / "stonith2", ec)) {
    const fs::path& path = entry.path();
    if (path.extension() != ".so")
      continue;
    const std::string name = path.stem().string();
    // cluster-glue's two plugin families: their .so loads the members, it is no type itself.
    if (name == "external" || name == "rhcs") {
      std::error_code member_ec;
      for (const auto& member :
           fs::directory_iterator(fs::path(dirs.legacy_plugin_dir) / name, member_ec)) {
        const std::string type = absl::StrCat(name, "/", member.path().filename().string());
        if (member.is_regular_file(member_ec) && Executable(member.path().string()) &&
            IsValidAgentType(type))
          out.push_back(type);
      }
    } else if (IsValidAgentType(name)) {
      out.push_back(name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ha::stonithd
