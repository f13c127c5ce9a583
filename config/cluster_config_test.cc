// The typed configuration: defaults, derived timers, the realistic corosync 2 and 3 files of
// testdata/, the exact errors for broken files, and which node is local.
#include "config/cluster_config.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"

namespace ha::config {
namespace {

const std::string kTestData = HA_CONFIG_TESTDATA_DIR;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Parses testdata/NAME with NAME as the file name in positions.
absl::StatusOr<LoadedConfig> ParseTestFile(const std::string& name) {
  return ParseClusterConfig(ReadFile(kTestData + "/" + name),
                            std::filesystem::path(name).filename().string());
}

LoadedConfig MustParse(const std::string& text) {
  absl::StatusOr<LoadedConfig> loaded = ParseClusterConfig(text, "t.conf");
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  return std::move(*loaded);
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<LoadedConfig> loaded = ParseClusterConfig(text, "t.conf");
  if (loaded.ok())
    return "";
  CHECK(loaded.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(loaded.status().message());
}

std::vector<std::string> WarningsOf(const LoadedConfig& loaded) {
  std::vector<std::string> out;
  for (const ConfigWarning& w : loaded.warnings)
    out.push_back(w.ToString());
  return out;
}

const char kOneNode[] = "nodelist {\n node {\n  nodeid: 1\n  ring0_addr: 10.0.0.1\n }\n}\n";

TEST_CASE("defaults are corosync 3's", "[config]") {
  LoadedConfig loaded = MustParse(kOneNode);
  CHECK(loaded.warnings.empty());
  const ClusterConfig& c = loaded.config;
  CHECK(c.source_file == "t.conf");

  const TotemConfig& t = c.totem;
  CHECK(t.version == 2);
  CHECK(t.cluster_name.empty());
  CHECK_FALSE(t.nodeid.has_value());
  CHECK(t.transport == "knet");
  CHECK(t.ip_version == "ipv6-4");
  CHECK(t.crypto_cipher == "none");
  CHECK(t.crypto_hash == "none");
  CHECK(t.keyfile == "/etc/corosync/authkey");
  CHECK(t.rrp_mode == "none");
  CHECK(t.netmtu == 1500);
  // Ours, for sub-second failover (corosync: 3000 and 650).
  CHECK(t.token == 200);
  CHECK(t.token_coefficient == 10);
  CHECK(t.token_retransmits_before_loss_const == 10);  // ours (corosync: 4)
  CHECK(t.join == 50);
  CHECK(t.send_join == 0);
  CHECK(t.merge == 200);
  CHECK(t.downcheck == 1000);
  CHECK(t.fail_recv_const == 2500);
  CHECK(t.seqno_unchanged_const == 30);
  CHECK(t.heartbeat_failures_allowed == 0);
  CHECK(t.max_network_delay == 50);
  CHECK(t.window_size == 50);
  CHECK(t.max_messages == 17);
  CHECK(t.miss_count_const == 5);
  CHECK(t.rrp_problem_count_timeout == 2000);
  CHECK(t.rrp_problem_count_threshold == 10);
  CHECK(t.rrp_autorecovery_check_timeout == 1000);
  CHECK(t.interfaces.empty());

  REQUIRE(c.nodes.size() == 1);
  CHECK(c.nodes[0].nodeid == 1);
  CHECK(c.nodes[0].name == "10.0.0.1");  // defaults to ring0_addr
  CHECK(c.nodes[0].ring_addrs == std::vector<std::string>{"10.0.0.1"});
  CHECK(c.nodes[0].quorum_votes == 1);
  CHECK(c.nodes[0].pos.ToString() == "t.conf:2:2");

  const QuorumConfig& q = c.quorum;
  CHECK(q.provider.empty());
  CHECK_FALSE(q.expected_votes.has_value());
  CHECK_FALSE(q.two_node);
  CHECK_FALSE(q.EffectiveWaitForAll());
  CHECK_FALSE(q.last_man_standing);
  CHECK(q.last_man_standing_window == 10000);
  CHECK(q.auto_tie_breaker == "0");
  CHECK(q.auto_tie_breaker_node == "lowest");
  CHECK_FALSE(q.allow_downscale);
  CHECK_FALSE(q.expected_votes_tracking);

  const LoggingConfig& l = c.logging;
  CHECK(l.to_stderr);
  CHECK_FALSE(l.to_logfile);
  CHECK(l.to_syslog);
  CHECK(l.logfile.empty());
  CHECK(l.logfile_priority == "info");
  CHECK(l.syslog_facility == "daemon");
  CHECK(l.syslog_priority == "info");
  CHECK(l.debug == "off");
  CHECK(l.timestamp == "hires");
  CHECK_FALSE(l.fileline);
  CHECK_FALSE(l.function_name);
  CHECK(l.blackbox);

  CHECK(c.system.state_dir == "/var/lib/corosync");
  CHECK(c.system.run_dir == "/run/hacluster");
  CHECK(c.system.sched_rr);
  CHECK(c.system.priority == "max");
  CHECK(c.system.move_to_root_cgroup);
  CHECK(c.system.membership_provider == MembershipProvider::kMembershipd);
  CHECK(c.uidgid.users.empty());
  CHECK(c.uidgid.groups.empty());

  CHECK(c.supervisor.respawn_limit == 5);
  CHECK(c.supervisor.respawn_window == 60000);
  CHECK(c.supervisor.respawn_backoff_initial == 200);
  CHECK(c.supervisor.respawn_backoff_max == 5000);
  CHECK(c.supervisor.start_timeout == 30000);
  CHECK(c.supervisor.stop_timeout == 10000);
}

TEST_CASE("derived timers follow corosync's formulas", "[config]") {
  TotemConfig t;
  t.token = 3000;  // corosync's defaults, so the values below are the ones corosync reports
  t.token_coefficient = 650;
  t.token_retransmits_before_loss_const = 4;
  // One or two nodes: the token as configured.
  CHECK(t.EffectiveToken(1) == 3000);
  CHECK(t.EffectiveToken(2) == 3000);
  CHECK(t.EffectiveTokenRetransmit(2) == 714);  // 3000 / 4.2
  CHECK(t.EffectiveHold(2) == 561);             // 714 * 0.8 - 10
  CHECK(t.EffectiveConsensus(2) == 3600);       // 1.2 * 3000
  // Three nodes add one token_coefficient: the runtime values corosync 3 reports for a default
  // three-node cluster.
  CHECK(t.EffectiveToken(3) == 3650);
  CHECK(t.EffectiveTokenRetransmit(3) == 869);
  CHECK(t.EffectiveHold(3) == 685);
  CHECK(t.EffectiveConsensus(3) == 4380);
  CHECK(t.EffectiveToken(5) == 3000 + 3 * 650);
  CHECK(t.EffectiveRrpProblemCountMcastThreshold() == 100);
  CHECK(t.EffectiveRrpTokenExpiredTimeout(2) == 714);

  t.token_retransmit = 500;
  t.hold = 100;
  t.consensus = 9000;
  t.rrp_problem_count_mcast_threshold = 7;
  t.rrp_token_expired_timeout = 60;
  CHECK(t.EffectiveTokenRetransmit(3) == 500);
  CHECK(t.EffectiveHold(3) == 100);
  CHECK(t.EffectiveConsensus(3) == 9000);
  CHECK(t.EffectiveRrpProblemCountMcastThreshold() == 7);
  CHECK(t.EffectiveRrpTokenExpiredTimeout(3) == 60);

  QuorumConfig q;
  q.two_node = true;
  CHECK(q.EffectiveWaitForAll());
  q.wait_for_all = false;
  CHECK_FALSE(q.EffectiveWaitForAll());
}

TEST_CASE("a corosync 3 knet configuration", "[config]") {
  absl::StatusOr<LoadedConfig> loaded = ParseTestFile("corosync3_knet.conf");
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  CHECK(WarningsOf(*loaded).empty());
  const ClusterConfig& c = loaded->config;
  const TotemConfig& t = c.totem;
  CHECK(t.cluster_name == "alpha");
  CHECK(t.transport == "knet");
  CHECK(t.crypto_cipher == "aes256");
  CHECK(t.crypto_hash == "sha256");
  CHECK(t.ip_version == "ipv6-4");
  CHECK(t.token == 5000);
  REQUIRE(t.interfaces.size() == 2);
  CHECK(t.interfaces[0].linknumber == 0);
  CHECK(t.interfaces[1].linknumber == 1);
  CHECK(t.interfaces[1].mcastport == 5405);
  CHECK(t.interfaces[1].pos.ToString() == "corosync3_knet.conf:22:2");

  REQUIRE(c.nodes.size() == 3);
  CHECK(c.nodes[2].name == "alpha-3");
  CHECK(c.nodes[2].nodeid == 3);
  CHECK(c.nodes[2].ring_addrs == std::vector<std::string>{"10.20.0.13", "10.30.0.13"});
  CHECK(c.nodes[2].quorum_votes == 2);
  CHECK(c.FindNode(2) == &c.nodes[1]);
  CHECK(c.FindNode(4) == nullptr);

  // Three nodes: 5000 + our default token_coefficient (10); 10 retransmits before loss (ours).
  CHECK(t.EffectiveToken(c.nodes.size()) == 5010);
  CHECK(t.EffectiveConsensus(c.nodes.size()) == 6012);
  CHECK(t.EffectiveTokenRetransmit(c.nodes.size()) == 491);  // 5010 / 10.2
  CHECK(t.EffectiveHold(c.nodes.size()) == 382);             // 491 * 0.8 - 10

  CHECK(c.quorum.provider == "corosync_votequorum");
  CHECK(c.quorum.EffectiveWaitForAll());
  CHECK(c.quorum.last_man_standing);
  CHECK(c.quorum.last_man_standing_window == 20000);

  CHECK_FALSE(c.logging.to_stderr);
  CHECK(c.logging.to_logfile);
  CHECK(c.logging.logfile == "/var/log/cluster/corosync.log");
  CHECK(c.logging.syslog_facility == "local3");
  CHECK(c.logging.timestamp == "on");
  REQUIRE(c.logging.subsystems.size() == 2);
  CHECK(c.logging.subsystems[0].subsys == "QUORUM");
  CHECK(c.logging.subsystems[0].debug == std::optional<std::string>("trace"));
  CHECK(c.logging.subsystems[1].subsys == "KNET");
  CHECK(c.logging.subsystems[1].to_syslog == std::optional<bool>(false));
  CHECK_FALSE(c.logging.subsystems[1].debug.has_value());

  CHECK(c.uidgid.users == std::vector<std::string>{"hacluster"});
  CHECK(c.uidgid.groups == std::vector<std::string>{"haclient", "1200"});

  CHECK(c.supervisor.respawn_limit == 3);
  CHECK(c.supervisor.respawn_window == 30000);
  CHECK(c.supervisor.stop_timeout == 15000);
  CHECK(c.supervisor.start_timeout == 30000);
}

TEST_CASE("a corosync 2 udpu configuration with two rings", "[config]") {
  absl::StatusOr<LoadedConfig> loaded = ParseTestFile("corosync2_udpu.conf");
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  CHECK(WarningsOf(*loaded).empty());
  const ClusterConfig& c = loaded->config;
  const TotemConfig& t = c.totem;
  CHECK(t.cluster_name == "legacy pair");
  CHECK(t.transport == "udpu");
  CHECK(t.rrp_mode == "passive");
  CHECK(t.ip_version == "ipv6-4");
  CHECK(t.token_retransmits_before_loss_const == 10);
  CHECK(t.join == 60);
  CHECK(t.max_messages == 20);
  REQUIRE(t.interfaces.size() == 2);
  CHECK(t.interfaces[0].linknumber == 0);
  CHECK(t.interfaces[0].bindnetaddr == "192.168.10.0");
  CHECK(t.interfaces[0].mcastport == 5405);
  CHECK(t.interfaces[0].ttl == 1);
  CHECK(t.interfaces[1].linknumber == 1);
  CHECK(t.interfaces[1].mcastport == 5407);

  REQUIRE(c.nodes.size() == 2);
  CHECK(c.nodes[0].name == "192.168.10.1");
  CHECK(c.nodes[1].ring_addrs == std::vector<std::string>{"192.168.10.2", "192.168.20.2"});

  CHECK(t.EffectiveToken(2) == 3000);
  CHECK(t.EffectiveConsensus(2) == 3600);
  CHECK(t.EffectiveTokenRetransmit(2) == 294);  // 3000 / 10.2
  CHECK(t.EffectiveHold(2) == 225);
  CHECK(t.EffectiveRrpTokenExpiredTimeout(2) == 294);

  CHECK(c.quorum.two_node);
  CHECK(c.quorum.EffectiveWaitForAll());
  CHECK(c.logging.syslog_priority == "notice");
  CHECK(c.logging.timestamp == "hires");
  CHECK(c.logging.to_stderr);
}

TEST_CASE("invalid files give the exact position and message", "[config]") {
  auto error_of_file = [](const std::string& name) {
    absl::StatusOr<LoadedConfig> loaded = ParseTestFile("invalid/" + name);
    if (loaded.ok())
      return std::string();
    CHECK(loaded.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(loaded.status().message());
  };
  CHECK(error_of_file("unknown_section.conf") ==
        "unknown_section.conf:4:2: unknown section 'membership' in 'totem'");
  CHECK(error_of_file("bad_value.conf") ==
        "bad_value.conf:3:9: bad value 'abc' for 'token': expected a whole number of "
        "milliseconds");
  CHECK(error_of_file("duplicate_nodeid.conf") ==
        "duplicate_nodeid.conf:11:11: duplicate node id 2 (first at duplicate_nodeid.conf:7:11)");
  CHECK(error_of_file("missing_nodelist.conf") ==
        "missing_nodelist.conf:1:1: missing nodelist: at least one node { nodeid, ring0_addr } "
        "is required");
  CHECK(error_of_file("unclosed_section.conf") ==
        "unclosed_section.conf:7:1: section 'totem' is not closed");
  CHECK(error_of_file("stray_brace.conf") ==
        "stray_brace.conf:4:1: unexpected '}' with no open section");
  CHECK(error_of_file("missing_nodeid.conf") ==
        "missing_nodeid.conf:6:2: missing nodeid in node section");
  CHECK(error_of_file("bad_port.conf") ==
        "bad_port.conf:4:14: bad value 'http' for 'mcastport': expected a port number");
}

TEST_CASE("unknown keys are warnings with their position", "[config]") {
  absl::StatusOr<LoadedConfig> loaded = ParseTestFile("invalid/unknown_key.conf");
  REQUIRE(loaded.ok());
  CHECK(WarningsOf(*loaded) ==
        std::vector<std::string>{
            "unknown_key.conf:2:2: warning: unknown key 'tokn' in section 'totem'"});
  CHECK(loaded->config.totem.token == 200);  // the misspelt key did not set it

  LoadedConfig top = MustParse(std::string("stray: 1\n") + kOneNode + "logging {\n sylog: x\n}\n");
  CHECK(WarningsOf(top) ==
        std::vector<std::string>{"t.conf:1:1: warning: unknown key 'stray' at top level",
                                 "t.conf:9:2: warning: unknown key 'sylog' in section 'logging'"});
}

TEST_CASE("documented corosync keys we do not use are accepted silently", "[config]") {
  LoadedConfig loaded = MustParse(std::string(kOneNode) +
                                  "totem {\n"
                                  " secauth: on\n threads: 4\n clear_node_high_bit: yes\n"
                                  " block_unlisted_ips: no\n knet_mtu: 1400\n link_mode: rr\n"
                                  " knet_pmtud_interval: 60\n token_warning: 80\n"
                                  " cancel_token_hold_on_retransmit: yes\n config_version: 4\n"
                                  " interface {\n  knet_ping_interval: 100\n  broadcast: yes\n }\n"
                                  "}\n"
                                  "system {\n qb_ipc_type: socket\n allow_knet_handle_fallback: "
                                  "yes\n move_to_root_cgroup: auto\n}\n");
  CHECK(WarningsOf(loaded).empty());
}

TEST_CASE("sections that exist in corosync but not here", "[config]") {
  LoadedConfig loaded = MustParse(std::string(kOneNode) +
                                  "resources {\n watchdog_timeout: 6\n system {\n }\n}\n"
                                  "nozzle {\n name: noz0\n}\n"
                                  "quorum {\n provider: corosync_votequorum\n"
                                  " device {\n  model: net\n  net {\n   host: q\n  }\n }\n}\n");
  CHECK(WarningsOf(loaded) ==
        std::vector<std::string>{
            "t.conf:7:1: warning: the 'resources' section is not supported and is ignored",
            "t.conf:12:1: warning: the 'nozzle' section is not supported and is ignored",
            "t.conf:17:2: warning: quorum devices are not supported: the 'device' section is "
            "ignored"});

  CHECK(ErrorOf(std::string(kOneNode) + "service {\n name: pacemaker\n}\n") ==
        "t.conf:7:1: unknown section 'service' at top level");
  CHECK(ErrorOf(std::string(kOneNode) + "logging {\n logger {\n }\n}\n") ==
        "t.conf:8:2: unknown section 'logger' in 'logging'");
  CHECK(ErrorOf("nodelist {\n node {\n  nodeid: 1\n  ring0_addr: a\n  x {\n  }\n }\n}\n") ==
        "t.conf:5:3: unknown section 'x' in 'node'");
}

TEST_CASE("duplicate keys: the last wins, except in node", "[config]") {
  LoadedConfig loaded =
      MustParse(std::string(kOneNode) + "totem {\n token: 1000\n token: 2000\n}\n");
  CHECK(loaded.config.totem.token == 2000);
  CHECK(WarningsOf(loaded) ==
        std::vector<std::string>{"t.conf:9:2: warning: duplicate key 'token' in section 'totem' "
                                 "(first at t.conf:8:2): the last one wins"});

  CHECK(ErrorOf("nodelist {\n node {\n  nodeid: 1\n  ring0_addr: a\n  ring0_addr: b\n }\n}\n") ==
        "t.conf:5:3: duplicate key 'ring0_addr' in section 'node' (first at t.conf:4:3)");

  // uidgid: every uid and gid counts.
  LoadedConfig ug = MustParse(std::string(kOneNode) + "uidgid {\n uid: a\n uid: b\n gid: c\n}\n");
  CHECK(ug.warnings.empty());
  CHECK(ug.config.uidgid.users == std::vector<std::string>{"a", "b"});
  CHECK(ug.config.uidgid.groups == std::vector<std::string>{"c"});
}

TEST_CASE("values are checked by type", "[config]") {
  auto totem = [](const std::string& body) {
    return ErrorOf(std::string(kOneNode) + "totem {\n" + body + "\n}\n");
  };
  CHECK(totem(" token: 0") == "t.conf:8:9: bad value '0' for 'token': must be at least 1");
  CHECK(totem(" token: -5") == "t.conf:8:9: bad value '-5' for 'token': must be at least 1");
  CHECK(totem(" token: 3000ms") ==
        "t.conf:8:9: bad value '3000ms' for 'token': expected a whole number of milliseconds");
  CHECK(totem(" token: 99999999999999999999") ==
        "t.conf:8:9: bad value '99999999999999999999' for 'token': must be at least 1");
  CHECK(totem(" token:") ==
        "t.conf:8:8: bad value '' for 'token': expected a whole number of milliseconds");
  CHECK(totem(" version: 3") == "t.conf:8:11: bad value '3' for 'version': must be 2");
  // 0 turns automatic ring recovery off; below is refused.
  CHECK(MustParse(std::string(kOneNode) + "totem {\n rrp_autorecovery_check_timeout: 0\n}\n")
            .config.totem.rrp_autorecovery_check_timeout == 0);
  CHECK(totem(" rrp_autorecovery_check_timeout: -1") ==
        "t.conf:8:34: bad value '-1' for 'rrp_autorecovery_check_timeout': must be at least 0");
  CHECK(totem(" transport: tcp") ==
        "t.conf:8:13: bad value 'tcp' for 'transport': expected one of knet, udp, udpu");
  CHECK(totem(" crypto_cipher: 3des") ==
        "t.conf:8:17: bad value '3des' for 'crypto_cipher': expected one of none, aes256, "
        "aes192, aes128");
  CHECK(totem(" crypto_hash: sha2") ==
        "t.conf:8:15: bad value 'sha2' for 'crypto_hash': expected one of none, md5, sha1, "
        "sha256, sha384, sha512");
  CHECK(totem(" rrp_mode: both") ==
        "t.conf:8:12: bad value 'both' for 'rrp_mode': expected one of none, passive, active");
  CHECK(totem(" ip_version: ipv5") ==
        "t.conf:8:14: bad value 'ipv5' for 'ip_version': expected one of ipv4, ipv6, ipv4-6, "
        "ipv6-4");
  CHECK(totem(" nodeid: 0") ==
        "t.conf:8:10: bad value '0' for 'nodeid': must be from 1 to 4294967295");
  CHECK(totem(" nodeid: 4294967296") ==
        "t.conf:8:10: bad value '4294967296' for 'nodeid': must be from 1 to 4294967295");
  CHECK(totem(" interface {\n  mcastport: 70000\n }") ==
        "t.conf:9:14: bad value '70000' for 'mcastport': must be from 1 to 65535");
  CHECK(totem(" interface {\n  mcastport: 0\n }") ==
        "t.conf:9:14: bad value '0' for 'mcastport': must be from 1 to 65535");
  CHECK(totem(" interface {\n  linknumber: 8\n }") ==
        "t.conf:9:15: bad value '8' for 'linknumber': must be from 0 to 7");
  CHECK(totem(" interface {\n  ringnumber: 0\n }\n interface {\n  linknumber: 0\n }") ==
        "t.conf:12:15: duplicate link number 0 (first at t.conf:9:15)");
  CHECK(totem(" crypto_cipher: aes256") ==
        "t.conf:8:17: crypto_cipher 'aes256' needs a crypto_hash other than none");
  CHECK(totem(" transport: udpu\n crypto_hash: sha1") ==
        "t.conf:9:15: crypto_cipher and crypto_hash need transport knet, not udpu");
  CHECK(totem(" consensus: 150") ==
        "t.conf:8:13: consensus (150 ms) must not be less than the token timeout (200 ms)");
  CHECK(totem(" tokenn: 3\n join: x") ==
        "t.conf:9:8: bad value 'x' for 'join': expected a whole number of milliseconds");

  auto quorum = [](const std::string& body) {
    return ErrorOf(std::string(kOneNode) + "quorum {\n" + body + "\n}\n");
  };
  CHECK(quorum(" provider: corosync_quorum") ==
        "t.conf:8:12: bad value 'corosync_quorum' for 'provider': expected "
        "corosync_votequorum");
  CHECK(quorum(" two_node: maybe") ==
        "t.conf:8:12: bad value 'maybe' for 'two_node': expected yes or no (or on/off, "
        "true/false, 1/0)");
  CHECK(quorum(" auto_tie_breaker_node: first") ==
        "t.conf:8:25: bad value 'first' for 'auto_tie_breaker_node': expected lowest, highest "
        "or a list of node ids");
  CHECK(quorum(" expected_votes: 0") ==
        "t.conf:8:18: bad value '0' for 'expected_votes': must be at least 1");

  auto logging = [](const std::string& body) {
    return ErrorOf(std::string(kOneNode) + "logging {\n" + body + "\n}\n");
  };
  CHECK(logging(" debug: verbose") ==
        "t.conf:8:9: bad value 'verbose' for 'debug': expected one of off, on, trace");
  CHECK(logging(" timestamp: ms") ==
        "t.conf:8:13: bad value 'ms' for 'timestamp': expected one of off, on, hires");
  CHECK(logging(" syslog_priority: loud") ==
        "t.conf:8:19: bad value 'loud' for 'syslog_priority': expected one of emerg, alert, "
        "crit, err, warning, notice, info, debug, trace");
  CHECK(logging(" syslog_facility: local8") ==
        "t.conf:8:19: bad value 'local8' for 'syslog_facility': expected one of daemon, "
        "local0, local1, local2, local3, local4, local5, local6, local7, auth, authpriv, cron, "
        "ftp, kern, lpr, mail, news, syslog, user, uucp");
  CHECK(logging(" to_logfile: yes") == "t.conf:8:14: to_logfile is yes but no logfile is given");
  CHECK(logging(" logger_subsys {\n  debug: on\n }") ==
        "t.conf:8:2: missing subsys in logger_subsys section");
  CHECK(logging(" logger_subsys {\n  subsys: CPG\n  to_logfile: on\n }") ==
        "t.conf:10:15: to_logfile is yes but no logfile is given here or in 'logging'");
  CHECK(logging(" logger_subsys {\n  subsys: CPG\n  to_logfile: on\n  logfile: /tmp/x\n }") == "");

  CHECK(ErrorOf(std::string(kOneNode) + "system {\n priority: 20\n}\n") ==
        "t.conf:8:12: bad value '20' for 'priority': must be from -20 to 19");
  CHECK(ErrorOf(std::string(kOneNode) + "system {\n priority: high\n}\n") ==
        "t.conf:8:12: bad value 'high' for 'priority': expected max, min or a nice value");
  CHECK(ErrorOf(std::string(kOneNode) + "system {\n membership_provider: heartbeat\n}\n") ==
        "t.conf:8:23: bad value 'heartbeat' for 'membership_provider': expected membershipd or "
        "corosync");
  CHECK(MustParse(std::string(kOneNode) + "system {\n membership_provider: corosync\n}\n")
            .config.system.membership_provider == MembershipProvider::kCorosync);
  CHECK(ErrorOf(std::string(kOneNode) + "supervisor {\n respawn_backoff_max: 100\n}\n") ==
        "t.conf:8:23: respawn_backoff_max (100 ms) is less than respawn_backoff_initial "
        "(200 ms)");
}

TEST_CASE("booleans take corosync's spellings", "[config]") {
  for (const char* yes : {"yes", "on", "1", "true", "YES"}) {
    LoadedConfig l = MustParse(std::string(kOneNode) + "logging {\n fileline: " + yes + "\n}\n");
    CHECK(l.config.logging.fileline);
  }
  for (const char* no : {"no", "off", "0", "false"}) {
    LoadedConfig l = MustParse(std::string(kOneNode) + "logging {\n blackbox: " + no + "\n}\n");
    CHECK_FALSE(l.config.logging.blackbox);
  }
}

TEST_CASE("derived values in a parsed file", "[config]") {
  LoadedConfig l = MustParse(std::string(kOneNode) +
                             "totem {\n transport: udp\n token: 1000\n}\n"
                             "quorum {\n provider: corosync_votequorum\n auto_tie_breaker: yes\n"
                             " auto_tie_breaker_node: 1  3\n}\n");
  CHECK(l.config.totem.ip_version == "ipv4");  // unset with udp
  CHECK(l.config.totem.EffectiveConsensus(1) == 1200);
  CHECK(l.config.quorum.auto_tie_breaker == "1");
  CHECK(l.config.quorum.auto_tie_breaker_node == "1 3");
  CHECK(WarningsOf(l) ==
        std::vector<std::string>{"t.conf:14:25: warning: auto_tie_breaker_node names node id 3, "
                                 "which is not in the nodelist"});

  LoadedConfig two = MustParse(std::string(kOneNode) + "quorum {\n two_node: 1\n}\n");
  CHECK(WarningsOf(two) ==
        std::vector<std::string>{"t.conf:8:12: warning: two_node is set but the nodelist has 1 "
                                 "nodes: votequorum ignores it"});
}

TEST_CASE("nodelist rules", "[config]") {
  auto nodes = [](const std::string& body) { return ErrorOf("nodelist {\n" + body + "}\n"); };
  CHECK(nodes("") ==
        "t.conf:1:1: missing nodelist: at least one node { nodeid, ring0_addr } is required");
  CHECK(nodes(" node {\n  nodeid: 1\n }\n") == "t.conf:2:2: missing ring0_addr in node section");
  CHECK(nodes(" node {\n  nodeid: 1\n  ring0_addr: a\n  ring2_addr: c\n }\n") ==
        "t.conf:5:3: ring2_addr is given but ring1_addr is not");
  CHECK(nodes(" node {\n  nodeid: 1\n  ring0_addr: a\n  ring8_addr: c\n }\n") ==
        "t.conf:5:3: 'ring8_addr': ring (link) numbers go from 0 to 7");
  CHECK(nodes(" node {\n  nodeid: 1\n  ring0_addr: a\n  name: x\n }\n"
              " node {\n  nodeid: 2\n  ring0_addr: b\n  name: x\n }\n") ==
        "t.conf:10:9: duplicate node name 'x' (first at t.conf:5:9)");
  CHECK(nodes(" node {\n  nodeid: 1\n  ring0_addr: a\n }\n"
              " node {\n  nodeid: 2\n  ring0_addr: b\n  name: a\n }\n") ==
        "t.conf:9:9: duplicate node name 'a' (first at t.conf:4:15)");
  CHECK(nodes(" node {\n  nodeid: 1\n  ring0_addr: a\n  name: x\n }\n"
              " node {\n  nodeid: 2\n  ring0_addr: a\n  name: y\n }\n") ==
        "t.conf:9:15: duplicate address 'a' for ring0_addr (first at t.conf:4:15)");
  CHECK(nodes(" node {\n  nodeid: x1\n  ring0_addr: a\n }\n") ==
        "t.conf:3:11: bad value 'x1' for 'nodeid': expected a whole number");
  CHECK(nodes(" nodes {\n }\n") == "t.conf:2:2: unknown section 'nodes' in 'nodelist'");

  LoadedConfig eight = MustParse(
      "nodelist {\n node {\n  nodeid: 4294967295\n  name: n\n"
      "  ring0_addr: a0\n  ring1_addr: a1\n  ring2_addr: a2\n  ring3_addr: a3\n"
      "  ring4_addr: a4\n  ring5_addr: a5\n  ring6_addr: a6\n  ring7_addr: a7\n }\n}\n");
  REQUIRE(eight.config.nodes.size() == 1);
  CHECK(eight.config.nodes[0].nodeid == 4294967295u);
  CHECK(eight.config.nodes[0].ring_addrs.size() == 8);
  CHECK(eight.config.nodes[0].ring_addrs[7] == "a7");
}

TEST_CASE("ConfigWarning prints file:line:column: warning: message", "[config]") {
  CHECK(ConfigWarning{SourcePos{"a.conf", 3, 4}, "hm"}.ToString() == "a.conf:3:4: warning: hm");
}

TEST_CASE("LoadClusterConfigFile reads, refuses and names the file", "[config]") {
  absl::StatusOr<LoadedConfig> ok = LoadClusterConfigFile(kTestData + "/corosync3_knet.conf");
  REQUIRE(ok.ok());
  CHECK(ok->config.source_file == kTestData + "/corosync3_knet.conf");

  absl::StatusOr<LoadedConfig> bad = LoadClusterConfigFile(kTestData + "/invalid/bad_value.conf");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == kTestData +
                                      "/invalid/bad_value.conf:3:9: bad value 'abc' for 'token': "
                                      "expected a whole number of milliseconds");

  absl::StatusOr<LoadedConfig> missing = LoadClusterConfigFile("/nonexistent/corosync.conf");
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK(missing.status().message() ==
        "cannot read /nonexistent/corosync.conf: No such file or directory");

  absl::StatusOr<LoadedConfig> dir = LoadClusterConfigFile(kTestData);
  CHECK_FALSE(dir.ok());
  CHECK(dir.status().message() == "cannot read " + kTestData + ": Is a directory");

  std::string big_path =
      (std::filesystem::temp_directory_path() / ("ha_config_big_" + std::to_string(getpid())))
          .string();
  {
    std::ofstream out(big_path, std::ios::binary);
    out << std::string(kMaxConfFileBytes + 1, '#');
  }
  absl::StatusOr<LoadedConfig> big = LoadClusterConfigFile(big_path);
  std::filesystem::remove(big_path);
  CHECK(big.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(big.status().message() == big_path + ":1:1: file is larger than 1 MiB (1048577 bytes)");
}

ClusterConfig WithNodes(const std::vector<std::string>& ring0) {
  ClusterConfig c;
  c.source_file = "c.conf";
  for (size_t i = 0; i < ring0.size(); ++i) {
    NodeConfig n;
    n.nodeid = static_cast<uint32_t>(i + 1);
    n.name = "n" + std::to_string(i + 1);
    n.ring_addrs = {ring0[i]};
    c.nodes.push_back(n);
  }
  return c;
}

TEST_CASE("ResolveLocalNode: given ids", "[config]") {
  ClusterConfig c = WithNodes({"192.0.2.1", "192.0.2.2", "192.0.2.3"});
  absl::StatusOr<const NodeConfig*> n = ResolveLocalNode(c, 2);
  REQUIRE(n.ok());
  CHECK((*n)->nodeid == 2);

  CHECK(ResolveLocalNode(c, 9).status().message() == "node id 9 is not in the nodelist of c.conf");

  c.totem.nodeid = 3;
  n = ResolveLocalNode(c, std::nullopt);
  REQUIRE(n.ok());
  CHECK((*n)->nodeid == 3);
  n = ResolveLocalNode(c, 1);  // the command line wins over totem.nodeid
  REQUIRE(n.ok());
  CHECK((*n)->nodeid == 1);
  c.totem.nodeid = 7;
  CHECK(ResolveLocalNode(c, std::nullopt).status().message() ==
        "node id 7 is not in the nodelist of c.conf");
}

TEST_CASE("ResolveLocalNode: by local address", "[config]") {
  // 192.0.2.0/24 and 198.51.100.0/24 are documentation networks, never a host's address.
  // The result points into the configuration, so each configuration is kept while it is read.
  ClusterConfig three = WithNodes({"192.0.2.1", "127.0.0.1", "198.51.100.1"});
  absl::StatusOr<const NodeConfig*> n = ResolveLocalNode(three, std::nullopt);
  REQUIRE(n.ok());
  CHECK((*n)->nodeid == 2);

  // All of 127.0.0.0/8 is local, and a name is resolved.
  ClusterConfig loopback = WithNodes({"192.0.2.1", "127.0.0.9"});
  n = ResolveLocalNode(loopback, std::nullopt);
  REQUIRE(n.ok());
  CHECK((*n)->nodeid == 2);
  ClusterConfig by_name = WithNodes({"192.0.2.1", "localhost"});
  n = ResolveLocalNode(by_name, std::nullopt);
  REQUIRE(n.ok());
  CHECK((*n)->nodeid == 2);

  CHECK(ResolveLocalNode(WithNodes({"127.0.0.1", "192.0.2.1", "127.0.0.2"}), std::nullopt)
            .status()
            .message() ==
        "several nodes of c.conf have local addresses (127.0.0.1, 127.0.0.2): name the local node "
        "with totem { nodeid } or -n");

  absl::StatusOr<const NodeConfig*> none = ResolveLocalNode(
      WithNodes({"192.0.2.1", "198.51.100.1", "no-such-host.invalid"}), std::nullopt);
  CHECK(none.status().code() == absl::StatusCode::kNotFound);
  CHECK(none.status().message() ==
        "no node of c.conf has a ring0_addr that is an address of this host: name the local "
        "node with totem { nodeid } or -n");
}

TEST_CASE("the corosync package's own configuration files parse", "[config]") {
  std::vector<std::string> files;
  if (std::filesystem::is_regular_file("/etc/corosync/corosync.conf")) {
    files.push_back("/etc/corosync/corosync.conf");
  }
  const std::filesystem::path examples = "/usr/share/doc/corosync/examples";
  std::error_code ec;
  if (std::filesystem::is_directory(examples, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(examples, ec)) {
      const std::string path = entry.path().string();
      if (entry.is_regular_file() && !absl::EndsWith(path, ".gz"))
        files.push_back(path);
    }
  }
  if (files.empty()) {
    WARN("corosync is not installed here: no /etc/corosync/corosync.conf or examples to parse");
    return;
  }
  for (const std::string& path : files) {
    INFO(path);
    absl::StatusOr<LoadedConfig> loaded = LoadClusterConfigFile(path);
    // Upstream's multicast examples have no nodelist, which this stack needs; every other
    // problem is ours.
    if (!loaded.ok()) {
      CHECK(absl::StrContains(loaded.status().message(), "missing nodelist"));
    }
  }
}

}  // namespace
}  // namespace ha::config
