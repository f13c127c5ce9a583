// The policy engine's picture of the cluster: nodes, resources, constraints and, after
// scheduling, actions. Built from one CIB by unpack_*.cc, filled in by assign.cc and
// actions.cc, read by summary.cc and graph.cc. Everything lives in one WorkingSet that owns
// it; the rest of the engine refers to its parts by plain pointers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "pengine/rules.h"
#include "pugixml.hpp"

namespace ha::pengine {

enum class Role { kUnknown, kStopped, kStarted, kUnpromoted, kPromoted };
const char* RoleName(Role role);
// "Started", "Slave"/"Unpromoted", "Master"/"Promoted", "Stopped"; unknown text -> kUnknown.
Role ParseRole(std::string_view text);

// What to do when an operation fails (op attribute on-fail).
enum class OnFail { kIgnore, kBlock, kStop, kRestart, kStandby, kFence, kDemote };

struct Node {
  std::string id;
  std::string uname;
  std::string type = "member";
  int order = 0;  // position in <nodes>

  bool online = false;
  bool unclean = false;  // must be fenced before its resources are recovered
  bool unseen = true;    // no node_state for it
  bool pending = false;
  bool standby = false;
  bool standby_onfail = false;  // a resource's on-fail=standby failed here
  bool maintenance = false;
  bool shutdown = false;
  bool expected_up = false;
  bool is_dc = false;
  std::string fence_reason;  // why it must be fenced (first reason wins)
  bool fence_priority_delay = false;

  std::map<std::string, std::string> attributes;  // incl. #uname, #id, ... and transient attrs
  std::map<std::string, int64_t> utilization;
  std::map<std::string, int64_t> remaining;  // capacity left during placement

  int assigned_count = 0;  // resources placed here so far (the tie-breaker between nodes)

  // Usable for running resources.
  bool CanRunResources() const {
    return online && !unclean && !standby && !standby_onfail && !shutdown && !pending &&
           !maintenance;
  }
};

struct OpConfig {
  std::string id;
  std::string name;
  int64_t interval_ms = 0;
  std::string role;  // as written
  OnFail on_fail = OnFail::kRestart;
  bool on_fail_set = false;
  bool enabled = true;
  int64_t timeout_ms = 20000;
};

struct Resource;

// One recorded failure of a resource on a node (from the history).
struct FailureRecord {
  std::string task;
  int64_t interval_ms = 0;
  OnFail on_fail = OnFail::kRestart;
};

enum class ResourceKind { kPrimitive, kGroup };

struct Resource {
  std::string id;
  ResourceKind kind = ResourceKind::kPrimitive;
  Resource* parent = nullptr;
  std::vector<Resource*> children;  // groups: members in order
  int order = 0;                    // position among all resources
  pugi::xml_node xml;

  std::string rsc_class, provider, type;
  std::string agent_text;  // "ocf:heartbeat:IPaddr2", as crm_mon prints it
  std::map<std::string, std::string> meta;
  std::map<std::string, std::string> params;
  std::map<std::string, int64_t> utilization;
  std::vector<OpConfig> ops;

  // Meta attributes, interpreted.
  int priority = 0;
  int stickiness = 0;
  int migration_threshold = 1000000;
  int64_t failure_timeout_s = 0;
  bool managed = true;
  Role target_role = Role::kUnknown;  // kUnknown: no limit
  std::string multiple_active = "stop_start";
  std::string requires_ = "quorum";  // nothing | quorum | fencing | unfencing
  bool allow_migrate = false;
  bool is_stonith = false;
  bool critical = true;
  bool group_ordered = true, group_colocated = true;

  // Status, from the history.
  std::vector<Node*> running_on;  // in the order found
  Role role = Role::kStopped;
  bool failed = false;   // needs recovery
  bool blocked = false;  // a failure said "block": leave it alone
  bool orphan = false;
  bool pending_start = false;
  std::map<Node*, std::vector<FailureRecord>> failures;
  std::map<Node*, int> fail_counts;   // from transient attributes, unexpired
  std::vector<Node*> failed_stop_on;  // a stop failed here
  std::map<Node*, std::vector<std::pair<std::string, int64_t>>> active_monitors;

  // Placement.
  std::map<Node*, int> allowed;  // node weights; absent = not considered
  Node* assigned = nullptr;
  std::map<Node*, int> final_weights;  // as placement saw them (crm_simulate -s)
  std::set<Node*> history_on;          // nodes with an lrm_resource entry (probed)
  // The successful start (or migrate_from) still in effect per node: its op-digest says with
  // which parameters the resource runs there.
  std::map<Node*, pugi::xml_node> last_start_op;
  bool reload = false;  // parameters changed that the agent can take without a restart
  Role next_role = Role::kUnknown;
  bool assigning = false, provisional = true, merging = false;
  std::string stop_reason;  // why next_role became Stopped

  bool IsPrimitive() const { return kind == ResourceKind::kPrimitive; }
  Node* CurrentNode() const { return running_on.empty() ? nullptr : running_on.front(); }
  // The resource's own or an ancestor's resource-level flags.
  const Resource* Top() const {
    const Resource* r = this;
    while (r->parent)
      r = r->parent;
    return r;
  }
};

struct LocationConstraint {
  std::string id;
  Resource* rsc = nullptr;
  Role role = Role::kUnknown;        // role filter (rsc role)
  std::map<Node*, int> node_scores;  // node -> score (from node= or rules)
  std::string discovery = "always";
};

// An ordering between two resources' actions, before actions exist (actions.cc expands it).
enum class OrderKind { kMandatory, kOptional, kSerialize };
struct OrderConstraint {
  std::string id;
  Resource* first = nullptr;
  std::string first_action = "start";
  Resource* then = nullptr;
  std::string then_action = "start";
  OrderKind kind = OrderKind::kMandatory;
  bool inverse = false;     // the symmetrical counterpart of a configured order
  bool symmetrical = true;  // false: "then" waits for "first" but is not restarted by it
  // Non-empty: `first` is one of a require-all=false set; "then" needs only one of them, through
  // the pseudo-action of this name.
  std::string any_of;
};

struct Colocation {
  std::string id;
  Resource* dependent = nullptr;  // rsc: placed relative to primary
  Resource* primary = nullptr;    // with-rsc
  int score = 0;
  Role dependent_role = Role::kUnknown;
  Role primary_role = Role::kUnknown;
  std::string node_attribute = "#uname";
  bool influence = true;
};

// Ordering flags, in the spirit of Pacemaker's pe_order_* bits.
enum OrderFlags : uint32_t {
  kOrderNone = 0,
  kOrderOptional = 1u << 0,      // only ordering, no implication
  kOrderImpliesThen = 1u << 1,   // first mandatory -> then mandatory
  kOrderImpliesFirst = 1u << 2,  // then mandatory -> first mandatory
  kOrderRunnableLeft = 1u << 3,  // then runnable only if first runnable
  kOrderSameNode = 1u << 4,      // only when both on the same node
  kOrderSerialize = 1u << 5,     // not at the same time, either order
  kOrderImpliesFirstMigratable = 1u << 6,
  kOrderRestart = 1u << 7,
  kOrderRunnableAny = 1u << 8,
  kOrderRunnableLeftIfRequired =
      1u << 9,  // as runnable-left, for a "then" that must happen  // then (a pseudo-action) is
                // runnable if any such first is  // stop
                // -> start of one resource: see actions.cc
};

struct Action;

struct ActionOrder {
  Action* first = nullptr;
  Action* then = nullptr;
  uint32_t flags = 0;
};

struct Action {
  int id = 0;
  Resource* rsc = nullptr;  // null: node or cluster action
  std::string task;         // start stop promote demote monitor stonith ...
  Node* node = nullptr;
  int64_t interval_ms = 0;
  bool optional = true;
  bool runnable = true;
  bool pseudo = false;
  std::string reason;                // "node availability", "required rsc1 start", ...
  std::string fence_action;          // stonith: reboot / off / on
  std::vector<ActionOrder*> before;  // orders where this is `then`
  std::vector<ActionOrder*> after;   // orders where this is `first`
  std::map<std::string, std::string> meta;

  std::string Key() const;  // "rsc_start_0"
};

struct Ticket {
  std::string id;
  bool granted = false;
  bool standby = false;
};

struct TicketConstraint {
  std::string id;
  Resource* rsc = nullptr;
  std::string ticket;
  std::string loss_policy = "stop";  // stop | demote | fence | freeze
  Role role = Role::kUnknown;
};

struct ClusterOptions {
  bool stonith_enabled = true;
  bool symmetric = true;
  std::string no_quorum_policy = "stop";
  bool stop_orphan_resources = true;
  bool stop_orphan_actions = true;
  bool start_failure_is_fatal = true;
  bool maintenance_mode = false;
  bool startup_fencing = true;
  std::string stonith_action = "reboot";
  std::string placement_strategy = "default";
  bool have_quorum = true;
  bool suicide = false;  // no quorum, policy suicide and no-quorum-panic: fence ourselves
  int default_stickiness = 0;
  std::string node_health_strategy = "none";
  int node_health_red = -1000000, node_health_yellow = 0, node_health_green = 0;
  bool stop_all_resources = false;
  bool shutdown_lock = false;
  int64_t priority_fencing_delay_ms = 0;
};

// A problem found in the input (see pengine.proto's Diagnostic).
struct Problem {
  enum class Level { kInfo, kWarning, kError } level = Level::kWarning;
  std::string code;
  std::string message;
};

struct WorkingSet {
  pugi::xml_document doc;
  std::unique_ptr<IdIndex> ids;
  int64_t now = 0;
  ClusterOptions options;
  std::map<std::string, std::string> raw_options;  // crm_config as given
  std::string dc_uuid;
  bool per_op_fail_counts = true;  // the CIB has a crm_feature_set

  std::vector<std::unique_ptr<Node>> nodes;
  std::vector<std::unique_ptr<Resource>> resources;  // every resource, parents first
  std::vector<Resource*> top_level;                  // in configuration order
  std::vector<LocationConstraint> locations;
  std::vector<Colocation> colocations;
  std::vector<OrderConstraint> order_constraints;
  std::map<std::string, Ticket> tickets;
  std::vector<TicketConstraint> ticket_constraints;
  std::map<std::string, std::string> rsc_defaults;
  pugi::xml_node op_defaults;
  pugi::xml_node rsc_defaults_xml;

  std::vector<std::unique_ptr<Action>> actions;
  // Each resource's actions (and nullptr's: node and pseudo actions), in creation order.
  std::unordered_map<const Resource*, std::vector<Action*>> actions_by_rsc;
  std::vector<std::unique_ptr<ActionOrder>> orders;
  std::vector<Problem> problems;
  // Ids of clones, bundles and what is inside them: not handled here, left alone.
  std::set<std::string, std::less<>> unsupported_ids;

  // Lookups by name; the indexes follow `nodes` and `resources` as they grow.
  Node* FindNode(std::string_view uname) const;
  Node* FindNodeById(std::string_view id) const;
  Resource* FindResource(std::string_view id) const;
  mutable std::unordered_map<std::string, Resource*> resource_index_;
  mutable std::unordered_map<std::string, Node*> node_index_;
  mutable size_t resources_indexed_ = 0, nodes_indexed_ = 0;

  void Warn(std::string code, std::string message) {
    problems.push_back({Problem::Level::kWarning, std::move(code), std::move(message)});
  }
  void Error(std::string code, std::string message) {
    problems.push_back({Problem::Level::kError, std::move(code), std::move(message)});
  }
};

}  // namespace ha::pengine
