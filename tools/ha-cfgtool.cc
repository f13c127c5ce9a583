// ha-cfgtool: membershipd's rings, nodes and counters, like corosync-cfgtool (and
// corosync-cmapctl -m stats for the counters).
//   ha-cfgtool -s [--json]            ring status; exits 1 when a ring is FAULTY
//   ha-cfgtool -n [--json]            every node: id, name, state, addresses
//   ha-cfgtool -r                     re-enable faulty rings cluster-wide
//   ha-cfgtool -C [PREFIX] [--json]   runtime counters (those starting with PREFIX)
// The node is found through its configuration: -c FILE, else $HA_CONFIG, else the default, or
// --run-dir. The wording is in tools/membership_tool_util.h.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

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
  std::cerr << "ha-cfgtool: " << what << ": " << status.message() << "\n";
  return ToInt(ToolExit::kError);
}

void PrintJson(const nlohmann::json& j) {
  std::cout << j.dump(2) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("ha-cfgtool: membershipd's rings, nodes and counters (like corosync-cfgtool)",
               "ha-cfgtool");
  std::string config_path;
  std::string run_dir;
  bool status = false;
  bool nodes = false;
  bool reenable = false;
  bool json = false;
  std::string prefix;
  app.add_option("-c,--config",
                 config_path,
                 "cluster configuration (default $HA_CONFIG or /etc/corosync/corosync.conf)");
  app.add_option("--run-dir", run_dir, "the node's socket folder (instead of the configuration's)");
  app.add_flag("-s,--status", status, "ring status of this node (exit 1 if a ring is FAULTY)");
  app.add_flag("-n,--nodes", nodes, "every node with its state and addresses");
  app.add_flag("-r,--reenable", reenable, "re-enable faulty rings cluster-wide");
  auto* counters = app.add_option("-C,--counters", prefix, "runtime counters, optionally by prefix")
                       ->expected(0, 1);
  app.add_flag("--json", json, "print JSON");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : ToInt(ToolExit::kUsage);
  }
  const bool show_counters = counters->count() > 0;
  if (static_cast<int>(status) + nodes + reenable + show_counters != 1) {
    std::cerr << app.help() << "ha-cfgtool: give exactly one of -s, -n, -r, -C\n";
    return ToInt(ToolExit::kUsage);
  }

  absl::StatusOr<std::string> dir = mt::ResolveRunDir(config_path, run_dir, getenv("HA_CONFIG"));
  if (!dir.ok()) {
    std::cerr << "ha-cfgtool: " << dir.status().message() << "\n";
    return ToInt(ToolExit::kConfig);
  }
  const std::string socket = mt::MembershipSocket(*dir);
  auto stub = mpb::Membership::NewStub(ha::ConnectUnix(socket));
  const std::string where = "membershipd (" + socket + ")";

  mpb::GetRingsResponse rings;
  if (status || nodes) {
    auto ctx = ha::ContextWithDeadline();
    absl::Status s = ha::FromGrpcStatus(stub->GetRings(ctx.get(), {}, &rings));
    if (!s.ok()) {
      return Fail(where, s);
    }
  }
  if (status) {
    if (json) {
      PrintJson(mt::RingStatusJson(rings));
    } else {
      std::cout << mt::FormatRingStatus(rings);
    }
    return ToInt(mt::AnyRingFaulty(rings) ? ToolExit::kError : ToolExit::kOk);
  }
  if (nodes) {
    mpb::GetMembershipResponse membership;
    auto ctx = ha::ContextWithDeadline();
    absl::Status s = ha::FromGrpcStatus(stub->GetMembership(ctx.get(), {}, &membership));
    if (!s.ok()) {
      return Fail(where, s);
    }
    if (json) {
      PrintJson(mt::NodesJson(membership, rings));
    } else {
      std::cout << mt::FormatNodes(membership, rings);
    }
    return 0;
  }
  if (reenable) {
    if (!json) {
      std::cout << "Re-enabling all failed rings.\n";
    }
    mpb::ReenableRingsResponse response;
    auto ctx = ha::ContextWithDeadline();
    absl::Status s = ha::FromGrpcStatus(stub->ReenableRings(ctx.get(), {}, &response));
    if (!s.ok()) {
      return Fail("could not re-enable the rings", s);
    }
    if (json) {
      mpb::GetRingsResponse after;
      *after.mutable_rings() = response.rings();
      PrintJson(mt::RingStatusJson(after)["rings"]);
    }
    return 0;
  }
  mpb::GetCountersRequest request;
  request.set_prefix(prefix);
  mpb::GetCountersResponse response;
  auto ctx = ha::ContextWithDeadline();
  absl::Status s = ha::FromGrpcStatus(stub->GetCounters(ctx.get(), request, &response));
  if (!s.ok()) {
    return Fail(where, s);
  }
  if (json) {
    PrintJson(mt::CountersJson(response));
  } else {
    std::cout << mt::FormatCounters(response);
  }
  return 0;
}
