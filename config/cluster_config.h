// The typed cluster configuration, read from a corosync.conf-style file. Key names, meanings and
// defaults follow corosync.conf(5) and votequorum(5) for the options we support; our own additions
// (system.run_dir, the supervisor section) are marked. docs/formats/corosync-conf.md lists them
// all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/conf_tree.h"

namespace ha::config {

struct InterfaceConfig {
  int linknumber = 0;       // `linknumber`, or corosync 2's `ringnumber`
  std::string bindnetaddr;  // optional
  std::string mcastaddr;    // optional
  int mcastport = 5405;
  int ttl = 1;
  SourcePos pos;
};

struct TotemConfig {
  int version = 2;
  std::string cluster_name;
  std::optional<uint32_t> nodeid;      // the local node (corosync 2's totem.nodeid)
  std::string transport = "knet";      // knet | udp | udpu
  std::string ip_version = "ipv6-4";   // ipv4 | ipv6 | ipv4-6 | ipv6-4; unset with udp: ipv4
  std::string crypto_cipher = "none";  // none | aes256 | aes192 | aes128
  std::string crypto_hash = "none";    // none | md5 | sha1 | sha256 | sha384 | sha512
  std::string keyfile = "/etc/corosync/authkey";
  std::string rrp_mode = "none";  // none | passive | active
  int netmtu = 1500;
  // Timers in milliseconds, with corosync's defaults.
  int token = 200;                      // ours; corosync: 3000 (see docs/formats/corosync-conf.md)
  int token_coefficient = 10;           // ours; corosync: 650
  std::optional<int> token_retransmit;  // derived from token when unset
  std::optional<int> hold;              // derived from token when unset
  int token_retransmits_before_loss_const = 10;  // ours; corosync: 4
  int join = 50;
  int send_join = 0;
  std::optional<int> consensus;  // 1.2 * token when unset
  int merge = 200;
  int downcheck = 1000;
  int fail_recv_const = 2500;
  int seqno_unchanged_const = 30;
  int heartbeat_failures_allowed = 0;
  int max_network_delay = 50;
  int window_size = 50;
  int max_messages = 17;
  int miss_count_const = 5;
  int rrp_problem_count_timeout = 2000;
  int rrp_problem_count_threshold = 10;
  std::optional<int> rrp_problem_count_mcast_threshold;  // 10 * threshold when unset
  std::optional<int> rrp_token_expired_timeout;          // token_retransmit when unset
  int rrp_autorecovery_check_timeout = 1000;
  std::vector<InterfaceConfig> interfaces;

  // The timers corosync derives when they are not set, computed as corosync's totemconfig.c does.
  // `node_count` is the size of the nodelist: with 3 or more nodes the real token timeout grows by
  // token_coefficient per node beyond 2 (corosync.conf(5), token_coefficient).
  int EffectiveToken(size_t node_count) const;
  int EffectiveTokenRetransmit(size_t node_count) const;         // token / (retransmits + 0.2)
  int EffectiveHold(size_t node_count) const;                    // token_retransmit * 0.8 - 10
  int EffectiveConsensus(size_t node_count) const;               // 1.2 * token
  int EffectiveRrpProblemCountMcastThreshold() const;            // 10 * rrp_problem_count_threshold
  int EffectiveRrpTokenExpiredTimeout(size_t node_count) const;  // token_retransmit
};

struct NodeConfig {
  uint32_t nodeid = 0;
  std::string name;                     // `name`; defaults to ring0_addr
  std::vector<std::string> ring_addrs;  // ring0_addr, ring1_addr, ... (index = ring number)
  int quorum_votes = 1;
  SourcePos pos;
};

struct QuorumConfig {
  std::string provider;  // "" (no quorum) or corosync_votequorum
  std::optional<int> expected_votes;
  bool two_node = false;
  std::optional<bool> wait_for_all;  // defaults to two_node's value when unset
  bool last_man_standing = false;
  int last_man_standing_window = 10000;
  std::string auto_tie_breaker = "0";            // kept as text: 0 | 1
  std::string auto_tie_breaker_node = "lowest";  // lowest | highest | list of node ids
  bool allow_downscale = false;
  bool expected_votes_tracking = false;

  // votequorum(5): two_node enables wait_for_all unless it is set explicitly.
  bool EffectiveWaitForAll() const { return wait_for_all.value_or(two_node); }
};

struct LoggerSubsysConfig {
  std::string subsys;
  std::optional<std::string> debug;  // off | on | trace
  std::optional<bool> to_logfile;
  std::optional<bool> to_syslog;
  std::optional<bool> to_stderr;
  SourcePos pos;
};

struct LoggingConfig {
  bool to_stderr = true;  // corosync.conf(5): "The default is syslog and stderr."
  bool to_logfile = false;
  bool to_syslog = true;
  std::string logfile;  // required when to_logfile
  std::string logfile_priority = "info";
  std::string syslog_facility = "daemon";
  std::string syslog_priority = "info";
  std::string debug = "off";        // off | on | trace
  std::string timestamp = "hires";  // off | on | hires (corosync 3's default)
  bool fileline = false;
  bool function_name = false;
  bool blackbox = true;
  std::vector<LoggerSubsysConfig> subsystems;
};

// Ours: what carries the daemons' process groups and quorum (common/group_channel.h).
enum class MembershipProvider {
  kMembershipd,  // our membershipd (default)
  kCorosync,     // a running Corosync 3, through libcpg and libquorum; membershipd is not started
};

struct SystemConfig {
  std::string state_dir = "/var/lib/corosync";
  std::string run_dir = "/run/hacluster";  // ours: the daemons' Unix sockets
  bool sched_rr = true;
  std::string priority = "max";
  bool move_to_root_cgroup = true;  // yes | no | auto (read as yes)
  MembershipProvider membership_provider = MembershipProvider::kMembershipd;  // ours
};

// Who may call the daemons' local APIs besides root (corosync's `uidgid` sections).
struct UidGidConfig {
  std::vector<std::string> users;   // names or numeric uids
  std::vector<std::string> groups;  // names or numeric gids; "haclient" is always allowed
};

// Ours: the supervisor's respawn policy.
struct SupervisorConfig {
  int respawn_limit = 5;              // respawns of one daemon within respawn_window ...
  int respawn_window = 60000;         // ... (ms) before the stack is stopped
  int respawn_backoff_initial = 200;  // ms before the first respawn; doubles each time
  int respawn_backoff_max = 5000;     // ms
  int start_timeout = 30000;          // ms for a daemon to report ready
  int stop_timeout = 10000;           // ms between SIGTERM and SIGKILL
};

struct ClusterConfig {
  std::string source_file;
  TotemConfig totem;
  std::vector<NodeConfig> nodes;
  QuorumConfig quorum;
  LoggingConfig logging;
  SystemConfig system;
  UidGidConfig uidgid;
  SupervisorConfig supervisor;

  // The node with this id, or nullptr.
  const NodeConfig* FindNode(uint32_t nodeid) const;
};

struct ConfigWarning {
  SourcePos pos;
  std::string message;
  // "FILE:LINE:COLUMN: warning: message"
  std::string ToString() const;
};

struct LoadedConfig {
  ClusterConfig config;
  std::vector<ConfigWarning> warnings;  // unknown keys and the like
};

// Builds the typed configuration from a parsed tree, validating every value. Errors are
// InvalidArgument "FILE:LINE:COLUMN: what is wrong" (unknown section, bad value, duplicate node id,
// missing nodelist, ...). Unknown keys are warnings, not errors.
absl::StatusOr<LoadedConfig> BuildClusterConfig(const ConfSection& root, absl::string_view file);

// Parses and builds from text.
absl::StatusOr<LoadedConfig> ParseClusterConfig(absl::string_view text, absl::string_view file);

// Reads, parses and builds a file. An unreadable file is NotFound/PermissionDenied naming it.
absl::StatusOr<LoadedConfig> LoadClusterConfigFile(const std::string& path);

// Which node this process is: `override_nodeid` (a command-line option) when set, else
// totem.nodeid, else the only node whose ring0_addr is an address of this host... on one host all
// of 127.0.0.0/8 is local, so with several nodes on one host the id must be given. Errors name why.
absl::StatusOr<const NodeConfig*> ResolveLocalNode(const ClusterConfig& config,
                                                   std::optional<uint32_t> override_nodeid);

}  // namespace ha::config
