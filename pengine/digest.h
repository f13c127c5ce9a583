// Pacemaker's operation digests: the MD5 of a resource's parameters as recorded in the history
// (op-digest, op-restart-digest), so that a changed definition is noticed and the resource
// restarted (or reloaded) with the new one.
#pragma once

#include <map>
#include <set>
#include <string>

namespace ha::pengine {

// MD5 hex of ` <parameters name="value" .../>` + newline, names sorted, values XML-escaped:
// the form Pacemaker digests (the leading space and newline are its XML writer's).
std::string ParametersDigest(const std::map<std::string, std::string>& parameters);

// Only the parameters named in `names` (op-force-restart's list).
std::string ParametersDigest(const std::map<std::string, std::string>& parameters,
                             const std::set<std::string>& names);

}  // namespace ha::pengine
