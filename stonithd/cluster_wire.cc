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
constexpr const char* kKinds[] = {
    "request", "answer", "result", "expire", "confirm", "history", "hello", "fenced"};

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
  if (m.only_if_lost) {
    Put(out, "only_if_lost", 1);
  }
  Put(out, "capable", m.capable ? 1 : 0);
  Put(out, "level", m.level);
  Put(out, "devices", absl::StrJoin(m.devices, ","));
  if (!m.capable_devices.empty()) {
    Put(out, "capable_devices", absl::StrJoin(m.capable_devices, ","));
  }
  if (!m.levels.empty()) {
    Put(out, "levels", m.levels);
  }
  if (m.degraded) {
    Put(out, "degraded", 1);
  }
  Put(out, "attempt", m.attempt);
  Put(out, "state", static_cast<int64_t>(m.state));
  Put(out, "device", m.device);
  Put(out, "reason", m.reason);
  for (const FenceRecord& r : m.records) {
    Put(out, "record", EncodeRecord(r));
  }
  for (const std::string& op : m.ops) {
    Put(out, "op", op);
  }
  for (const FenceRecord& r : m.merged) {
    Put(out, "merged", EncodeRecord(r));
  }
  if (!m.sync_for.empty()) {
    Put(out, "sync_for", m.sync_for);
  }
  if (!m.synced.empty()) {
    Put(out, "synced", m.synced);
  }
  if (!m.incarnation.empty()) {
    Put(out, "incarnation", m.incarnation);
  }
  if (!m.fenced_incarnation.empty()) {
    Put(out, "fenced_incarnation", m.fenced_incarnation);
  }
  if (!m.known.empty()) {
    Put(out, "known", m.known);
  }
  if (!m.fenced.empty()) {
    Put(out, "fenced", m.fenced);
  }
  return out;
}

std::string EncodeFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&out, key, "=", absl::CEscape(value), "\n");
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> DecodeFields(const std::string& text) {
  std::map<std::string, std::string> fields;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    std::string value;
    if (!absl::CUnescape(kv.second, &value)) {
      return absl::InvalidArgumentError(absl::StrCat("a bad value for '", kv.first, "'"));
    }
    fields[kv.first] = std::move(value);
  }
  return fields;
}

namespace {

std::string TimeText(absl::Time t) {
  return t == absl::InfinitePast() ? "" : absl::StrCat(absl::ToUnixMillis(t));
}

}  // namespace

std::string EncodeRecord(const FenceRecord& r) {
  return EncodeFields({{"id", r.id},
                       {"target", r.target},
                       {"action", absl::StrCat(static_cast<int>(r.action))},
                       {"state", absl::StrCat(static_cast<int>(r.state))},
                       {"device", r.device},
                       {"delegate", r.delegate},
                       {"origin", r.origin},
                       {"client", r.client},
                       {"requested", TimeText(r.requested)},
                       {"completed", TimeText(r.completed)},
                       {"reason", r.exit_reason},
                       {"level", absl::StrCat(r.level)},
                       {"tolerance", r.within_tolerance ? "1" : "0"},
                       {"merged_into", r.merged_into}});
}

absl::StatusOr<FenceRecord> DecodeRecord(const std::string& text) {
  absl::StatusOr<std::map<std::string, std::string>> fields = DecodeFields(text);
  if (!fields.ok()) {
    return fields.status();
  }
  std::map<std::string, std::string>& f = *fields;
  FenceRecord r;
  bool ok = true;
  auto number = [&](const char* key) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(f[key], &v)) {
      ok = false;
    }
    return v;
  };
  auto time = [&](const char* key) {
    return f[key].empty() ? absl::InfinitePast() : absl::FromUnixMillis(number(key));
  };
  r.id = f["id"];
  r.target = f["target"];
  const int64_t action = number("action");
  const int64_t state = number("state");
  r.device = f["device"];
  r.delegate = f["delegate"];
  r.origin = f["origin"];
  r.client = f["client"];
  r.requested = time("requested");
  r.completed = time("completed");
  r.exit_reason = f["reason"];
  r.level = static_cast<int>(number("level"));
  r.within_tolerance = f["tolerance"] == "1";
  r.merged_into = f["merged_into"];
  if (!ok || r.id.empty() || action < 0 || action > 2 || state < 0 || state > 2) {
    return absl::InvalidArgumentError("a fencing record with bad fields");
  }
  r.action = static_cast<FenceAction>(action);
  r.state = static_cast<FenceState>(state);
  return r;
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
    if (kv.first == "record" || kv.first == "merged") {  // repeated
      absl::StatusOr<FenceRecord> r = DecodeRecord(value);
      if (!r.ok()) {
        return r.status();
      }
      (kv.first == "record" ? m.records : m.merged).push_back(*std::move(r));
      continue;
    }
    if (kv.first == "op") {  // repeated
      m.ops.push_back(std::move(value));
      continue;
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
  m.only_if_lost = number("only_if_lost") != 0;
  m.capable = number("capable") != 0;
  m.level = static_cast<int>(number("level"));
  if (std::string devices = text("devices"); !devices.empty()) {
    m.devices = absl::StrSplit(devices, ',');
  }
  if (std::string devices = text("capable_devices"); !devices.empty()) {
    m.capable_devices = absl::StrSplit(devices, ',');
  }
  m.levels = text("levels");
  m.degraded = number("degraded") != 0;
  m.attempt = static_cast<int>(number("attempt"));
  int64_t state = number("state");
  m.device = text("device");
  m.reason = text("reason");
  m.sync_for = text("sync_for");
  m.synced = text("synced");
  m.incarnation = text("incarnation");
  m.fenced_incarnation = text("fenced_incarnation");
  m.known = text("known");
  m.fenced = text("fenced");
  if (!ok || action < 0 || action > 2 || state < 0 || state > 2 || m.id.empty()) {
    return absl::InvalidArgumentError("a stonithd fencing message with bad fields");
  }
  m.action = static_cast<FenceAction>(action);
  m.state = static_cast<FenceState>(state);
  return m;
}

}  // namespace ha::stonithd
