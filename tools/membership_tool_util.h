// The pure parts of ha-cfgtool and ha-quorumtool (tools/ha-cfgtool.cc, tools/ha-quorumtool.cc):
// finding membershipd's socket, and wording membershipd's answers (proto/membership.proto) as
// corosync's tools word theirs, as text or as JSON. Nothing here talks to membershipd, reads a
// clock or prints: every function is a fixed input -> text mapping, tested in
// membership_tool_util_test.cc.
//
// Wording followed:
//   ha-cfgtool -s      corosync 2's `corosync-cfgtool -s` (udp/udpu: "Printing ring status.",
//                      "RING ID N", "status = ring N active with no faults")
//   ha-cfgtool -n      corosync 3's `corosync-cfgtool -n` header and LINK lines, listing every
//                      node of the nodelist with its membership state (corosync lists only the
//                      reachable ones)
//   ha-cfgtool -C      `corosync-cmapctl -m stats`: "NAME (u64) = VALUE"
//   ha-quorumtool -s   corosync 3's `corosync-quorumtool -s` (its Quorum information, Votequorum
//                      information and Membership information blocks, padding included)
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/tool_config.h"
#include "proto/membership.pb.h"

namespace ha::membership_tool {

namespace mpb = ::ha::membership::v1;

// The exit codes of corosync-quorumtool -s (and of ha-cfgtool -s, whose 1 means a faulty ring).
enum class ToolExit : int {
  kOk = 0,          // success; with -s: quorate / every ring active
  kError = 1,       // membershipd unreachable or the call failed; cfgtool -s: a ring is FAULTY
  kNotQuorate = 2,  // quorumtool -s: not quorate
  kUsage = 64,      // bad command line
  kConfig = 78,     // the cluster configuration cannot be read
};

constexpr int ToInt(ToolExit code) {
  return static_cast<int>(code);
}

// The node's run folder: ha::ResolveRunDir (common/tool_config.h).
using ::ha::ResolveRunDir;

// membershipd's socket in a run folder.
std::string MembershipSocket(const std::string& run_dir);

// A ring id as corosync 3 prints it: "<rep>.<seq>", both in hexadecimal ("1.1a").
std::string RingIdText(const mpb::RingId& id);

// ---------------------------------------------------------------------------------------------
// ha-cfgtool

// `-s`: corosync 2's ring status. Every ring: its local address and a status line (the ring's
// detail; for a FAULTY ring without "FAULTY" in its detail, corosync's "Marking ringid N interface
// ADDR FAULTY").
std::string FormatRingStatus(const mpb::GetRingsResponse& rings);
// True when a ring is FAULTY (cfgtool -s then exits 1, as corosync-cfgtool does).
bool AnyRingFaulty(const mpb::GetRingsResponse& rings);
nlohmann::json RingStatusJson(const mpb::GetRingsResponse& rings);

// `-n`: the local node, transport, ring id and members, then every node with its name, state,
// join count and its address on each ring.
std::string FormatNodes(const mpb::GetMembershipResponse& membership,
                        const mpb::GetRingsResponse& rings);
nlohmann::json NodesJson(const mpb::GetMembershipResponse& membership,
                         const mpb::GetRingsResponse& rings);
// "member", "left", "never-seen" (or "unknown").
std::string NodeStateText(mpb::NodeState state);

// `-C`: one "NAME (u64) = VALUE" line per counter, by name.
std::string FormatCounters(const mpb::GetCountersResponse& counters);
nlohmann::json CountersJson(const mpb::GetCountersResponse& counters);

// ---------------------------------------------------------------------------------------------
// ha-quorumtool

struct QuorumDisplayOptions {
  bool hex_node_ids = false;    // -H: node ids as 0x%08x
  bool show_addresses = false;  // -i: the ring0 address instead of the name
};

// The members a quorum display lists, in node id order: the current ring members as membershipd's
// Membership service reports them (`membership`), which is the view corosync-quorumtool shows.
std::vector<uint32_t> MemberIds(const mpb::GetMembershipResponse& membership);

// `-s`: the three blocks of corosync-quorumtool -s. `now` and `zone` make the Date line (ctime's
// format); `members` are the ring members (MemberIds); names and addresses come from the quorum
// state and from `membership`. Without a quorum provider only the first block and a table without
// votes are printed, as corosync does.
std::string FormatQuorumStatus(const mpb::QuorumState& state,
                               const mpb::GetMembershipResponse& membership,
                               const std::vector<uint32_t>& members,
                               const QuorumDisplayOptions& options,
                               absl::Time now,
                               absl::TimeZone zone);
// `-l`: the Membership information block alone (it opens with an empty line, as corosync's).
std::string FormatQuorumNodes(const mpb::QuorumState& state,
                              const mpb::GetMembershipResponse& membership,
                              const std::vector<uint32_t>& members,
                              const QuorumDisplayOptions& options);
// The "Flags:" words in corosync's order: "2Node", "Quorate", "WaitForAll", "LastManStanding",
// "AutoTieBreaker", "AllowDownscale".
std::vector<std::string> QuorumFlagWords(const mpb::QuorumState& state);
nlohmann::json QuorumJson(const mpb::QuorumState& state,
                          const mpb::GetMembershipResponse& membership,
                          const std::vector<uint32_t>& members);
// -s's exit code: kOk when quorate, kNotQuorate otherwise.
ToolExit QuorumExit(const mpb::QuorumState& state);

}  // namespace ha::membership_tool
