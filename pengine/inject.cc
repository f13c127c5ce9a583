#include "pengine/inject.h"

#include <algorithm>
#include <map>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pengine/digest.h"

namespace ha::pengine {

namespace {

pugi::xml_node FindChild(pugi::xml_node parent,
                         const char* tag,
                         const char* attribute,
                         const std::string& value) {
  for (pugi::xml_node child : parent.children(tag))
    if (value == child.attribute(attribute).value())
      return child;
  return {};
}

pugi::xml_node Ensure(pugi::xml_node parent, const char* tag) {
  pugi::xml_node child = parent.child(tag);
  return child ? child : parent.append_child(tag);
}

void Set(pugi::xml_node node, const char* name, const std::string& value) {
  pugi::xml_attribute attribute = node.attribute(name);
  if (!attribute)
    attribute = node.append_attribute(name);
  attribute.set_value(value.c_str());
}

absl::StatusOr<pugi::xml_node> NodeState(pugi::xml_node cib, const std::string& uname) {
  pugi::xml_node nodes = cib.child("configuration").child("nodes");
  pugi::xml_node node = FindChild(nodes, "node", "uname", uname);
  if (!node)
    return absl::NotFoundError(absl::StrCat("node ", uname, " is not in the configuration"));
  std::string id = node.attribute("id").value();
  pugi::xml_node status = Ensure(cib, "status");
  pugi::xml_node state = FindChild(status, "node_state", "id", id);
  if (!state) {
    state = status.append_child("node_state");
    Set(state, "id", id);
    Set(state, "uname", uname);
  }
  return state;
}

void SetNodeState(pugi::xml_node state,
                  bool in_cluster,
                  bool controller,
                  const char* join,
                  const char* expected) {
  Set(state, "in_ccm", in_cluster ? "true" : "false");
  Set(state, "crmd", controller ? "online" : "offline");
  Set(state, "join", join);
  Set(state, "expected", expected);
}

void SetTransientAttribute(pugi::xml_node state,
                           const std::string& name,
                           const std::string& value) {
  std::string id = state.attribute("id").value();
  pugi::xml_node transient = Ensure(state, "transient_attributes");
  Set(transient, "id", id);
  pugi::xml_node set = Ensure(transient, "instance_attributes");
  Set(set, "id", "status-" + id);
  pugi::xml_node pair = FindChild(set, "nvpair", "name", name);
  if (!pair) {
    pair = set.append_child("nvpair");
    Set(pair, "id", absl::StrCat("status-", id, "-", name));
    Set(pair, "name", name);
  }
  Set(pair, "value", value);
}

absl::Status InjectOperation(pugi::xml_node cib, const std::string& spec, int64_t now) {
  // RSC_TASK_INTERVAL@NODE=RC; the resource id may itself contain underscores.
  size_t at = spec.rfind('@');
  size_t equals = spec.rfind('=');
  if (at == std::string::npos || equals == std::string::npos || equals < at)
    return absl::InvalidArgumentError(
        absl::StrCat("--op-inject '", spec, "': expected RSC_TASK_INTERVALMS@NODE=RC"));
  std::string key = spec.substr(0, at);
  std::string node = spec.substr(at + 1, equals - at - 1);
  int rc = 0;
  if (!absl::SimpleAtoi(spec.substr(equals + 1), &rc))
    return absl::InvalidArgumentError(absl::StrCat("--op-inject '", spec, "': bad rc"));
  size_t last = key.rfind('_');
  size_t before = last == std::string::npos ? std::string::npos : key.rfind('_', last - 1);
  int64_t interval = 0;
  if (before == std::string::npos || !absl::SimpleAtoi(key.substr(last + 1), &interval))
    return absl::InvalidArgumentError(
        absl::StrCat("--op-inject '", spec, "': expected RSC_TASK_INTERVALMS@NODE=RC"));
  std::string rsc = key.substr(0, before);
  std::string task = key.substr(before + 1, last - before - 1);
  pugi::xpath_variable_set vars;
  vars.set("id", rsc.c_str());
  pugi::xpath_node primitive =
      cib.select_node("configuration/resources//primitive[@id=$id]", &vars);
  if (!primitive)
    return absl::NotFoundError(absl::StrCat("--op-inject: no primitive ", rsc));
  auto state = NodeState(cib, node);
  if (!state.ok())
    return state.status();
  pugi::xml_node lrm = Ensure(*state, "lrm");
  Set(lrm, "id", state->attribute("id").value());
  pugi::xml_node resources = Ensure(lrm, "lrm_resources");
  pugi::xml_node entry = FindChild(resources, "lrm_resource", "id", rsc);
  if (!entry) {
    entry = resources.append_child("lrm_resource");
    Set(entry, "id", rsc);
    for (const char* name : {"class", "provider", "type"})
      if (primitive.node().attribute(name))
        Set(entry, name, primitive.node().attribute(name).value());
  }
  // Newer than anything recorded so far.
  int call_id = 1;
  for (pugi::xml_node op : entry.children("lrm_rsc_op"))
    call_id = std::max(call_id, op.attribute("call-id").as_int() + 1);
  int target = task == "monitor" && interval == 0 ? 7 : 0;
  bool failed = rc != target && !(task == "monitor" && interval == 0 && (rc == 0 || rc == 8));
  std::string op_id = failed         ? rsc + "_last_failure_0"
                      : interval > 0 ? absl::StrCat(rsc, "_", task, "_", interval)
                                     : rsc + "_last_0";
  pugi::xml_node op = FindChild(entry, "lrm_rsc_op", "id", op_id);
  if (!op)
    op = entry.append_child("lrm_rsc_op");
  Set(op, "id", op_id);
  Set(op, "operation_key", absl::StrCat(rsc, "_", task, "_", interval));
  Set(op, "operation", task);
  Set(op, "interval", std::to_string(interval));
  Set(op, "call-id", std::to_string(call_id));
  Set(op, "rc-code", std::to_string(rc));
  Set(op, "op-status", failed ? "4" : "0");
  Set(op, "transition-key", absl::StrCat("0:0:", target, ":inject"));
  Set(op, "last-rc-change", std::to_string(now));
  if (interval == 0) {
    // Recorded with the parameters it ran with, as the executor would.
    std::map<std::string, std::string> params;
    for (pugi::xml_node set : primitive.node().children("instance_attributes"))
      for (pugi::xml_node pair : set.children("nvpair"))
        params.emplace(pair.attribute("name").value(), pair.attribute("value").value());
    Set(op, "op-digest", ParametersDigest(params));
  }
  if (failed) {
    // As the controller would: count the failure.
    std::string suffix = absl::StrCat(rsc, "#", task, "_", interval);
    pugi::xpath_variable_set name_vars;
    std::string count_name = "fail-count-" + suffix;
    name_vars.set("n", count_name.c_str());
    pugi::xpath_node existing =
        state->select_node("transient_attributes//nvpair[@name=$n]", &name_vars);
    int count = existing ? existing.node().attribute("value").as_int() : 0;
    SetTransientAttribute(*state, count_name, std::to_string(count + 1));
    SetTransientAttribute(*state, "last-failure-" + suffix, std::to_string(now));
  }
  return absl::OkStatus();
}

absl::Status SetTicket(pugi::xml_node cib,
                       const std::string& id,
                       const char* attribute,
                       bool value) {
  pugi::xml_node tickets = Ensure(Ensure(cib, "status"), "tickets");
  pugi::xml_node ticket = FindChild(tickets, "ticket_state", "id", id);
  if (!ticket) {
    ticket = tickets.append_child("ticket_state");
    Set(ticket, "id", id);
  }
  Set(ticket, attribute, value ? "true" : "false");
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyInjections(pugi::xml_document& doc, const Injections& injections, int64_t now) {
  pugi::xml_node cib = doc.child("cib");
  if (!cib)
    return absl::InvalidArgumentError("input has no <cib> root element");
  if (injections.quorum)
    Set(cib, "have-quorum", *injections.quorum ? "1" : "0");
  for (const std::string& node : injections.node_up) {
    auto state = NodeState(cib, node);
    if (!state.ok())
      return state.status();
    SetNodeState(*state, true, true, "member", "member");
  }
  for (const std::string& node : injections.node_down) {
    auto state = NodeState(cib, node);
    if (!state.ok())
      return state.status();
    SetNodeState(*state, false, false, "down", "down");
    state->remove_child("lrm");
  }
  for (const std::string& node : injections.node_fail) {
    auto state = NodeState(cib, node);
    if (!state.ok())
      return state.status();
    SetNodeState(*state, false, false, "down", "member");
  }
  for (const std::string& ticket : injections.ticket_grant)
    SetTicket(cib, ticket, "granted", true).IgnoreError();
  for (const std::string& ticket : injections.ticket_revoke)
    SetTicket(cib, ticket, "granted", false).IgnoreError();
  for (const std::string& ticket : injections.ticket_standby)
    SetTicket(cib, ticket, "standby", true).IgnoreError();
  for (const std::string& ticket : injections.ticket_activate)
    SetTicket(cib, ticket, "standby", false).IgnoreError();
  for (const std::string& spec : injections.op_inject) {
    absl::Status status = InjectOperation(cib, spec, now);
    if (!status.ok())
      return status;
  }
  return absl::OkStatus();
}

}  // namespace ha::pengine
