// Turns the untyped tree of corosync.conf into ClusterConfig. Key names, value types and defaults
// follow corosync.conf(5) and votequorum(5); docs/formats/corosync-conf.md is the reference for
// what we accept. Every error names FILE:LINE:COLUMN of the offending token.
#include "config/cluster_config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "config/conf_tree.h"

namespace ha::config {

// ---------------------------------------------------------------------------------------------
// Derived timers (corosync's totemconfig.c).

int TotemConfig::EffectiveToken(size_t node_count) const {
  int64_t t = token;
  if (node_count >= 3)
    t += static_cast<int64_t>(node_count - 2) * token_coefficient;
  return static_cast<int>(std::min<int64_t>(t, std::numeric_limits<int>::max()));
}

int TotemConfig::EffectiveTokenRetransmit(size_t node_count) const {
  if (token_retransmit.has_value())
    return *token_retransmit;
  return static_cast<int>(EffectiveToken(node_count) / (token_retransmits_before_loss_const + 0.2));
}

int TotemConfig::EffectiveHold(size_t node_count) const {
  if (hold.has_value())
    return *hold;
  // corosync subtracts one kernel tick (1000 / HZ with HZ = 100); never below zero.
  return std::max(0, static_cast<int>(EffectiveTokenRetransmit(node_count) * 0.8 - 10));
}

int TotemConfig::EffectiveConsensus(size_t node_count) const {
  if (consensus.has_value())
    return *consensus;
  return static_cast<int>(
      std::min<double>(1.2 * EffectiveToken(node_count), std::numeric_limits<int>::max()));
}

int TotemConfig::EffectiveRrpProblemCountMcastThreshold() const {
  if (rrp_problem_count_mcast_threshold.has_value())
    return *rrp_problem_count_mcast_threshold;
  return static_cast<int>(std::min<int64_t>(int64_t{10} * rrp_problem_count_threshold,
                                            std::numeric_limits<int>::max()));
}

int TotemConfig::EffectiveRrpTokenExpiredTimeout(size_t node_count) const {
  if (rrp_token_expired_timeout.has_value())
    return *rrp_token_expired_timeout;
  return EffectiveTokenRetransmit(node_count);
}

const NodeConfig* ClusterConfig::FindNode(uint32_t nodeid) const {
  for (const NodeConfig& node : nodes) {
    if (node.nodeid == nodeid)
      return &node;
  }
  return nullptr;
}

std::string ConfigWarning::ToString() const {
  return absl::StrCat(pos.ToString(), ": warning: ", message);
}

namespace {

constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr int64_t kNodeIdMax = std::numeric_limits<uint32_t>::max();
constexpr int kMaxLinks = 8;  // corosync 3 (knet): ring0_addr .. ring7_addr, links 0..7

constexpr absl::string_view kMs = "a whole number of milliseconds";
constexpr absl::string_view kWhole = "a whole number";
constexpr absl::string_view kPort = "a port number";

absl::Status ErrorAt(const SourcePos& pos, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(pos.ToString(), ": ", message));
}

// A value as shown in a message: short and printable.
std::string Shown(absl::string_view value) {
  constexpr size_t kMaxShown = 60;
  std::string out;
  for (size_t i = 0; i < value.size() && i < kMaxShown; ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (value.size() > kMaxShown)
    out += "...";
  return out;
}

absl::Status BadValue(const ConfEntry& e, absl::string_view why) {
  return ErrorAt(e.value_pos,
                 absl::StrCat("bad value '", Shown(e.value), "' for '", e.key, "': ", why));
}

std::string RangeText(int64_t min, int64_t max) {
  if (min == max)
    return absl::StrCat("must be ", min);
  if (max == kIntMax)
    return absl::StrCat("must be at least ", min);
  return absl::StrCat("must be from ", min, " to ", max);
}

// Strict decimal: an optional '-' and digits, nothing else (corosync's safe_atoq is as strict
// about trailing text).
absl::StatusOr<int64_t> ParseInt(const ConfEntry& e,
                                 int64_t min,
                                 int64_t max,
                                 absl::string_view noun) {
  absl::string_view v = e.value;
  bool negative = false;
  if (!v.empty() && v.front() == '-') {
    negative = true;
    v.remove_prefix(1);
  }
  if (v.empty())
    return BadValue(e, absl::StrCat("expected ", noun));
  int64_t n = 0;
  bool overflow = false;
  for (char c : v) {
    if (c < '0' || c > '9')
      return BadValue(e, absl::StrCat("expected ", noun));
    if (n > (std::numeric_limits<int64_t>::max() - 9) / 10) {
      overflow = true;
    } else {
      n = n * 10 + (c - '0');
    }
  }
  if (negative)
    n = -n;
  if (overflow || n < min || n > max)
    return BadValue(e, RangeText(min, max));
  return n;
}

// Booleans as corosync's option parsers take them, in any case.
absl::StatusOr<bool> ParseBool(const ConfEntry& e) {
  std::string v = absl::AsciiStrToLower(e.value);
  if (v == "yes" || v == "on" || v == "true" || v == "1")
    return true;
  if (v == "no" || v == "off" || v == "false" || v == "0")
    return false;
  return BadValue(e, "expected yes or no (or on/off, true/false, 1/0)");
}

absl::Status CheckEnum(const ConfEntry& e, const std::vector<absl::string_view>& allowed) {
  for (absl::string_view a : allowed) {
    if (e.value == a)
      return absl::OkStatus();
  }
  return BadValue(e, absl::StrCat("expected one of ", absl::StrJoin(allowed, ", ")));
}

const std::vector<absl::string_view>& Priorities() {
  static const auto* const kPriorities = new std::vector<absl::string_view>{
      "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "trace"};
  return *kPriorities;
}

const std::vector<absl::string_view>& Facilities() {
  static const auto* const kFacilities = new std::vector<absl::string_view>{
      "daemon", "local0", "local1", "local2",   "local3", "local4", "local5",
      "local6", "local7", "auth",   "authpriv", "cron",   "ftp",    "kern",
      "lpr",    "mail",   "news",   "syslog",   "user",   "uucp"};
  return *kFacilities;
}

// One known key of a section and what to do with its value.
struct KeySpec {
  std::string name;
  std::function<absl::Status(const ConfEntry&)> read;
};

KeySpec IntKey(absl::string_view name, int* out, int64_t min, int64_t max, absl::string_view noun) {
  return {std::string(name), [=](const ConfEntry& e) -> absl::Status {
            absl::StatusOr<int64_t> n = ParseInt(e, min, max, noun);
            if (!n.ok())
              return n.status();
            *out = static_cast<int>(*n);
            return absl::OkStatus();
          }};
}

KeySpec OptIntKey(absl::string_view name,
                  std::optional<int>* out,
                  int64_t min,
                  int64_t max,
                  absl::string_view noun) {
  return {std::string(name), [=](const ConfEntry& e) -> absl::Status {
            absl::StatusOr<int64_t> n = ParseInt(e, min, max, noun);
            if (!n.ok())
              return n.status();
            *out = static_cast<int>(*n);
            return absl::OkStatus();
          }};
}

// Timers: milliseconds, greater than zero.
KeySpec MsKey(absl::string_view name, int* out) {
  return IntKey(name, out, 1, kIntMax, kMs);
}
// `spec`, also keeping where its value was written, for a later check across keys.
KeySpec KeepingPos(KeySpec spec, std::optional<SourcePos>* pos) {
  return {spec.name, [read = std::move(spec.read), pos](const ConfEntry& e) -> absl::Status {
            HA_RETURN_IF_ERROR(read(e));
            *pos = e.value_pos;
            return absl::OkStatus();
          }};
}
KeySpec OptMsKey(absl::string_view name, std::optional<int>* out) {
  return OptIntKey(name, out, 1, kIntMax, kMs);
}

KeySpec BoolKey(absl::string_view name, bool* out) {
  return {std::string(name), [=](const ConfEntry& e) -> absl::Status {
            absl::StatusOr<bool> b = ParseBool(e);
            if (!b.ok())
              return b.status();
            *out = *b;
            return absl::OkStatus();
          }};
}

KeySpec OptBoolKey(absl::string_view name, std::optional<bool>* out) {
  return {std::string(name), [=](const ConfEntry& e) -> absl::Status {
            absl::StatusOr<bool> b = ParseBool(e);
            if (!b.ok())
              return b.status();
            *out = *b;
            return absl::OkStatus();
          }};
}

KeySpec EnumKey(absl::string_view name, std::string* out, std::vector<absl::string_view> allowed) {
  return {std::string(name), [=](const ConfEntry& e) -> absl::Status {
            HA_RETURN_IF_ERROR(CheckEnum(e, allowed));
            *out = e.value;
            return absl::OkStatus();
          }};
}

// A key we validate but do not keep.
KeySpec CheckedKey(absl::string_view name, std::vector<absl::string_view> allowed) {
  return {std::string(name),
          [=](const ConfEntry& e) -> absl::Status { return CheckEnum(e, allowed); }};
}

KeySpec StrKey(absl::string_view name, std::string* out, bool allow_empty = true) {
  return {std::string(name), [=](const ConfEntry& e) -> absl::Status {
            if (!allow_empty && e.value.empty())
              return BadValue(e, "expected a non-empty value");
            *out = e.value;
            return absl::OkStatus();
          }};
}

enum class Duplicates {
  kWarn,   // corosync's behaviour: the last one wins
  kError,  // inside `node`, where a second nodeid or address is surely a mistake
  kAllow,  // `uidgid`: every uid and gid adds one
};

class Builder {
 public:
  Builder(absl::string_view file, LoadedConfig* out) : file_(file), out_(out) {
    cfg().source_file = std::string(file);
  }

  absl::Status Build(const ConfSection& root) {
    HA_RETURN_IF_ERROR(ReadEntries(root, "at top level", {}, {}, Duplicates::kWarn));
    for (const auto& sub : root.sections) {
      const ConfSection& sec = *sub;
      absl::Status s;
      if (sec.name == "totem") {
        s = ReadTotem(sec);
      } else if (sec.name == "nodelist") {
        s = ReadNodelist(sec);
      } else if (sec.name == "quorum") {
        s = ReadQuorum(sec);
      } else if (sec.name == "logging") {
        s = ReadLogging(sec);
      } else if (sec.name == "system") {
        s = ReadSystem(sec);
      } else if (sec.name == "uidgid") {
        s = ReadUidGid(sec);
      } else if (sec.name == "supervisor") {
        s = ReadSupervisor(sec);
      } else if (sec.name == "resources" || sec.name == "nozzle") {
        Warn(sec.pos, absl::StrCat("the '", sec.name, "' section is not supported and is ignored"));
      } else {
        return UnknownSection(sec, nullptr);
      }
      if (!s.ok())
        return s;
    }
    return Finish();
  }

 private:
  ClusterConfig& cfg() { return out_->config; }

  void Warn(const SourcePos& pos, std::string message) {
    out_->warnings.push_back(ConfigWarning{pos, std::move(message)});
  }

  static absl::Status UnknownSection(const ConfSection& sec, const ConfSection* parent) {
    if (parent == nullptr) {
      return ErrorAt(sec.pos, absl::StrCat("unknown section '", sec.name, "' at top level"));
    }
    return ErrorAt(sec.pos,
                   absl::StrCat("unknown section '", sec.name, "' in '", parent->name, "'"));
  }

  static std::string In(const ConfSection& sec) {
    return absl::StrCat("in section '", sec.name, "'");
  }

  // Reads the entries of one section: known keys through their KeySpec, keys that corosync
  // documents but we do not use silently, anything else with a warning.
  absl::Status ReadEntries(const ConfSection& sec,
                           absl::string_view where,
                           const std::vector<KeySpec>& keys,
                           const std::vector<absl::string_view>& silent,
                           Duplicates duplicates) {
    std::map<std::string, SourcePos, std::less<>> seen;
    for (const ConfEntry& e : sec.entries) {
      auto [it, inserted] = seen.emplace(e.key, e.key_pos);
      if (!inserted) {
        switch (duplicates) {
          case Duplicates::kWarn:
            Warn(e.key_pos,
                 absl::StrCat("duplicate key '",
                              e.key,
                              "' ",
                              where,
                              " (first at ",
                              it->second.ToString(),
                              "): the last one wins"));
            break;
          case Duplicates::kError:
            return ErrorAt(e.key_pos,
                           absl::StrCat("duplicate key '",
                                        e.key,
                                        "' ",
                                        where,
                                        " (first at ",
                                        it->second.ToString(),
                                        ")"));
          case Duplicates::kAllow:
            break;
        }
      }
      auto spec =
          std::find_if(keys.begin(), keys.end(), [&](const KeySpec& k) { return k.name == e.key; });
      if (spec != keys.end()) {
        HA_RETURN_IF_ERROR(spec->read(e));
      } else if (std::find(silent.begin(), silent.end(), e.key) == silent.end()) {
        Warn(e.key_pos, absl::StrCat("unknown key '", e.key, "' ", where));
      }
    }
    return absl::OkStatus();
  }

  // ----- totem

  absl::Status ReadTotem(const ConfSection& sec) {
    TotemConfig& t = cfg().totem;
    const std::vector<KeySpec> keys = {
        IntKey("version", &t.version, 2, 2, kWhole),
        StrKey("cluster_name", &t.cluster_name),
        {"nodeid",
         [&](const ConfEntry& e) -> absl::Status {
           absl::StatusOr<int64_t> n = ParseInt(e, 1, kNodeIdMax, kWhole);
           if (!n.ok())
             return n.status();
           t.nodeid = static_cast<uint32_t>(*n);
           return absl::OkStatus();
         }},
        {"transport",
         [&](const ConfEntry& e) -> absl::Status {
           HA_RETURN_IF_ERROR(CheckEnum(e, {"knet", "udp", "udpu"}));
           t.transport = e.value;
           return absl::OkStatus();
         }},
        {"ip_version",
         [&](const ConfEntry& e) -> absl::Status {
           HA_RETURN_IF_ERROR(CheckEnum(e, {"ipv4", "ipv6", "ipv4-6", "ipv6-4"}));
           t.ip_version = e.value;
           ip_version_set_ = true;
           return absl::OkStatus();
         }},
        {"crypto_cipher",
         [&](const ConfEntry& e) -> absl::Status {
           HA_RETURN_IF_ERROR(CheckEnum(e, {"none", "aes256", "aes192", "aes128"}));
           t.crypto_cipher = e.value;
           crypto_cipher_pos_ = e.value_pos;
           return absl::OkStatus();
         }},
        {"crypto_hash",
         [&](const ConfEntry& e) -> absl::Status {
           HA_RETURN_IF_ERROR(CheckEnum(e, {"none", "md5", "sha1", "sha256", "sha384", "sha512"}));
           t.crypto_hash = e.value;
           crypto_hash_pos_ = e.value_pos;
           return absl::OkStatus();
         }},
        StrKey("keyfile", &t.keyfile, /*allow_empty=*/false),
        EnumKey("rrp_mode", &t.rrp_mode, {"none", "passive", "active"}),
        IntKey("netmtu", &t.netmtu, 576, 65535, "a whole number of bytes"),
        MsKey("token", &t.token),
        IntKey("token_coefficient", &t.token_coefficient, 0, kIntMax, kMs),
        OptMsKey("token_retransmit", &t.token_retransmit),
        OptMsKey("hold", &t.hold),
        IntKey("token_retransmits_before_loss_const",
               &t.token_retransmits_before_loss_const,
               1,
               kIntMax,
               kWhole),
        MsKey("join", &t.join),
        IntKey("send_join", &t.send_join, 0, kIntMax, kMs),
        KeepingPos(OptMsKey("consensus", &t.consensus), &consensus_pos_),
        MsKey("merge", &t.merge),
        MsKey("downcheck", &t.downcheck),
        IntKey("fail_recv_const", &t.fail_recv_const, 1, kIntMax, kWhole),
        IntKey("seqno_unchanged_const", &t.seqno_unchanged_const, 1, kIntMax, kWhole),
        IntKey("heartbeat_failures_allowed", &t.heartbeat_failures_allowed, 0, kIntMax, kWhole),
        MsKey("max_network_delay", &t.max_network_delay),
        IntKey("window_size", &t.window_size, 1, kIntMax, kWhole),
        IntKey("max_messages", &t.max_messages, 1, kIntMax, kWhole),
        IntKey("miss_count_const", &t.miss_count_const, 1, kIntMax, kWhole),
        MsKey("rrp_problem_count_timeout", &t.rrp_problem_count_timeout),
        IntKey("rrp_problem_count_threshold", &t.rrp_problem_count_threshold, 1, kIntMax, kWhole),
        OptIntKey("rrp_problem_count_mcast_threshold",
                  &t.rrp_problem_count_mcast_threshold,
                  1,
                  kIntMax,
                  kWhole),
        OptMsKey("rrp_token_expired_timeout", &t.rrp_token_expired_timeout),
        // 0 turns automatic recovery off (membershipd/rrp.h): only ha-cfgtool -r re-enables.
        IntKey(
            "rrp_autorecovery_check_timeout", &t.rrp_autorecovery_check_timeout, 0, kIntMax, kMs),
    };
    // In corosync.conf(5) (2.x or 3.x) but not used by this stack.
    static const auto* const kSilent = new std::vector<absl::string_view>{
        "clear_node_high_bit",
        "secauth",
        "threads",
        "vsftype",
        "config_version",
        "crypto_model",
        "crypto_type",
        "crypto_compat",
        "link_mode",
        "knet_compression_model",
        "knet_compression_threshold",
        "knet_compression_level",
        "knet_pmtud_interval",
        "knet_mtu",
        "block_unlisted_ips",
        "cancel_token_hold_on_retransmit",
        "token_warning",
        "ip_dscp",
        "cluster_uuid",  // written by pcs
    };
    HA_RETURN_IF_ERROR(ReadEntries(sec, In(sec), keys, *kSilent, Duplicates::kWarn));
    for (const auto& sub : sec.sections) {
      if (sub->name != "interface")
        return UnknownSection(*sub, &sec);
      HA_RETURN_IF_ERROR(ReadInterface(*sub));
    }
    return absl::OkStatus();
  }

  absl::Status ReadInterface(const ConfSection& sec) {
    InterfaceConfig iface;
    iface.pos = sec.pos;
    SourcePos link_pos = sec.pos;
    auto link_key = [&](absl::string_view name) {
      return KeySpec{std::string(name), [&](const ConfEntry& e) -> absl::Status {
                       absl::StatusOr<int64_t> n = ParseInt(e, 0, kMaxLinks - 1, kWhole);
                       if (!n.ok())
                         return n.status();
                       iface.linknumber = static_cast<int>(*n);
                       link_pos = e.value_pos;
                       return absl::OkStatus();
                     }};
    };
    const std::vector<KeySpec> keys = {
        link_key("linknumber"),
        link_key("ringnumber"),  // corosync 2's name
        StrKey("bindnetaddr", &iface.bindnetaddr),
        StrKey("mcastaddr", &iface.mcastaddr),
        IntKey("mcastport", &iface.mcastport, 1, 65535, kPort),
        IntKey("ttl", &iface.ttl, 0, 255, kWhole),
    };
    static const auto* const kSilent = new std::vector<absl::string_view>{
        "broadcast",
        "knet_link_priority",
        "knet_ping_interval",
        "knet_ping_timeout",
        "knet_ping_precision",
        "knet_pong_count",
        "knet_transport",
    };
    HA_RETURN_IF_ERROR(ReadEntries(sec, In(sec), keys, *kSilent, Duplicates::kWarn));
    for (const auto& sub : sec.sections) {
      if (sub->name != "member")
        return UnknownSection(*sub, &sec);
      Warn(sub->pos, "'member' sections are obsolete and ignored: list the nodes in nodelist");
    }
    for (size_t i = 0; i < cfg().totem.interfaces.size(); ++i) {
      if (cfg().totem.interfaces[i].linknumber == iface.linknumber) {
        return ErrorAt(link_pos,
                       absl::StrCat("duplicate link number ",
                                    iface.linknumber,
                                    " (first at ",
                                    interface_link_pos_[i].ToString(),
                                    ")"));
      }
    }
    cfg().totem.interfaces.push_back(std::move(iface));
    interface_link_pos_.push_back(link_pos);
    return absl::OkStatus();
  }

  // ----- nodelist

  absl::Status ReadNodelist(const ConfSection& sec) {
    HA_RETURN_IF_ERROR(ReadEntries(sec, In(sec), {}, {}, Duplicates::kWarn));
    for (const auto& sub : sec.sections) {
      if (sub->name != "node")
        return UnknownSection(*sub, &sec);
      HA_RETURN_IF_ERROR(ReadNode(*sub));
    }
    return absl::OkStatus();
  }

  absl::Status ReadNode(const ConfSection& sec) {
    NodeConfig node;
    node.pos = sec.pos;
    std::optional<SourcePos> nodeid_pos;
    std::optional<SourcePos> name_pos;
    std::array<std::optional<std::pair<std::string, const ConfEntry*>>, kMaxLinks> rings;

    // ringN_addr beyond the last link is an address we would silently drop: refuse it.
    for (const ConfEntry& e : sec.entries) {
      absl::string_view k = e.key;
      if (absl::ConsumePrefix(&k, "ring") && absl::ConsumeSuffix(&k, "_addr") && !k.empty() &&
          std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (k.size() > 2 || std::stoi(std::string(k)) >= kMaxLinks) {
          return ErrorAt(
              e.key_pos,
              absl::StrCat("'", e.key, "': ring (link) numbers go from 0 to ", kMaxLinks - 1));
        }
      }
    }

    std::vector<KeySpec> keys = {
        {"nodeid",
         [&](const ConfEntry& e) -> absl::Status {
           absl::StatusOr<int64_t> n = ParseInt(e, 1, kNodeIdMax, kWhole);
           if (!n.ok())
             return n.status();
           node.nodeid = static_cast<uint32_t>(*n);
           nodeid_pos = e.value_pos;
           return absl::OkStatus();
         }},
        {"name",
         [&](const ConfEntry& e) -> absl::Status {
           if (e.value.empty())
             return BadValue(e, "expected a node name");
           node.name = e.value;
           name_pos = e.value_pos;
           return absl::OkStatus();
         }},
        IntKey("quorum_votes", &node.quorum_votes, 0, kIntMax, kWhole),
    };
    for (int i = 0; i < kMaxLinks; ++i) {
      keys.push_back({absl::StrCat("ring", i, "_addr"), [&rings, i](const ConfEntry& e) {
                        if (e.value.empty())
                          return BadValue(e, "expected an address or host name");
                        rings[i] = std::make_pair(e.value, &e);
                        return absl::OkStatus();
                      }});
    }
    HA_RETURN_IF_ERROR(ReadEntries(sec, In(sec), keys, {}, Duplicates::kError));
    if (!sec.sections.empty())
      return UnknownSection(*sec.sections.front(), &sec);

    if (!nodeid_pos.has_value())
      return ErrorAt(sec.pos, "missing nodeid in node section");
    if (!rings[0].has_value())
      return ErrorAt(sec.pos, "missing ring0_addr in node section");
    int last = 0;
    for (int i = 0; i < kMaxLinks; ++i) {
      if (rings[i].has_value())
        last = i;
    }
    for (int i = 0; i <= last; ++i) {
      if (!rings[i].has_value()) {
        int next = i + 1;
        while (!rings[next].has_value())
          ++next;
        return ErrorAt(rings[next]->second->key_pos,
                       absl::StrCat("ring", next, "_addr is given but ring", i, "_addr is not"));
      }
      node.ring_addrs.push_back(rings[i]->first);
    }
    if (!name_pos.has_value()) {
      node.name = node.ring_addrs[0];
      name_pos = rings[0]->second->value_pos;
    }

    if (auto [it, inserted] = node_id_pos_.emplace(node.nodeid, *nodeid_pos); !inserted) {
      return ErrorAt(
          *nodeid_pos,
          absl::StrCat(
              "duplicate node id ", node.nodeid, " (first at ", it->second.ToString(), ")"));
    }
    if (auto [it, inserted] = node_name_pos_.emplace(node.name, *name_pos); !inserted) {
      return ErrorAt(*name_pos,
                     absl::StrCat("duplicate node name '",
                                  Shown(node.name),
                                  "' (first at ",
                                  it->second.ToString(),
                                  ")"));
    }
    for (int i = 0; i <= last; ++i) {
      const ConfEntry& e = *rings[i]->second;
      auto [it, inserted] = ring_addr_pos_.emplace(std::make_pair(i, e.value), e.value_pos);
      if (!inserted) {
        return ErrorAt(e.value_pos,
                       absl::StrCat("duplicate address '",
                                    Shown(e.value),
                                    "' for ",
                                    e.key,
                                    " (first at ",
                                    it->second.ToString(),
                                    ")"));
      }
    }
    cfg().nodes.push_back(std::move(node));
    return absl::OkStatus();
  }

  // ----- quorum

  absl::Status ReadQuorum(const ConfSection& sec) {
    QuorumConfig& q = cfg().quorum;
    const std::vector<KeySpec> keys = {
        {"provider",
         [&](const ConfEntry& e) -> absl::Status {
           if (e.value != "corosync_votequorum") {
             return BadValue(e, "expected corosync_votequorum");
           }
           q.provider = e.value;
           return absl::OkStatus();
         }},
        OptIntKey("expected_votes", &q.expected_votes, 1, kIntMax, kWhole),
        {"two_node",
         [&](const ConfEntry& e) -> absl::Status {
           absl::StatusOr<bool> b = ParseBool(e);
           if (!b.ok())
             return b.status();
           q.two_node = *b;
           two_node_pos_ = e.value_pos;
           return absl::OkStatus();
         }},
        OptBoolKey("wait_for_all", &q.wait_for_all),
        BoolKey("last_man_standing", &q.last_man_standing),
        MsKey("last_man_standing_window", &q.last_man_standing_window),
        {"auto_tie_breaker",
         [&](const ConfEntry& e) -> absl::Status {
           absl::StatusOr<bool> b = ParseBool(e);
           if (!b.ok())
             return b.status();
           q.auto_tie_breaker = *b ? "1" : "0";
           return absl::OkStatus();
         }},
        {"auto_tie_breaker_node",
         [&](const ConfEntry& e) -> absl::Status {
           if (e.value == "lowest" || e.value == "highest") {
             q.auto_tie_breaker_node = e.value;
             return absl::OkStatus();
           }
           std::vector<absl::string_view> ids =
               absl::StrSplit(e.value, absl::ByAnyChar(" \t"), absl::SkipEmpty());
           bool ok = !ids.empty();
           for (absl::string_view id : ids) {
             ok = ok && !id.empty() && id.size() <= 10 && id != "0" &&
                  std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                  std::stoull(std::string(id)) <= static_cast<uint64_t>(kNodeIdMax);
           }
           if (!ok)
             return BadValue(e, "expected lowest, highest or a list of node ids");
           q.auto_tie_breaker_node = absl::StrJoin(ids, " ");
           atb_node_pos_ = e.value_pos;
           return absl::OkStatus();
         }},
        BoolKey("allow_downscale", &q.allow_downscale),
        BoolKey("expected_votes_tracking", &q.expected_votes_tracking),
    };
    HA_RETURN_IF_ERROR(ReadEntries(sec, In(sec), keys, {}, Duplicates::kWarn));
    for (const auto& sub : sec.sections) {
      if (sub->name != "device")
        return UnknownSection(*sub, &sec);
      Warn(sub->pos, "quorum devices are not supported: the 'device' section is ignored");
    }
    return absl::OkStatus();
  }

  // ----- logging

  absl::Status ReadLogging(const ConfSection& sec) {
    LoggingConfig& l = cfg().logging;
    const std::vector<KeySpec> keys = {
        BoolKey("to_stderr", &l.to_stderr),
        {"to_logfile",
         [&](const ConfEntry& e) -> absl::Status {
           absl::StatusOr<bool> b = ParseBool(e);
           if (!b.ok())
             return b.status();
           l.to_logfile = *b;
           to_logfile_pos_ = e.value_pos;
           return absl::OkStatus();
         }},
        BoolKey("to_syslog", &l.to_syslog),
        StrKey("logfile", &l.logfile),
        EnumKey("logfile_priority", &l.logfile_priority, Priorities()),
        EnumKey("syslog_facility", &l.syslog_facility, Facilities()),
        EnumKey("syslog_priority", &l.syslog_priority, Priorities()),
        EnumKey("debug", &l.debug, {"off", "on", "trace"}),
        EnumKey("timestamp", &l.timestamp, {"off", "on", "hires"}),
        BoolKey("fileline", &l.fileline),
        BoolKey("function_name", &l.function_name),
        BoolKey("blackbox", &l.blackbox),
    };
    HA_RETURN_IF_ERROR(ReadEntries(sec, In(sec), keys, {}, Duplicates::kWarn));
    for (const auto& sub : sec.sections) {
      if (sub->name != "logger_subsys")
        return UnknownSection(*sub, &sec);
      HA_RETURN_IF_ERROR(ReadLoggerSubsys(*sub));
    }
    return absl::OkStatus();
  }

  absl::Status ReadLoggerSubsys(const ConfSection& sec) {
    LoggerSubsysConfig sub;
    sub.pos = sec.pos;
    bool has_logfile = false;
    std::optional<SourcePos> to_logfile_pos;
    const std::vector<KeySpec> keys = {
        StrKey("subsys", &sub.subsys, /*allow_empty=*/false),
        {"debug",
         [&](const ConfEntry& e) -> absl::Status {
           HA_RETURN_IF_ERROR(CheckEnum(e, {"off", "on", "trace"}));
           sub.debug = e.value;
           return absl::OkStatus();
         }},
        {"to_logfile",
         [&](const ConfEntry& e) -> absl::Status {
           absl::StatusOr<bool> b = ParseBool(e);
           if (!b.ok())
             return b.status();
           sub.to_logfile = *b;
           to_logfile_pos = e.value_pos;
           return absl::OkStatus();
         }},
        OptBoolKey("to_syslog", &sub.to_syslog),
        OptBoolKey("to_stderr", &sub.to_stderr),
        // Valid here per corosync.conf(5); checked, not kept.
        {"logfile",
         [&](const ConfEntry& e) -> absl::Status {
           has_logfile = !e.value.empty();
           return absl::OkStatus();
         }},
        CheckedKey("logfile_priority", Priorities()),
        CheckedKey("syslog_priority", Priorities()),
        CheckedKey("syslog_facility", Facilities()),
    };
    HA_RETURN_IF_ERROR(ReadEntries(sec, In(sec), keys, {}, Duplicates::kWarn));
    if (!sec.sections.empty())
      return UnknownSection(*sec.sections.front(), &sec);
    if (sub.subsys.empty())
      return ErrorAt(sec.pos, "missing subsys in logger_subsys section");
    if (sub.to_logfile.value_or(false) && !has_logfile) {
      subsys_to_logfile_pos_.push_back(*to_logfile_pos);
    }
    cfg().logging.subsystems.push_back(std::move(sub));
    return absl::OkStatus();
  }

  // ----- system, uidgid, supervisor

  absl::Status ReadSystem(const ConfSection& sec) {
    SystemConfig& y = cfg().system;
    const std::vector<KeySpec> keys = {
        StrKey("state_dir", &y.state_dir, /*allow_empty=*/false),
        StrKey("run_dir", &y.run_dir, /*allow_empty=*/false),
        {"membership_provider",
         [&](const ConfEntry& e) -> absl::Status {
           if (e.value == "membershipd")
             y.membership_provider = MembershipProvider::kMembershipd;
           else if (e.value == "corosync")
             y.membership_provider = MembershipProvider::kCorosync;
           else
             return BadValue(e, "expected membershipd or corosync");
           return absl::OkStatus();
         }},
        BoolKey("sched_rr", &y.sched_rr),
        {"priority",
         [&](const ConfEntry& e) -> absl::Status {
           if (e.value != "max" && e.value != "min") {
             absl::StatusOr<int64_t> n = ParseInt(e, -20, 19, "max, min or a nice value");
             if (!n.ok())
               return n.status();
           }
           y.priority = e.value;
           return absl::OkStatus();
         }},
        {"move_to_root_cgroup",
         [&](const ConfEntry& e) -> absl::Status {
           if (e.value == "auto") {
             y.move_to_root_cgroup = true;
             return absl::OkStatus();
           }
           absl::StatusOr<bool> b = ParseBool(e);
           if (!b.ok())
             return BadValue(e, "expected yes, no or auto");
           y.move_to_root_cgroup = *b;
           return absl::OkStatus();
         }},
        CheckedKey("qb_ipc_type", {"native", "shm", "socket"}),
    };
    HA_RETURN_IF_ERROR(
        ReadEntries(sec, In(sec), keys, {"allow_knet_handle_fallback"}, Duplicates::kWarn));
    if (!sec.sections.empty())
      return UnknownSection(*sec.sections.front(), &sec);
    return absl::OkStatus();
  }

  absl::Status ReadUidGid(const ConfSection& sec) {
    UidGidConfig& u = cfg().uidgid;
    const std::vector<KeySpec> keys = {
        {"uid",
         [&](const ConfEntry& e) -> absl::Status {
           if (e.value.empty())
             return BadValue(e, "expected a user name or uid");
           u.users.push_back(e.value);
           return absl::OkStatus();
         }},
        {"gid",
         [&](const ConfEntry& e) -> absl::Status {
           if (e.value.empty())
             return BadValue(e, "expected a group name or gid");
           u.groups.push_back(e.value);
           return absl::OkStatus();
         }},
    };
    HA_RETURN_IF_ERROR(ReadEntries(sec, In(sec), keys, {}, Duplicates::kAllow));
    if (!sec.sections.empty())
      return UnknownSection(*sec.sections.front(), &sec);
    return absl::OkStatus();
  }

  absl::Status ReadSupervisor(const ConfSection& sec) {
    SupervisorConfig& v = cfg().supervisor;
    const std::vector<KeySpec> keys = {
        IntKey("respawn_limit", &v.respawn_limit, 0, kIntMax, kWhole),
        MsKey("respawn_window", &v.respawn_window),
        MsKey("respawn_backoff_initial", &v.respawn_backoff_initial),
        KeepingPos(MsKey("respawn_backoff_max", &v.respawn_backoff_max), &backoff_max_pos_),
        MsKey("start_timeout", &v.start_timeout),
        MsKey("stop_timeout", &v.stop_timeout),
    };
    HA_RETURN_IF_ERROR(ReadEntries(sec, In(sec), keys, {}, Duplicates::kWarn));
    if (!sec.sections.empty())
      return UnknownSection(*sec.sections.front(), &sec);
    supervisor_pos_ = sec.pos;
    return absl::OkStatus();
  }

  // ----- checks across sections

  absl::Status Finish() {
    ClusterConfig& c = cfg();
    if (c.nodes.empty()) {
      return ErrorAt(SourcePos{file_, 1, 1},
                     "missing nodelist: at least one node { nodeid, ring0_addr } is required");
    }
    const TotemConfig& t = c.totem;
    if (t.crypto_cipher != "none" && t.crypto_hash == "none") {
      return ErrorAt(
          *crypto_cipher_pos_,
          absl::StrCat(
              "crypto_cipher '", t.crypto_cipher, "' needs a crypto_hash other than none"));
    }
    if (t.transport != "knet" && (t.crypto_cipher != "none" || t.crypto_hash != "none")) {
      const SourcePos& pos = t.crypto_cipher != "none" ? *crypto_cipher_pos_ : *crypto_hash_pos_;
      return ErrorAt(
          pos,
          absl::StrCat("crypto_cipher and crypto_hash need transport knet, not ", t.transport));
    }
    if (!ip_version_set_ && t.transport == "udp")
      c.totem.ip_version = "ipv4";
    if (consensus_pos_.has_value() && *t.consensus < t.EffectiveToken(c.nodes.size())) {
      return ErrorAt(*consensus_pos_,
                     absl::StrCat("consensus (",
                                  *t.consensus,
                                  " ms) must not be less than the token timeout (",
                                  t.EffectiveToken(c.nodes.size()),
                                  " ms)"));
    }

    const LoggingConfig& l = c.logging;
    if (l.to_logfile && l.logfile.empty()) {
      return ErrorAt(*to_logfile_pos_, "to_logfile is yes but no logfile is given");
    }
    if (!subsys_to_logfile_pos_.empty() && l.logfile.empty()) {
      return ErrorAt(subsys_to_logfile_pos_.front(),
                     "to_logfile is yes but no logfile is given here or in 'logging'");
    }

    const QuorumConfig& q = c.quorum;
    if (q.two_node && c.nodes.size() != 2) {
      Warn(*two_node_pos_,
           absl::StrCat("two_node is set but the nodelist has ",
                        c.nodes.size(),
                        " nodes: votequorum ignores it"));
    }
    if (atb_node_pos_.has_value()) {
      for (absl::string_view id : absl::StrSplit(q.auto_tie_breaker_node, ' ')) {
        if (c.FindNode(static_cast<uint32_t>(std::stoull(std::string(id)))) == nullptr) {
          Warn(*atb_node_pos_,
               absl::StrCat(
                   "auto_tie_breaker_node names node id ", id, ", which is not in the nodelist"));
        }
      }
    }

    const SupervisorConfig& v = c.supervisor;
    if (v.respawn_backoff_max < v.respawn_backoff_initial) {
      return ErrorAt(backoff_max_pos_.value_or(supervisor_pos_.value_or(SourcePos{file_, 1, 1})),
                     absl::StrCat("respawn_backoff_max (",
                                  v.respawn_backoff_max,
                                  " ms) is less than respawn_backoff_initial (",
                                  v.respawn_backoff_initial,
                                  " ms)"));
    }
    return absl::OkStatus();
  }

  std::string file_;
  LoadedConfig* out_;

  std::map<uint32_t, SourcePos> node_id_pos_;
  std::map<std::string, SourcePos> node_name_pos_;
  std::map<std::pair<int, std::string>, SourcePos> ring_addr_pos_;
  std::vector<SourcePos> interface_link_pos_;
  std::vector<SourcePos> subsys_to_logfile_pos_;
  std::optional<SourcePos> crypto_cipher_pos_;
  std::optional<SourcePos> crypto_hash_pos_;
  std::optional<SourcePos> consensus_pos_;
  std::optional<SourcePos> to_logfile_pos_;
  std::optional<SourcePos> two_node_pos_;
  std::optional<SourcePos> atb_node_pos_;
  std::optional<SourcePos> backoff_max_pos_;
  std::optional<SourcePos> supervisor_pos_;
  bool ip_version_set_ = false;
};

// ---------------------------------------------------------------------------------------------
// Local addresses, for ResolveLocalNode.

struct IpAddr {
  int family = AF_UNSPEC;
  std::array<uint8_t, 16> bytes{};
};

// An address of this host; `prefix` < full length only for loopback networks, where every
// address of the network is local (all of 127.0.0.0/8 answers on lo).
struct LocalNet {
  IpAddr addr;
  int prefix = 0;
};

std::optional<IpAddr> FromSockaddr(const sockaddr* sa) {
  if (sa == nullptr)
    return std::nullopt;
  IpAddr ip;
  ip.family = sa->sa_family;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(ip.bytes.data(), &in->sin_addr, 4);
    return ip;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(ip.bytes.data(), &in6->sin6_addr, 16);
    return ip;
  }
  return std::nullopt;
}

int PrefixLength(const IpAddr& mask) {
  int bits = 0;
  const int len = mask.family == AF_INET ? 4 : 16;
  for (int i = 0; i < len; ++i) {
    uint8_t b = mask.bytes[i];
    while (b & 0x80) {
      ++bits;
      b = static_cast<uint8_t>(b << 1);
    }
    if (mask.bytes[i] != 0xff)
      break;
  }
  return bits;
}

std::vector<LocalNet> LocalNets() {
  std::vector<LocalNet> nets;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0)
    return nets;
  for (const ifaddrs* ifa = list; ifa != nullptr; ifa = ifa->ifa_next) {
    std::optional<IpAddr> addr = FromSockaddr(ifa->ifa_addr);
    if (!addr.has_value())
      continue;
    LocalNet net{*addr, addr->family == AF_INET ? 32 : 128};
    if ((ifa->ifa_flags & IFF_LOOPBACK) != 0) {
      std::optional<IpAddr> mask = FromSockaddr(ifa->ifa_netmask);
      if (mask.has_value() && mask->family == addr->family)
        net.prefix = PrefixLength(*mask);
    }
    nets.push_back(net);
  }
  freeifaddrs(list);
  return nets;
}

bool InNet(const IpAddr& ip, const LocalNet& net) {
  if (ip.family != net.addr.family)
    return false;
  int bits = net.prefix;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((ip.bytes[i] & mask) != (net.addr.bytes[i] & mask))
      return false;
  }
  return true;
}

// The addresses a ring address stands for: itself when it is an IP literal, else what the
// resolver says (an unresolvable name stands for nothing).
std::vector<IpAddr> AddressesOf(const std::string& host) {
  std::string literal = host;
  if (literal.size() > 2 && literal.front() == '[' && literal.back() == ']') {
    literal = literal.substr(1, literal.size() - 2);
  }
  if (size_t pct = literal.find('%'); pct != std::string::npos)
    literal.resize(pct);
  IpAddr ip;
  if (inet_pton(AF_INET, literal.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
    return {ip};
  }
  if (inet_pton(AF_INET6, literal.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
    return {ip};
  }
  std::vector<IpAddr> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0)
    return out;
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    std::optional<IpAddr> a = FromSockaddr(ai->ai_addr);
    if (a.has_value())
      out.push_back(*a);
  }
  freeaddrinfo(res);
  return out;
}

}  // namespace

absl::StatusOr<LoadedConfig> BuildClusterConfig(const ConfSection& root, absl::string_view file) {
  LoadedConfig out;
  HA_RETURN_IF_ERROR(Builder(file, &out).Build(root));
  return out;
}

absl::StatusOr<LoadedConfig> ParseClusterConfig(absl::string_view text, absl::string_view file) {
  absl::StatusOr<std::unique_ptr<ConfSection>> root = ParseConfText(text, file);
  if (!root.ok())
    return root.status();
  return BuildClusterConfig(**root, file);
}

absl::StatusOr<LoadedConfig> LoadClusterConfigFile(const std::string& path) {
  const std::string what = absl::StrCat("cannot read ", path);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::ErrnoToStatus(errno, what);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return absl::ErrnoToStatus(err, what);
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return absl::ErrnoToStatus(EISDIR, what);
  }
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > kMaxConfFileBytes) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":1:1: file is larger than 1 MiB (", static_cast<uint64_t>(st.st_size), " bytes)"));
  }
  // Read one byte past the limit so that a growing or non-regular file is refused by the parser.
  std::string text;
  char buf[65536];
  while (text.size() <= kMaxConfFileBytes) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int err = errno;
      close(fd);
      return absl::ErrnoToStatus(err, what);
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return ParseClusterConfig(text, path);
}

absl::StatusOr<const NodeConfig*> ResolveLocalNode(const ClusterConfig& config,
                                                   std::optional<uint32_t> override_nodeid) {
  std::optional<uint32_t> wanted = override_nodeid;
  if (!wanted.has_value())
    wanted = config.totem.nodeid;
  if (wanted.has_value()) {
    const NodeConfig* node = config.FindNode(*wanted);
    if (node == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("node id ", *wanted, " is not in the nodelist of ", config.source_file));
    }
    return node;
  }
  const std::vector<LocalNet> nets = LocalNets();
  std::vector<const NodeConfig*> local;
  for (const NodeConfig& node : config.nodes) {
    if (node.ring_addrs.empty())
      continue;
    bool is_local = false;
    for (const IpAddr& ip : AddressesOf(node.ring_addrs[0])) {
      for (const LocalNet& net : nets) {
        is_local = is_local || InNet(ip, net);
      }
    }
    if (is_local)
      local.push_back(&node);
  }
  if (local.size() == 1)
    return local.front();
  if (local.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no node of ",
                     config.source_file,
                     " has a ring0_addr that is an address of this host: name the local node with "
                     "totem { nodeid } or -n"));
  }
  std::vector<std::string> addrs;
  for (const NodeConfig* node : local)
    addrs.push_back(node->ring_addrs[0]);
  return absl::InvalidArgumentError(
      absl::StrCat("several nodes of ",
                   config.source_file,
                   " have local addresses (",
                   absl::StrJoin(addrs, ", "),
                   "): name the local node with totem { nodeid } or -n"));
}

}  // namespace ha::config
