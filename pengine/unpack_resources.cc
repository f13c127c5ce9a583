// The resources section: primitives (also from templates) and groups. Clones, promotable clones
// and bundles are not part of this engine yet: they are reported, and left alone.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pengine/score.h"
#include "pengine/unpack.h"

namespace ha::pengine {

namespace {

OnFail ParseOnFail(std::string_view text, bool& known) {
  known = true;
  if (text == "ignore")
    return OnFail::kIgnore;
  if (text == "block")
    return OnFail::kBlock;
  if (text == "stop")
    return OnFail::kStop;
  if (text == "restart")
    return OnFail::kRestart;
  if (text == "standby")
    return OnFail::kStandby;
  if (text == "fence")
    return OnFail::kFence;
  if (text == "demote")
    return OnFail::kDemote;
  known = false;
  return OnFail::kRestart;
}

RuleContext ResourceContext(const WorkingSet& ws, const Resource& rsc) {
  RuleContext context;
  context.now = ws.now;
  context.rsc_class = rsc.rsc_class;
  context.rsc_provider = rsc.provider;
  context.rsc_type = rsc.type;
  return context;
}

void UnpackOps(WorkingSet& ws, Resource& rsc, pugi::xml_node operations) {
  for (pugi::xml_node op_xml : operations.children("op")) {
    pugi::xml_node op = ws.ids->Resolve(op_xml);
    if (!op)
      continue;
    OpConfig config;
    config.id = op.attribute("id").value();
    config.name = op.attribute("name").value();
    config.interval_ms = ParseDurationMs(op.attribute("interval").value(), 0);
    config.role = op.attribute("role").value();
    config.enabled = !op.attribute("enabled") || IsTrue(op.attribute("enabled").value());
    config.timeout_ms = ParseDurationMs(op.attribute("timeout").value(), 20000);
    std::map<std::string, std::string> op_meta;
    RuleContext context = ResourceContext(ws, rsc);
    context.op_name = config.name;
    context.op_interval_ms = config.interval_ms;
    UnpackAttributeSets(op, "meta_attributes", context, *ws.ids, op_meta);
    std::string on_fail = op.attribute("on-fail").value();
    if (on_fail.empty() && op_meta.count("on-fail"))
      on_fail = op_meta["on-fail"];
    if (on_fail.empty() && ws.op_defaults) {
      std::map<std::string, std::string> defaults;
      UnpackAttributeSets(ws.op_defaults, "meta_attributes", context, *ws.ids, defaults);
      if (defaults.count("on-fail"))
        on_fail = defaults["on-fail"];
    }
    if (!on_fail.empty()) {
      bool known = false;
      config.on_fail = ParseOnFail(on_fail, known);
      config.on_fail_set = known;
      if (!known)
        ws.Warn("invalid-on-fail",
                absl::StrCat("op ", config.id, ": unknown on-fail '", on_fail, "', using restart"));
    }
    rsc.ops.push_back(config);
  }
}

void InterpretMeta(WorkingSet& ws, Resource& rsc) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    auto it = rsc.meta.find(name);
    if (it == rsc.meta.end())
      return std::nullopt;
    return it->second;
  };
  // Remote and guest nodes are the policy engine's second part: say so rather than treat the
  // connection as an ordinary service.
  if (get("remote-node") || get("container") ||
      (rsc.rsc_class == "ocf" && rsc.provider == "pacemaker" && rsc.type == "remote"))
    ws.Warn("unsupported-feature",
            absl::StrCat("resource ",
                         rsc.id,
                         " defines a remote or guest node, which this engine does not support "
                         "yet; it is scheduled as an ordinary resource"));
  rsc.stickiness = ws.options.default_stickiness;
  if (auto v = get("resource-stickiness"))
    rsc.stickiness = ParseScore(*v);
  if (auto v = get("priority"))
    rsc.priority = ParseScore(*v);
  if (auto v = get("migration-threshold")) {
    rsc.migration_threshold = ParseScore(*v);
    if (rsc.migration_threshold <= 0)
      rsc.migration_threshold = kInfinity;
  }
  if (auto v = get("failure-timeout"))
    rsc.failure_timeout_s = ParseDurationMs(*v, 0) / 1000;
  if (auto v = get("is-managed"))
    rsc.managed = IsTrue(*v);
  if (auto v = get("maintenance"); v && IsTrue(*v))
    rsc.managed = false;
  if (ws.options.maintenance_mode)
    rsc.managed = false;
  if (auto v = get("target-role")) {
    rsc.target_role = ParseRole(*v);
    if (rsc.target_role == Role::kUnknown && *v != "default")
      ws.Warn("invalid-target-role",
              absl::StrCat("resource ", rsc.id, ": unknown target-role '", *v, "'"));
  }
  if (auto v = get("multiple-active"))
    rsc.multiple_active = *v;
  rsc.is_stonith = rsc.rsc_class == "stonith";
  rsc.requires_ = ws.options.stonith_enabled && !rsc.is_stonith ? "fencing" : "quorum";
  if (auto v = get("requires"))
    rsc.requires_ = *v;
  if (auto v = get("allow-migrate"))
    rsc.allow_migrate = IsTrue(*v);
  if (auto v = get("critical"))
    rsc.critical = IsTrue(*v);
  if (auto v = get("ordered"))
    rsc.group_ordered = IsTrue(*v);
  if (auto v = get("collocated"))
    rsc.group_colocated = IsTrue(*v);
}

class ResourceReader {
 public:
  explicit ResourceReader(WorkingSet& ws) : ws_(ws) {
    pugi::xml_node config = ws.doc.child("cib").child("configuration");
    ws.op_defaults = config.child("op_defaults");
    ws.rsc_defaults_xml = config.child("rsc_defaults");
  }

  Resource* ReadPrimitive(pugi::xml_node xml, Resource* parent) {
    auto rsc = NewResource(xml, ResourceKind::kPrimitive, parent);
    if (!rsc)
      return nullptr;
    pugi::xml_node source = xml;
    if (xml.attribute("template")) {
      pugi::xml_node tmpl = ws_.ids->Find(xml.attribute("template").value());
      if (!tmpl || std::string_view(tmpl.name()) != "template") {
        ws_.Error("unknown-template",
                  absl::StrCat("primitive ",
                               rsc->id,
                               " names template ",
                               xml.attribute("template").value(),
                               " which does not exist"));
        return nullptr;
      }
      source = tmpl;
    }
    auto attr = [&](const char* name) {
      return std::string(xml.attribute(name) ? xml.attribute(name).value()
                                             : source.attribute(name).value());
    };
    rsc->rsc_class = attr("class");
    rsc->provider = attr("provider");
    rsc->type = attr("type");
    rsc->agent_text =
        rsc->rsc_class + (rsc->provider.empty() ? "" : ":" + rsc->provider) + ":" + rsc->type;
    RuleContext context = ResourceContext(ws_, *rsc);
    UnpackAttributeSets(xml, "meta_attributes", context, *ws_.ids, rsc->meta);
    UnpackAttributeSets(xml, "instance_attributes", context, *ws_.ids, rsc->params);
    if (source != xml) {
      UnpackAttributeSets(source, "meta_attributes", context, *ws_.ids, rsc->meta);
      UnpackAttributeSets(source, "instance_attributes", context, *ws_.ids, rsc->params);
      UnpackOps(ws_, *rsc, source.child("operations"));
    }
    InheritAndDefault(*rsc, context);
    std::map<std::string, std::string> utilization;
    UnpackAttributeSets(xml, "utilization", context, *ws_.ids, utilization);
    for (const auto& [name, value] : utilization) {
      int64_t amount = 0;
      if (absl::SimpleAtoi(value, &amount))
        rsc->utilization[name] = amount;
    }
    UnpackOps(ws_, *rsc, xml.child("operations"));
    return Commit(std::move(rsc));
  }

  Resource* ReadGroup(pugi::xml_node xml) {
    auto group = NewResource(xml, ResourceKind::kGroup, nullptr);
    if (!group)
      return nullptr;
    RuleContext context = ResourceContext(ws_, *group);
    UnpackAttributeSets(xml, "meta_attributes", context, *ws_.ids, group->meta);
    InheritAndDefault(*group, context);
    Resource* committed = Commit(std::move(group));
    for (pugi::xml_node child : xml.children("primitive")) {
      if (Resource* member = ReadPrimitive(child, committed))
        committed->children.push_back(member);
    }
    if (committed->children.empty())
      ws_.Warn("empty-group", absl::StrCat("group ", committed->id, " has no members"));
    return committed;
  }

 private:
  std::unique_ptr<Resource> NewResource(pugi::xml_node xml, ResourceKind kind, Resource* parent) {
    std::string id = xml.attribute("id").value();
    if (id.empty()) {
      ws_.Error("missing-id", absl::StrCat("a <", xml.name(), "> has no id; ignored"));
      return nullptr;
    }
    if (ws_.FindResource(id)) {
      ws_.Error("duplicate-id", absl::StrCat("resource id ", id, " is used twice; ignored"));
      return nullptr;
    }
    auto rsc = std::make_unique<Resource>();
    rsc->id = id;
    rsc->kind = kind;
    rsc->parent = parent;
    rsc->xml = xml;
    return rsc;
  }

  void InheritAndDefault(Resource& rsc, const RuleContext& context) {
    if (rsc.parent)
      for (const auto& [name, value] : rsc.parent->meta)
        rsc.meta.emplace(name, value);
    if (ws_.rsc_defaults_xml)
      UnpackAttributeSets(ws_.rsc_defaults_xml, "meta_attributes", context, *ws_.ids, rsc.meta);
    InterpretMeta(ws_, rsc);
  }

  Resource* Commit(std::unique_ptr<Resource> rsc) {
    rsc->order = static_cast<int>(ws_.resources.size());
    Resource* raw = rsc.get();
    ws_.resources.push_back(std::move(rsc));
    return raw;
  }

  WorkingSet& ws_;
};

}  // namespace

void UnpackResources(WorkingSet& ws) {
  ResourceReader reader(ws);
  pugi::xml_node resources = ws.doc.child("cib").child("configuration").child("resources");
  for (pugi::xml_node xml : resources.children()) {
    std::string_view tag = xml.name();
    Resource* rsc = nullptr;
    if (tag == "primitive") {
      rsc = reader.ReadPrimitive(xml, nullptr);
    } else if (tag == "group") {
      rsc = reader.ReadGroup(xml);
    } else if (tag == "template") {
      continue;
    } else if (xml.type() == pugi::node_element) {
      ws.Warn("unsupported-feature",
              absl::StrCat("<",
                           std::string(tag),
                           " id=\"",
                           xml.attribute("id").value(),
                           "\"> is not supported by this engine yet; it is left as it is"));
      ws.unsupported_ids.insert(xml.attribute("id").value());
      for (pugi::xpath_node inner : xml.select_nodes(".//*[@id]"))
        ws.unsupported_ids.insert(inner.node().attribute("id").value());
      continue;
    }
    if (rsc)
      ws.top_level.push_back(rsc);
  }
}

}  // namespace ha::pengine
