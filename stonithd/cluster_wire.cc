#include "stonithd/cluster_wire.h"

#include <iterator>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ha::stonithd {
namespace {

constexpr char kMagic[] = "stonithd-fencing 1 ";
constexpr const char* kKinds[] = {"request", "answer", "result", "expire", "confirm"};

void Put(std::string& out, const char* key, const std::string& value) {
  absl::StrAppend(&out, key, "=", absl::CEscape(value), "\n");
}
void Put(std::string& out, const char* key, int64_t value) {
  absl::StrAppend(&out, key, "=", value, "\n");
}

}  // namespace

std::string EncodeWire(const WireMessage& m) {
  std::string out = absl::StrCat(kMagic, kKinds[m.kind], "\n");
  Put(out, "id", m.id);
  Put(out, "target", m.target);
  Put(out, "action", static_cast<int64_t>(m.action));
  Put(out, "node", m.node);
  Put(out, "client", m.client);
  Put(out, "time", m.time_ms);
  Put(out, "timeout", m.timeout_ms);
  Put(out, "delay", m.delay_ms);
  Put(out, "tolerance", m.tolerance_ms);
  Put(out, "allow_self", m.allow_self ? 1 : 0);
  Put(out, "capable", m.capable ? 1 : 0);
  Put(out, "level", m.level);
  Put(out, "devices", absl::StrJoin(m.devices, ","));
  Put(out, "attempt", m.attempt);
  Put(out, "state", static_cast<int64_t>(m.state));
  Put(out, "device", m.device);
  Put(out, "reason", m.reason);
  return out;
}

absl::StatusOr<WireMessage> DecodeWire(const std::string& payload) {
  std::vector<std::string> lines = absl::StrSplit(payload, '\n', absl::SkipEmpty());
  if (lines.empty() || !absl::StartsWith(lines[0], kMagic)) {
    return absl::InvalidArgumentError("not a stonithd fencing message");
  }
  WireMessage m;
  const std::string kind = lines[0].substr(sizeof(kMagic) - 1);
  bool known = false;
  for (int i = 0; i < static_cast<int>(std::size(kKinds)); ++i) {
    if (kind == kKinds[i]) {
      m.kind = static_cast<WireMessage::Kind>(i);
      known = true;
    }
  }
  if (!known) {
    return absl::InvalidArgumentError(absl::StrCat("unknown message kind '", kind, "'"));
  }
  std::map<std::string, std::string> fields;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(lines[i], absl::MaxSplits('=', 1));
    std::string value;
    if (!absl::CUnescape(kv.second, &value)) {
      return absl::InvalidArgumentError(absl::StrCat("a bad value for '", kv.first, "'"));
    }
    fields[kv.first] = std::move(value);
  }
  auto text = [&](const char* key) { return fields[key]; };
  bool ok = true;
  auto number = [&](const char* key) {
    int64_t v = 0;
    auto it = fields.find(key);
    if (it != fields.end() && !absl::SimpleAtoi(it->second, &v)) {
      ok = false;
    }
    return v;
  };
  m.id = text("id");
  m.target = text("target");
  int64_t action = number("action");
  m.node = text("node");
  m.client = text("client");
  m.time_ms = number("time");
  m.timeout_ms = number("timeout");
  m.delay_ms = number("delay");
  m.tolerance_ms = number("tolerance");
  m.allow_self = number("allow_self") != 0;
  m.capable = number("capable") != 0;
  m.level = static_cast<int>(number("level"));
  if (std::string devices = text("devices"); !devices.empty()) {
    m.devices = absl::StrSplit(devices, ',');
  }
  m.attempt = static_cast<int>(number("attempt"));
  int64_t state = number("state");
  m.device = text("device");
  m.reason = text("reason");
  if (!ok || action < 0 || action > 2 || state < 0 || state > 2 || m.id.empty()) {
    return absl::InvalidArgumentError("a stonithd fencing message with bad fields");
  }
  m.action = static_cast<FenceAction>(action);
  m.state = static_cast<FenceState>(state);
  return m;
}

}  // namespace ha::stonithd
