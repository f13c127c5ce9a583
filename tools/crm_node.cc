// crm_node: the cluster's nodes as the membership layer sees them, with Pacemaker's flags.
//   crm_node -i      this node's id          crm_node -n      this node's name
//   crm_node -p      the partition's names   crm_node -l      every node: "<id> <name> member|lost"
//   crm_node -q      1 if the partition is quorate, 0 if not
//   crm_node -N ID   the name of node ID (from the nodelist; no connection)
// It asks the configured provider (membershipd or a Corosync, common/group_channel.h) through a
// short session in the group "crm_node": the ring and quorum it reports. Exit codes as
// Pacemaker's: 0, 64 usage, 78 configuration, 102 the membership layer did not answer in
// --timeout, 105 no such node (-N).
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <vector>

#include "common/daemon_runtime.h"
#include "common/event_loop.h"
#include "common/exit_codes.h"
#include "common/group_channel.h"
#include "config/cluster_config.h"
#include "tools/crm_node_util.h"

namespace {

constexpr int kDisconnected = 102;  // Pacemaker's CRM_EX_DISCONNECT
constexpr int kNoSuchNode = 105;    // CRM_EX_NOSUCH

enum class Query { kId, kName, kPartition, kList, kQuorum };

// What the session has learned so far.
struct Answers {
  std::optional<uint32_t> local_id;
  std::optional<std::vector<uint32_t>> ring;
  std::optional<bool> quorate;
  std::string last_failure;

  bool Enough(Query query) const {
    switch (query) {
      case Query::kId:
      case Query::kName:
        return local_id.has_value();
      case Query::kPartition:
      case Query::kList:
        return local_id.has_value() && ring.has_value();
      case Query::kQuorum:
        return local_id.has_value() && quorate.has_value();
    }
    return false;
  }
};

std::string Print(Query query, const ha::config::ClusterConfig& config, const Answers& answers) {
  switch (query) {
    case Query::kId:
      return std::to_string(*answers.local_id) + "\n";
    case Query::kName: {
      std::string name = ha::crm_node::NodeName(config, *answers.local_id);
      return (name.empty() ? std::to_string(*answers.local_id) : name) + "\n";
    }
    case Query::kPartition:
      return ha::crm_node::FormatPartition(config, *answers.ring);
    case Query::kList:
      return ha::crm_node::FormatList(config, *answers.ring);
    case Query::kQuorum:
      return *answers.quorate ? "1\n" : "0\n";
  }
  return "";
}

int Ask(Query query, const ha::config::ClusterConfig& config, double timeout_s) {
  auto loop = ha::CreateQbEventLoop();
  if (!loop.ok()) {
    std::cerr << "crm_node: " << loop.status().message() << "\n";
    return ha::ToInt(ha::ExitCode::kError);
  }
  ha::EventLoop& l = **loop;
  Answers answers;
  auto check = [&] {
    if (answers.Enough(query))
      l.Stop();
  };
  ha::GroupChannel::Options options;
  options.group = "crm_node";
  options.client_name = "crm_node";
  ha::GroupChannel::Handlers handlers;
  handlers.joined = [&](uint64_t, uint32_t node_id, uint32_t) {
    answers.local_id = node_id;
    check();
  };
  handlers.change = [](uint64_t, const ha::membership::v1::GroupChange&) {};
  handlers.message = [](uint64_t, uint32_t, uint32_t, std::string) {};
  handlers.lost = [&](uint64_t, std::string why) { answers.last_failure = why; };
  if (query == Query::kQuorum) {
    handlers.quorum = [&](bool quorate) {
      answers.quorate = quorate;
      check();
    };
  }
  handlers.ring = [&](uint64_t, const ha::membership::v1::MembershipChange& ring) {
    std::vector<uint32_t> ids;
    for (const auto& node : ring.members())
      ids.push_back(node.node_id());
    answers.ring = std::move(ids);
    check();
  };
  std::unique_ptr<ha::GroupChannel> channel =
      ha::MakeGroupChannel(config, l, options, std::move(handlers));
  bool timed_out = false;
  l.Post([&] {
    channel->Start();
    l.AddTimer(absl::Seconds(timeout_s), [&] {
      timed_out = true;
      l.Stop();
    });
  });
  l.Run();
  channel->Stop();
  if (timed_out && !answers.Enough(query)) {
    std::cerr << "crm_node: the membership layer did not answer within " << timeout_s << " s"
              << (answers.last_failure.empty() ? "" : " (" + answers.last_failure + ")") << "\n";
    return kDisconnected;
  }
  std::cout << Print(query, config, answers);
  return ha::ToInt(ha::ExitCode::kOk);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("crm_node: the cluster's nodes as the membership layer sees them", "crm_node");
  std::string config_path;
  std::string run_dir;
  bool id = false, name = false, partition = false, list = false, quorum = false;
  std::optional<uint32_t> name_for_id;
  double timeout_s = 10;
  app.add_option("-c,--config",
                 config_path,
                 "cluster configuration (default $HA_CONFIG or /etc/corosync/corosync.conf)");
  app.add_option("--run-dir", run_dir, "the node's socket folder (instead of the configuration's)");
  auto* group = app.add_option_group("commands");
  group->add_flag("-i,--cluster-id", id, "this node's cluster id");
  group->add_flag("-n,--name", name, "the name the cluster uses for this node");
  group->add_flag("-p,--partition", partition, "the members of this partition");
  group->add_flag("-l,--list", list, "every node of the cluster, member or lost");
  group->add_flag("-q,--quorum", quorum, "1 if this partition has quorum, 0 if not");
  group->add_option("-N,--name-for-id", name_for_id, "the name of the node with this id");
  group->require_option(1);
  app.add_option("--timeout", timeout_s, "seconds to wait for the membership layer (default 10)")
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? ha::ToInt(ha::ExitCode::kOk) : ha::ToInt(ha::ExitCode::kUsage);
  }
  if (config_path.empty()) {
    const char* env = std::getenv("HA_CONFIG");
    config_path = env != nullptr ? env : ha::kDefaultConfigPath;
  }
  auto loaded = ha::config::LoadClusterConfigFile(config_path);
  if (!loaded.ok()) {
    std::cerr << "crm_node: " << loaded.status().message() << "\n";
    return ha::ToInt(ha::ExitCode::kConfig);
  }
  ha::config::ClusterConfig& config = loaded->config;
  if (!run_dir.empty())
    config.system.run_dir = run_dir;
  if (name_for_id.has_value()) {
    std::string found = ha::crm_node::NodeName(config, *name_for_id);
    if (found.empty()) {
      std::cerr << "crm_node: no node with id " << *name_for_id << " in " << config_path << "\n";
      return kNoSuchNode;
    }
    std::cout << found << "\n";
    return ha::ToInt(ha::ExitCode::kOk);
  }
  Query query = id          ? Query::kId
                : name      ? Query::kName
                : partition ? Query::kPartition
                : list      ? Query::kList
                            : Query::kQuorum;
  return Ask(query, config, timeout_s);
}
