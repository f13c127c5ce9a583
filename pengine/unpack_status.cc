// The status section: which nodes are up, clean or in need of fencing; what each resource's
// operation history says about where it runs, in which role, and what failed.
#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pengine/score.h"
#include "pengine/unpack.h"

namespace ha::pengine {

namespace {

// OCF return codes and executor statuses as they appear in lrm_rsc_op.
enum : int {
  kRcOk = 0,
  kRcError = 1,
  kRcInvalidParam = 2,
  kRcUnimplemented = 3,
  kRcInsufficientPriv = 4,
  kRcNotInstalled = 5,
  kRcNotConfigured = 6,
  kRcNotRunning = 7,
  kRcRunningPromoted = 8,
  kRcFailedPromoted = 9,
};
enum : int {
  kOpPending = -1,
  kOpDone = 0,
  kOpCancelled = 1,
  kOpTimeout = 2,
  kOpNotSupported = 3,
  kOpError = 4,
  kOpErrorHard = 5,
  kOpErrorFatal = 6,
  kOpNotInstalled = 7,
};

void MarkUnclean(Node& node, std::string reason, bool priority_delay = false) {
  if (!node.unclean || node.fence_reason.empty())
    node.fence_reason = std::move(reason);
  node.unclean = true;
  node.fence_priority_delay = node.fence_priority_delay || priority_delay;
}

// Pacemaker's order of how bad a failure response is: a worse one replaces a milder one.
int Severity(OnFail on_fail) {
  switch (on_fail) {
    case OnFail::kIgnore:
      return 0;
    case OnFail::kDemote:
      return 1;
    case OnFail::kRestart:
      return 2;
    case OnFail::kStop:
      return 4;
    case OnFail::kStandby:
      return 5;
    case OnFail::kBlock:
      return 3;
    case OnFail::kFence:
      return 6;
  }
  return 0;
}

void DetermineOnline(WorkingSet& ws, Node& node, pugi::xml_node state) {
  std::string in_cluster = state.attribute("in_ccm").value();
  std::string peer = state.attribute("crmd").value();
  std::string join = state.attribute("join").value();
  std::string expected = state.attribute("expected").value();
  bool cluster_member = IsTrue(in_cluster);
  bool controller_up = peer == "online";
  auto shutdown = node.attributes.find("shutdown");
  node.shutdown =
      shutdown != node.attributes.end() && shutdown->second != "0" && !shutdown->second.empty();
  auto terminate = node.attributes.find("terminate");
  bool do_terminate = terminate != node.attributes.end() && IsTrue(terminate->second);
  node.expected_up = expected == "member";
  if (node.type == "ping")
    return;

  if (!ws.options.stonith_enabled) {
    if (!cluster_member)
      return;
    if (controller_up) {
      node.online = join == "member";
      return;
    }
    if (!node.expected_up)
      return;
    MarkUnclean(node, "peer is unexpectedly down");
    return;
  }

  // Pacemaker 2.1's reading of the node_state attributes, in its order.
  node.online = cluster_member;
  if (expected.empty())
    expected = "down";
  if (node.shutdown) {
    node.online = controller_up;
  } else if (!state.attribute("in_ccm")) {
    MarkUnclean(node, "peer has not been seen by the cluster");
  } else if (join == "banned") {
    MarkUnclean(node, "peer failed Pacemaker membership criteria");
  } else if (!do_terminate && expected == "down") {
    if (cluster_member || controller_up) {
      node.standby = true;
      node.pending = true;
    }
  } else if (do_terminate && join == "down" && !cluster_member && !controller_up) {
    node.online = false;  // just fenced
  } else if (!cluster_member) {
    MarkUnclean(node, "peer is no longer part of the cluster", true);
  } else if (!controller_up) {
    MarkUnclean(node, "peer process is no longer available");
  } else if (do_terminate) {
    MarkUnclean(node, "termination was requested");
  } else if (join == "member") {
    // active
  } else if (join == "pending" || join == "down") {
    node.standby = true;
    node.pending = true;
  } else {
    MarkUnclean(node, "peer was in an unknown state");
  }
}

struct OpRecord {
  pugi::xml_node xml;
  std::string id;
  std::string task;
  int64_t interval_ms = 0;
  int rc = 0;
  int status = 0;
  int call_id = 0;
  int expected_rc = 0;
  int64_t last_change = 0;
};

std::optional<OpRecord> ReadOp(pugi::xml_node xml) {
  OpRecord op;
  op.xml = xml;
  op.id = xml.attribute("id").value();
  op.task = xml.attribute("operation").value();
  op.interval_ms = xml.attribute("interval").as_llong(0);  // milliseconds in the history
  op.rc = xml.attribute("rc-code").as_int(0);
  // Degraded results count as their plain counterparts.
  if (op.rc == 190)
    op.rc = kRcOk;
  if (op.rc == 191)
    op.rc = kRcRunningPromoted;
  op.status = xml.attribute("op-status").as_int(0);
  // Old controllers recorded "error" for any unexpected rc: the rc decides.
  if (op.status == kOpError)
    op.status = kOpDone;
  op.call_id = xml.attribute("call-id").as_int(0);
  op.last_change = xml.attribute("last-rc-change").as_llong(0);
  if (op.last_change == 0)
    op.last_change = xml.attribute("last-run").as_llong(0);
  // transition-key is "graph:action:expected_rc:uuid".
  std::vector<std::string> key = absl::StrSplit(xml.attribute("transition-key").value(), ':');
  op.expected_rc = 0;
  if (key.size() >= 3)
    absl::SimpleAtoi(key[2], &op.expected_rc);
  if (op.task.empty())
    return std::nullopt;
  return op;
}

const OpConfig* FindOpConfig(const Resource& rsc, std::string_view task, int64_t interval_ms) {
  for (const OpConfig& op : rsc.ops)
    if (op.name == task && op.interval_ms == interval_ms)
      return &op;
  return nullptr;
}

OnFail FailureResponse(const WorkingSet& ws, const Resource& rsc, const OpRecord& op) {
  const OpConfig* config = FindOpConfig(rsc, op.task, op.interval_ms);
  if (config && config->on_fail_set) {
    if (config->on_fail == OnFail::kFence && !ws.options.stonith_enabled)
      return OnFail::kBlock;
    return config->on_fail;
  }
  if (op.task == "stop")
    return ws.options.stonith_enabled ? OnFail::kFence : OnFail::kBlock;
  return OnFail::kRestart;
}

// Replays one resource's history on one node, in call order.
class HistoryReplay {
 public:
  HistoryReplay(WorkingSet& ws, Resource& rsc, Node& node) : ws_(ws), rsc_(rsc), node_(node) {}

  void Run(std::vector<OpRecord> ops) {
    std::stable_sort(ops.begin(), ops.end(), [](const OpRecord& a, const OpRecord& b) {
      // Pending operations (call-id -1) are the newest.
      int ca = a.call_id < 0 ? INT32_MAX : a.call_id;
      int cb = b.call_id < 0 ? INT32_MAX : b.call_id;
      return ca < cb;
    });
    for (const OpRecord& op : ops)
      Apply(op);
    Finish();
  }

 private:
  void Apply(const OpRecord& original) {
    OpRecord op = original;
    // LSB status scripts say "not running" with 3.
    if (rsc_.rsc_class == "lsb" && op.task == "monitor" && op.rc == kRcUnimplemented)
      op.rc = kRcNotRunning;
    if (op.task == "notify" || op.task == "meta-data")
      return;
    if (op.status == kOpCancelled)
      return;
    bool probe = op.task == "monitor" && op.interval_ms == 0;
    if (op.status == kOpPending) {
      if (op.task == "start" || op.task == "migrate_from" || op.task == "promote" ||
          op.task == "demote" || op.task == "stop" || op.task == "migrate_to")
        role_ = std::max(role_, Role::kStarted);
      if (op.task == "start")
        rsc_.pending_start = true;
      if (op.task == "promote")
        role_ = Role::kPromoted;
      return;
    }
    bool failed = false;
    bool hard = false, fatal = false;
    // A probe that finds the agent missing just means "not running here (and never can)".
    if (probe && (op.status == kOpNotInstalled || op.rc == kRcNotInstalled)) {
      role_ = Role::kStopped;
      ban_ = true;
      return;
    }
    if (op.status == kOpDone) {
      if (op.rc != op.expected_rc) {
        // A probe that finds the resource running (or stopped) reports state, not failure.
        if (probe && (op.rc == kRcOk || op.rc == kRcNotRunning || op.rc == kRcRunningPromoted)) {
          failed = false;
        } else if (op.rc == kRcNotRunning && op.expected_rc != kRcNotRunning && !probe &&
                   op.task == "stop") {
          failed = false;
        } else {
          failed = true;
        }
      }
    } else if (op.status == kOpNotInstalled) {
      failed = true;
      hard = true;
    } else if (op.status == kOpErrorHard) {
      failed = true;
      hard = true;
    } else if (op.status == kOpErrorFatal) {
      failed = true;
      fatal = true;
    } else {
      failed = true;
    }
    if (failed && op.status == kOpDone) {
      if (op.rc == kRcInvalidParam || op.rc == kRcUnimplemented || op.rc == kRcInsufficientPriv ||
          op.rc == kRcNotInstalled)
        hard = true;
      if (op.rc == kRcNotConfigured)
        fatal = true;
      // A probe that finds the agent missing just means "not running here".
      if (probe && op.rc == kRcNotInstalled) {
        failed = false;
        hard = false;
        role_ = Role::kStopped;
        ban_ = true;
        return;
      }
    }
    // A failure that blocked the resource needs an administrator: it never expires.
    if (failed && Expired(op) && FailureResponse(ws_, rsc_, op) != OnFail::kBlock)
      failed = false, hard = false, fatal = false;

    if (!failed) {
      ApplySuccess(op, probe);
      return;
    }
    OnFail response = FailureResponse(ws_, rsc_, op);
    rsc_.failures[&node_].push_back({op.task, op.interval_ms, response});
    if (hard)
      ban_ = true;
    if (fatal)
      fatal_ = true;
    if (Severity(response) > Severity(on_fail_))
      on_fail_ = response;
    if (op.task == "stop") {
      role_ = Role::kStarted;
      rsc_.failed_stop_on.push_back(&node_);
      ban_ = true;
    } else if (op.task == "promote") {
      role_ = Role::kPromoted;
    } else if (op.task == "demote") {
      role_ = response == OnFail::kBlock ? Role::kPromoted : Role::kUnpromoted;
    } else if (op.rc == kRcRunningPromoted || op.rc == kRcFailedPromoted) {
      role_ = Role::kPromoted;
    } else if (op.task == "migrate_to" || op.task == "migrate_from" || op.task == "start" ||
               op.task == "monitor") {
      role_ = std::max(role_, Role::kStarted);
    }
    if (response == OnFail::kIgnore && op.task == "monitor" && op.rc == kRcNotRunning)
      role_ = Role::kStopped;
  }

  bool Expired(const OpRecord& op) const {
    if (rsc_.failure_timeout_s <= 0 || op.last_change <= 0)
      return false;
    return op.last_change + rsc_.failure_timeout_s <= ws_.now;
  }

  void ApplySuccess(const OpRecord& op, bool probe) {
    bool clear = false;
    if (op.task == "start" || op.task == "migrate_from") {
      role_ = Role::kStarted;
      clear = true;
      rsc_.last_start_op[&node_] = op.xml;
    } else if (op.task == "stop") {
      role_ = Role::kStopped;
      clear = true;
      rsc_.last_start_op.erase(&node_);
    } else if (op.task == "promote") {
      role_ = Role::kPromoted;
      clear = true;
    } else if (op.task == "demote") {
      role_ = Role::kUnpromoted;
      clear = true;
    } else if (op.task == "migrate_to") {
      role_ = Role::kStarted;
      migrated_away_ = true;
    } else if (op.task == "monitor") {
      if (op.rc == kRcNotRunning) {
        role_ = Role::kStopped;
        if (probe)
          clear = true;
      } else if (op.rc == kRcRunningPromoted) {
        role_ = Role::kPromoted;
      } else if (role_ < Role::kStarted) {
        role_ = Role::kStarted;
      }
      if (op.interval_ms > 0 && op.rc != kRcNotRunning)
        rsc_.active_monitors[&node_].push_back({op.task, op.interval_ms});
    } else if (op.task == "reload" || op.task == "reload-agent") {
      role_ = std::max(role_, Role::kStarted);
    }
    if (clear) {
      switch (on_fail_) {
        case OnFail::kStop:
        case OnFail::kFence:
        case OnFail::kStandby:
          break;
        case OnFail::kBlock:
        case OnFail::kIgnore:
        case OnFail::kDemote:
        case OnFail::kRestart:
          on_fail_ = OnFail::kIgnore;
          break;
      }
    }
  }

  void Finish() {
    if (ban_)
      banned_.push_back(&node_);
    if (fatal_)
      rsc_.meta["__fatal__"] = "true";
    bool active = role_ != Role::kStopped && role_ != Role::kUnknown;
    if (active && !node_.online && !node_.maintenance && rsc_.managed && !node_.unclean &&
        ws_.options.stonith_enabled) {
      MarkUnclean(node_, absl::StrCat(rsc_.id, " is thought to be active there"));
    }
    // On a node that is being fenced anyway, a failure needs no handling of its own: the
    // fencing stops everything there and the resource can start elsewhere.
    if (node_.unclean)
      on_fail_ = OnFail::kIgnore;
    switch (on_fail_) {
      case OnFail::kIgnore:
        break;
      case OnFail::kFence:
        if (active || !rsc_.failed_stop_on.empty())
          MarkUnclean(node_, absl::StrCat(rsc_.id, " failed there"));
        break;
      case OnFail::kStandby:
        node_.standby_onfail = true;
        break;
      case OnFail::kBlock:
        // On a node that will be fenced anyway, there is nothing to leave alone.
        if (active && !node_.unclean)
          rsc_.blocked = true;
        break;
      case OnFail::kStop:
        rsc_.next_role = Role::kStopped;
        rsc_.stop_reason = "on-fail=stop";
        break;
      case OnFail::kRestart:
      case OnFail::kDemote:
        break;
    }
    if (!active)
      return;
    // What runs on a node in maintenance is left alone there.
    if (node_.maintenance)
      rsc_.managed = false;
    rsc_.running_on.push_back(&node_);
    if (role_ > rsc_.role || rsc_.role == Role::kStopped)
      rsc_.role = std::max(rsc_.role, role_);
    if (on_fail_ != OnFail::kIgnore && on_fail_ != OnFail::kBlock)
      rsc_.failed = true;
  }

 public:
  std::vector<Node*> banned_;
  bool migrated_away_ = false;

 private:
  WorkingSet& ws_;
  Resource& rsc_;
  Node& node_;
  Role role_ = Role::kUnknown;
  OnFail on_fail_ = OnFail::kIgnore;
  bool ban_ = false;
  bool fatal_ = false;
};

bool IsUnsupported(const WorkingSet& ws, std::string_view id) {
  if (ws.unsupported_ids.count(id))
    return true;
  size_t colon = id.rfind(':');
  return colon != std::string_view::npos && ws.unsupported_ids.count(id.substr(0, colon));
}

Resource* OrphanFor(WorkingSet& ws, pugi::xml_node lrm_rsc) {
  std::string id = lrm_rsc.attribute("id").value();
  if (Resource* existing = ws.FindResource(id))
    return existing;
  auto rsc = std::make_unique<Resource>();
  rsc->id = id;
  rsc->orphan = true;
  rsc->rsc_class = lrm_rsc.attribute("class").value();
  rsc->provider = lrm_rsc.attribute("provider").value();
  rsc->type = lrm_rsc.attribute("type").value();
  rsc->agent_text =
      rsc->rsc_class + (rsc->provider.empty() ? "" : ":" + rsc->provider) + ":" + rsc->type;
  rsc->is_stonith = rsc->rsc_class == "stonith";
  rsc->managed = ws.options.stop_orphan_resources && !ws.options.maintenance_mode;
  rsc->target_role = Role::kStopped;
  rsc->requires_ = ws.options.stonith_enabled && !rsc->is_stonith ? "fencing" : "quorum";
  rsc->order = static_cast<int>(ws.resources.size());
  Resource* raw = rsc.get();
  ws.resources.push_back(std::move(rsc));
  ws.top_level.push_back(raw);
  return raw;
}

void ReadTransientAttributes(WorkingSet& ws, Node& node, pugi::xml_node state) {
  RuleContext context;
  context.now = ws.now;
  std::map<std::string, std::string> transient;
  UnpackAttributeSets(
      state.child("transient_attributes"), "instance_attributes", context, *ws.ids, transient);
  for (auto& [name, value] : transient)
    node.attributes[name] = value;
}

void ReadFailCounts(WorkingSet& ws, Node& node) {
  for (const auto& [name, value] : node.attributes) {
    if (!absl::StartsWith(name, "fail-count-"))
      continue;
    std::string rest = name.substr(strlen("fail-count-"));
    // Per-operation fail counts ("fail-count-rsc#op_interval") count only in CIBs from
    // controllers that write them (those that stamp a crm_feature_set), as in Pacemaker.
    if (rest.find('#') != std::string::npos && !ws.per_op_fail_counts)
      continue;
    std::string rsc_id = rest.substr(0, rest.find('#'));
    Resource* rsc = ws.FindResource(rsc_id);
    if (!rsc)
      continue;
    int count = ParseScore(value);
    if (count <= 0)
      continue;
    if (rsc->failure_timeout_s > 0) {
      std::string last = "last-failure-" + rest;
      auto it = node.attributes.find(last);
      int64_t when = 0;
      if (it != node.attributes.end() && absl::SimpleAtoi(it->second, &when) &&
          when + rsc->failure_timeout_s <= ws.now)
        continue;
    }
    rsc->fail_counts[&node] = AddScores(rsc->fail_counts[&node], count);
  }
}

}  // namespace

void UnpackStatus(WorkingSet& ws) {
  pugi::xml_node status = ws.doc.child("cib").child("status");
  // Nodes first, so that every resource history sees final node states.
  for (pugi::xml_node state : status.children("node_state")) {
    Node* node = ws.FindNodeById(state.attribute("id").value());
    if (!node)
      node = ws.FindNode(state.attribute("uname").value());
    if (!node)
      continue;
    node->unseen = false;
    node->unclean = false;
    node->fence_reason.clear();
    ReadTransientAttributes(ws, *node, state);
    DetermineOnline(ws, *node, state);
  }
  for (auto& node : ws.nodes) {
    node->attributes["#uname"] = node->uname;
    node->attributes["#id"] = node->id;
    node->attributes["#kind"] = node->type == "remote" ? "remote" : "cluster";
    node->attributes["#is_dc"] = node->is_dc ? "true" : "false";
    auto standby = node->attributes.find("standby");
    if (standby != node->attributes.end() && IsTrue(standby->second))
      node->standby = true;
    auto maintenance = node->attributes.find("maintenance");
    if (maintenance != node->attributes.end() && IsTrue(maintenance->second))
      node->maintenance = true;
    if (node->unseen && node->unclean && !ws.options.startup_fencing)
      node->unclean = false;
    ReadFailCounts(ws, *node);
  }
  for (pugi::xml_node state : status.children("node_state")) {
    Node* node = ws.FindNodeById(state.attribute("id").value());
    if (!node)
      node = ws.FindNode(state.attribute("uname").value());
    if (!node)
      continue;
    // Without fencing (or shutdown locks) an offline node's history says nothing: whatever ran
    // there is gone with it.
    if (!node->online && !ws.options.stonith_enabled && !ws.options.shutdown_lock)
      continue;
    pugi::xml_node resources = state.child("lrm").child("lrm_resources");
    for (pugi::xml_node lrm_rsc : resources.children("lrm_resource")) {
      std::string id = lrm_rsc.attribute("id").value();
      if (IsUnsupported(ws, id))
        continue;
      Resource* rsc = ws.FindResource(id);
      if (rsc && !rsc->IsPrimitive())
        continue;
      std::vector<OpRecord> ops;
      for (pugi::xml_node op_xml : lrm_rsc.children("lrm_rsc_op"))
        if (auto op = ReadOp(op_xml))
          ops.push_back(*op);
      if (!rsc) {
        // A resource no longer configured: stopped if it runs, forgotten otherwise.
        rsc = OrphanFor(ws, lrm_rsc);
      }
      rsc->history_on.insert(node);
      HistoryReplay replay(ws, *rsc, *node);
      replay.Run(std::move(ops));
      for (Node* banned : replay.banned_)
        ws.locations.push_back(
            {.id = "hard-error", .rsc = rsc, .node_scores = {{banned, -kInfinity}}});
    }
  }
  for (auto& rsc : ws.resources) {
    if (rsc->meta.count("__fatal__")) {
      LocationConstraint ban{.id = "fatal-error", .rsc = rsc.get()};
      for (auto& node : ws.nodes)
        ban.node_scores[node.get()] = -kInfinity;
      ws.locations.push_back(std::move(ban));
    }
    if (rsc->orphan && rsc->running_on.empty())
      rsc->managed = false;
    // Active on several nodes with multiple-active=block: leave it to the administrator.
    if (rsc->running_on.size() > 1 && rsc->multiple_active == "block")
      rsc->blocked = true;
  }
  // Groups take the state of their members.
  for (auto& rsc : ws.resources) {
    if (rsc->IsPrimitive())
      continue;
    for (Resource* child : rsc->children) {
      for (Node* node : child->running_on)
        if (std::find(rsc->running_on.begin(), rsc->running_on.end(), node) ==
            rsc->running_on.end())
          rsc->running_on.push_back(node);
      if (child->role > rsc->role)
        rsc->role = child->role;
      if (child->failed)
        rsc->failed = true;
    }
  }
}

}  // namespace ha::pengine
