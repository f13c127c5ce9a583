// ha-quorumtool: membershipd's quorum, like corosync-quorumtool.
//   ha-quorumtool [-s] [-H] [-i] [--json]   quorum status; exits 0 quorate, 2 not quorate
//   ha-quorumtool -l [-H] [-i] [--json]     the members and their votes
//   ha-quorumtool -m [--json]               print the status again at every change (until ^C)
//   ha-quorumtool -e N                      set the expected votes cluster-wide
//   ha-quorumtool -v N [-n NODEID]          set a node's votes (default: this node)
// The node is found through its configuration: -c FILE, else $HA_CONFIG, else the default, or
// --run-dir. Errors exit 1. The wording is in tools/membership_tool_util.h.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "common/clock.h"
#include "common/grpc_status.h"
#include "common/grpc_unix_client.h"
#include "proto/membership.grpc.pb.h"
#include "tools/membership_tool_util.h"

namespace {

namespace mt = ha::membership_tool;
namespace mpb = ha::membership::v1;
using mt::ToInt;
using mt::ToolExit;

int Fail(const std::string& what, const absl::Status& status) {
  std::cerr << "ha-quorumtool: " << what << ": " << status.message() << "\n";
  return ToInt(ToolExit::kError);
}

absl::StatusOr<mpb::GetMembershipResponse> Membership(mpb::Membership::Stub& stub) {
  mpb::GetMembershipResponse membership;
  auto ctx = ha::ContextWithDeadline();
  absl::Status s = ha::FromGrpcStatus(stub.GetMembership(ctx.get(), {}, &membership));
  if (!s.ok()) {
    return s;
  }
  return membership;
}

// One status display (-s, and each change of -m).
void Show(ha::Clock& clock,
          const mpb::QuorumState& state,
          const mpb::GetMembershipResponse& membership,
          const mt::QuorumDisplayOptions& options,
          bool json,
          bool compact) {
  const std::vector<uint32_t> members = mt::MemberIds(membership);
  if (json) {
    std::cout << mt::QuorumJson(state, membership, members).dump(compact ? -1 : 2) << "\n";
  } else {
    std::cout << mt::FormatQuorumStatus(
        state, membership, members, options, clock.WallNow(), absl::LocalTimeZone());
  }
}

// A refused -e / -v, worded as corosync-quorumtool words it.
int SetFailed(const std::string& what, const absl::Status& status) {
  if (absl::IsFailedPrecondition(status)) {
    std::cerr << "You cannot change " << what << ", membershipd is not using votequorum\n";
    return ToInt(ToolExit::kNotQuorate);
  }
  std::cerr << "Unable to set " << what << ": " << status.message() << "\n";
  return ToInt(ToolExit::kError);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("ha-quorumtool: membershipd's quorum (like corosync-quorumtool)", "ha-quorumtool");
  std::string config_path;
  std::string run_dir;
  bool status = false;
  bool list = false;
  bool monitor = false;
  bool json = false;
  mt::QuorumDisplayOptions options;
  uint32_t expected = 0;
  uint32_t votes = 0;
  uint32_t node_id = 0;
  app.add_option("-c,--config",
                 config_path,
                 "cluster configuration (default $HA_CONFIG or /etc/corosync/corosync.conf)");
  app.add_option("--run-dir", run_dir, "the node's socket folder (instead of the configuration's)");
  app.add_flag("-s,--status", status, "show quorum status (the default): exit 0 quorate, 2 not");
  app.add_flag("-l,--list", list, "list the members");
  app.add_flag("-m,--monitor", monitor, "show the status again at every change");
  auto* expected_opt = app.add_option("-e,--expected", expected, "set expected votes cluster-wide");
  auto* votes_opt = app.add_option("-v,--votes", votes, "set a node's votes");
  auto* node_opt = app.add_option("-n,--nodeid", node_id, "the node for -v (default: this node)");
  app.add_flag("-H,--hex", options.hex_node_ids, "show node ids in hexadecimal");
  app.add_flag("-i,--ip", options.show_addresses, "show node addresses instead of names");
  app.add_flag("--json", json, "print JSON (one object per line with -m)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : ToInt(ToolExit::kUsage);
  }
  const bool set_expected = expected_opt->count() > 0;
  const bool set_votes = votes_opt->count() > 0;
  if (static_cast<int>(status) + list + monitor + set_expected + set_votes > 1) {
    std::cerr << app.help() << "ha-quorumtool: give at most one of -s, -l, -m, -e, -v\n";
    return ToInt(ToolExit::kUsage);
  }
  if (node_opt->count() > 0 && !set_votes) {
    std::cerr << "ha-quorumtool: -n goes with -v\n";
    return ToInt(ToolExit::kUsage);
  }
  if (set_expected && expected == 0) {
    std::cerr << "New expected votes value was not valid, try a positive number\n";
    return ToInt(ToolExit::kUsage);
  }

  absl::StatusOr<std::string> dir = mt::ResolveRunDir(config_path, run_dir, getenv("HA_CONFIG"));
  if (!dir.ok()) {
    std::cerr << "ha-quorumtool: " << dir.status().message() << "\n";
    return ToInt(ToolExit::kConfig);
  }
  const std::string socket = mt::MembershipSocket(*dir);
  const std::string where = "membershipd (" + socket + ")";
  ha::RealClock clock;
  auto channel = ha::ConnectUnix(socket);
  auto quorum = mpb::Quorum::NewStub(channel);
  auto membership_stub = mpb::Membership::NewStub(channel);

  if (set_expected) {
    mpb::SetExpectedVotesRequest request;
    request.set_expected_votes(expected);
    mpb::SetExpectedVotesResponse response;
    auto ctx = ha::ContextWithDeadline();
    absl::Status s = ha::FromGrpcStatus(quorum->SetExpectedVotes(ctx.get(), request, &response));
    return s.ok() ? 0 : SetFailed("expected votes", s);
  }
  if (set_votes) {
    mpb::SetVotesRequest request;
    request.set_node_id(node_id);
    request.set_votes(votes);
    mpb::SetVotesResponse response;
    auto ctx = ha::ContextWithDeadline();
    absl::Status s = ha::FromGrpcStatus(quorum->SetVotes(ctx.get(), request, &response));
    return s.ok() ? 0 : SetFailed("node votes", s);
  }
  if (monitor) {
    // A stream with no deadline: it runs until ^C or until membershipd stops.
    grpc::ClientContext ctx;
    auto reader = quorum->WatchQuorum(&ctx, {});
    mpb::QuorumEvent event;
    while (reader->Read(&event)) {
      absl::StatusOr<mpb::GetMembershipResponse> membership = Membership(*membership_stub);
      if (!membership.ok()) {
        return Fail(where, membership.status());
      }
      Show(clock, event.state(), *membership, options, json, true);
      if (!json) {
        std::cout << "\n";
      }
      std::cout.flush();
    }
    return Fail(where, ha::FromGrpcStatus(reader->Finish()));
  }

  mpb::GetQuorumResponse response;
  auto ctx = ha::ContextWithDeadline();
  absl::Status s = ha::FromGrpcStatus(quorum->GetQuorum(ctx.get(), {}, &response));
  if (!s.ok()) {
    return Fail(where, s);
  }
  absl::StatusOr<mpb::GetMembershipResponse> membership = Membership(*membership_stub);
  if (!membership.ok()) {
    return Fail(where, membership.status());
  }
  if (list) {
    const std::vector<uint32_t> members = mt::MemberIds(*membership);
    if (json) {
      std::cout << mt::QuorumJson(response.state(), *membership, members)["members"].dump(2)
                << "\n";
    } else {
      std::cout << mt::FormatQuorumNodes(response.state(), *membership, members, options);
    }
    return 0;
  }
  Show(clock, response.state(), *membership, options, json, false);
  return ToInt(mt::QuorumExit(response.state()));
}
