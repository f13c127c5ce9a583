#include "common/group_channel.h"

#include <map>
#include <string>
#include <utility>

#include "common/corosync_group_channel.h"
#include "common/daemon_runtime.h"
#include "common/group_link.h"

namespace ha {
namespace {

// Both providers report node ids only; names come from the nodelist, as membershipd's Node.
void NameNodes(const std::map<uint32_t, std::string>& names,
               google::protobuf::RepeatedPtrField<membership::v1::Node>& nodes) {
  for (membership::v1::Node& node : nodes) {
    auto it = names.find(node.node_id());
    if (it != names.end() && node.name().empty())
      node.set_name(it->second);
  }
}

}  // namespace

std::unique_ptr<GroupChannel> MakeGroupChannel(const config::ClusterConfig& config,
                                               EventLoop& loop,
                                               GroupChannel::Options options,
                                               GroupChannel::Handlers handlers) {
  if (handlers.ring) {
    std::map<uint32_t, std::string> names;
    for (const config::NodeConfig& node : config.nodes)
      names[node.nodeid] = node.name;
    handlers.ring = [names = std::move(names), ring = std::move(handlers.ring)](
                        uint64_t generation, const membership::v1::MembershipChange& change) {
      membership::v1::MembershipChange named = change;
      NameNodes(names, *named.mutable_members());
      NameNodes(names, *named.mutable_joined());
      NameNodes(names, *named.mutable_left());
      ring(generation, named);
    };
  }
  switch (config.system.membership_provider) {
    case config::MembershipProvider::kCorosync:
      return std::make_unique<CorosyncGroupChannel>(loop, std::move(options), std::move(handlers));
    case config::MembershipProvider::kMembershipd:
      break;
  }
  if (options.socket_path.empty())
    options.socket_path = DaemonSocketPath(config, "membershipd");
  return std::make_unique<GroupLink>(loop, std::move(options), std::move(handlers));
}

}  // namespace ha
