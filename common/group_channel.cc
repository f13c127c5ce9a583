#include "common/group_channel.h"

#include <utility>

#include "common/corosync_group_channel.h"
#include "common/daemon_runtime.h"
#include "common/group_link.h"

namespace ha {

std::unique_ptr<GroupChannel> MakeGroupChannel(const config::ClusterConfig& config,
                                               EventLoop& loop,
                                               GroupChannel::Options options,
                                               GroupChannel::Handlers handlers) {
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
