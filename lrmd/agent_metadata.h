// An agent's self-description: the meta-data XML of the OCF resource agent API (parameters,
// actions with default timeouts), parsed with pugixml; and a made-up one for LSB and systemd
// resources, which have none.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lrmd/action.h"

namespace ha::lrmd {

struct AgentMetadata {
  struct Parameter {
    std::string name;
    std::string type;           // <content type=...>: string, integer, boolean, ...
    std::string default_value;  // <content default=...>
    bool required = false;
    bool unique = false;  // unique="1" or a unique-group
    std::string shortdesc;
  };
  struct ActionInfo {
    std::string name;
    absl::Duration timeout = absl::ZeroDuration();  // zero when not given
    absl::Duration interval = absl::ZeroDuration();
    int depth = 0;     // OCF_CHECK_LEVEL for monitors
    std::string role;  // "Promoted", "Unpromoted", or empty
  };

  std::string name;         // <resource-agent name=...>
  std::string version;      // the agent's version: <resource-agent version=...>
  std::string ocf_version;  // the API version it implements: <version>
  std::string shortdesc;
  std::string longdesc;
  std::vector<Parameter> parameters;
  std::vector<ActionInfo> actions;
  std::string raw_xml;

  const ActionInfo* FindAction(absl::string_view action_name) const;
  const Parameter* FindParameter(absl::string_view param_name) const;
};

// Parses meta-data XML. InvalidArgument when it is not well-formed (with pugixml's description
// and the offset), when the root is not <resource-agent>, or when a duration does not parse.
absl::StatusOr<AgentMetadata> ParseAgentMetadata(absl::string_view xml);

// Pacemaker's duration syntax for timeouts and intervals: an integer with an optional unit, "ms"
// (or "msec"), "us" ("usec"), "s" ("sec"), "m" ("min"), "h" ("hr"); a bare number is seconds.
// Surrounding spaces are allowed.
absl::StatusOr<absl::Duration> ParseOcfDuration(absl::string_view text);

// The parameters `metadata` declares required that `params` lacks (or has empty), in the order
// the meta-data lists them.
std::vector<std::string> MissingRequiredParams(const AgentMetadata& metadata,
                                               const std::map<std::string, std::string>& params);

// The keywords of an LSB init script's comment block between "### BEGIN INIT INFO" and
// "### END INIT INFO" (LSB Core 20.6, "Comment Conventions for Init Scripts"): "# Keyword: value"
// lines; a Description goes on over the following lines that start with "#" and a tab or at least
// two spaces (joined with single spaces). Keys as written (Provides, Short-Description, ...);
// empty when the script has no such block. Only the first `max_bytes` of the script are read.
using LsbInitInfo = std::map<std::string, std::string>;
LsbInitInfo ParseLsbInitInfo(absl::string_view script_text);
inline constexpr size_t kMaxInitScriptHeaderBytes = 64 * 1024;

// Meta-data for an LSB init script or a systemd unit named `type`: no parameters, actions start,
// stop, monitor (with a default interval), status and meta-data, with Pacemaker's defaults
// (LSB 15 s, systemd 100 s). For LSB, `init_info` gives the descriptions (Short-Description,
// Description) and a <special tag="LSB"> element with the script's other keywords, as Pacemaker
// shows them. Well-formed XML whatever `type` and `init_info` hold.
std::string SynthesizedMetadataXml(AgentClass agent_class,
                                   const std::string& type,
                                   const LsbInitInfo& init_info = {});

}  // namespace ha::lrmd
