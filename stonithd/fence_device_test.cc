// Devices, targeting, topology and the CIB reading (fence_device.h), and the agent's stdin
// (fence_agent.h), checked against Pacemaker 2.1's fenced behaviour.
#include "stonithd/fence_device.h"

#include <catch2/catch.hpp>
#include <set>

#include "stonithd/fence_agent.h"

namespace ha::stonithd {
namespace {

using Params = std::map<std::string, std::string>;
using Pairs = std::vector<std::pair<std::string, std::string>>;

FenceDevice Device(Params params, AgentCapabilities caps = {}) {
  absl::StatusOr<FenceDevice> device =
      MakeFenceDevice("dev", "fence_test", std::move(params), caps);
  REQUIRE(device.ok());
  return *device;
}

TEST_CASE("pcmk_host_map: every separator Pacemaker accepts") {
  CHECK(ParseHostMap("node1:port1;node2:port2").entries ==
        Pairs{{"node1", "port1"}, {"node2", "port2"}});
  CHECK(ParseHostMap("node1=1 node2=2\tnode3:3").entries ==
        Pairs{{"node1", "1"}, {"node2", "2"}, {"node3", "3"}});
  CHECK(ParseHostMap("  n1:a;; n2:b ; ").entries == Pairs{{"n1", "a"}, {"n2", "b"}});
  // A comma stays in the port (several plugs for one node).
  CHECK(ParseHostMap("n1:1,2;n2:3").entries == Pairs{{"n1", "1,2"}, {"n2", "3"}});
  // A backslash escapes a separator and is dropped.
  CHECK(ParseHostMap("n1:vm\\:1;n2:a\\;b").entries == Pairs{{"n1", "vm:1"}, {"n2", "a;b"}});
  HostMap bad = ParseHostMap("n1:1;garbage;:x;n2:");
  CHECK(bad.entries == Pairs{{"n1", "1"}});
  CHECK(bad.errors == std::vector<std::string>{"garbage", ":x", "n2:"});
  CHECK(ParseHostMap("Node1:p").PortFor("node1") == std::optional<std::string>("p"));
  CHECK_FALSE(ParseHostMap("").PortFor("node1").has_value());
}

TEST_CASE("target lists: pcmk_host_list and list output") {
  CHECK(ParseTargetList("n1 n2,n3;n4\nn5") ==
        std::vector<std::string>{"n1", "n2", "n3", "n4", "n5"});
  // fence agents print "port,alias"; on/off and invalid lines are skipped, names stop at a
  // character Pacemaker does not allow.
  CHECK(ParseTargetList("vm1,alias1\nvm2,on\nInvalid output\nvm3:x\nvm1\n") ==
        std::vector<std::string>{"vm1", "alias1", "vm2", "vm3"});
  CHECK(ParseTargetList("").empty());
}

TEST_CASE("pcmk_host_check: defaults and explicit values") {
  CHECK(Device({{"pcmk_host_list", "n1 n2"}}).host_check == HostCheck::kStaticList);
  CHECK(Device({{"pcmk_host_map", "n1:1"}}).host_check == HostCheck::kStaticList);
  CHECK(Device({}).host_check == HostCheck::kDynamicList);  // meta-data unknown
  AgentCapabilities status_only{.known = true, .supports_status = true};
  CHECK(Device({}, status_only).host_check == HostCheck::kStatus);
  AgentCapabilities nothing{.known = true};
  CHECK(Device({}, nothing).host_check == HostCheck::kNone);
  CHECK(Device({{"pcmk_host_check", "none"}, {"pcmk_host_list", "n1"}}).host_check ==
        HostCheck::kNone);
  CHECK_FALSE(MakeFenceDevice("d", "fence_x", {{"pcmk_host_check", "sometimes"}}).ok());

  FenceDevice list = Device({{"pcmk_host_list", "n1 N2"}, {"pcmk_host_map", "n3:p3"}});
  CHECK(CheckTarget(list, "n1") == TargetCheck::kCapable);
  CHECK(CheckTarget(list, "n2") == TargetCheck::kCapable);
  CHECK(CheckTarget(list, "n3") == TargetCheck::kCapable);
  CHECK(CheckTarget(list, "n4") == TargetCheck::kNotCapable);
  CHECK(CheckTarget(Device({{"pcmk_host_check", "none"}}), "any") == TargetCheck::kCapable);
  CHECK(CheckTarget(Device({{"pcmk_host_check", "status"}}), "n1") == TargetCheck::kNeedsStatus);

  FenceDevice dynamic = Device({{"pcmk_host_check", "dynamic-list"}, {"pcmk_host_map", "n1:vm1"}});
  CHECK(CheckTarget(dynamic, "n1") == TargetCheck::kNeedsList);
  CHECK(DeviceListsTarget(dynamic, "n1", {"vm1", "vm2"}));  // by its mapped port
  CHECK_FALSE(DeviceListsTarget(dynamic, "n1", {"n1"}));
  CHECK(DeviceListsTarget(dynamic, "vm2", {"vm1", "vm2"}));
}

TEST_CASE("device parameters: actions, timeouts, retries, delays, host argument") {
  FenceDevice d = Device({{"pcmk_off_action", "power-off"},
                          {"pcmk_off_timeout", "90s"},
                          {"pcmk_reboot_retries", "4"},
                          {"pcmk_delay_base", "2s"},
                          {"pcmk_delay_max", "10"}});
  CHECK(d.AgentAction("off") == "power-off");
  CHECK(d.AgentAction("reboot") == "reboot");
  CHECK(d.ActionTimeout("off", absl::Seconds(60)) == absl::Seconds(90));
  CHECK(d.ActionTimeout("reboot", absl::Seconds(60)) == absl::Seconds(60));
  CHECK(d.ActionTries("reboot") == 4);
  CHECK(d.ActionTries("off") == 2);
  CHECK(d.delay_base == absl::Seconds(2));
  CHECK(d.delay_max == absl::Seconds(10));
  CHECK(d.host_argument == "port");

  FenceDevice per_node = Device({{"pcmk_delay_base", "n1:5s;n2:0"}});
  CHECK(per_node.DelayBaseFor("n1") == absl::Seconds(5));
  CHECK(per_node.DelayBaseFor("n3") == absl::ZeroDuration());

  AgentCapabilities plug{.known = true, .has_plug_parameter = true, .has_port_parameter = true};
  CHECK(Device({}, plug).host_argument == "plug");
  CHECK(Device({{"pcmk_host_argument", "uuid"}}, plug).host_argument == "uuid");

  // A configured `action` is mapped as Pacemaker does.
  FenceDevice off = Device({{"action", "off"}});
  CHECK(off.params.count("action") == 0);
  CHECK(off.AgentAction("reboot") == "off");
  CHECK_FALSE(off.warnings.empty());

  CHECK_FALSE(MakeFenceDevice("d", "fence_x", {{"pcmk_off_timeout", "soon"}}).ok());
  CHECK_FALSE(MakeFenceDevice("d", "fence_x", {{"pcmk_off_retries", "-1"}}).ok());
  CHECK_FALSE(MakeFenceDevice("d", "../bin/sh", {}).ok());
  CHECK_FALSE(MakeFenceDevice("", "fence_x", {}).ok());

  AgentCapabilities no_reboot{.known = true, .supports_status = true};
  CHECK_FALSE(Device({}, no_reboot).RunsReboot());
  CHECK(Device({}).RunsReboot());
}

TEST_CASE("agent stdin: action, nodename, port, parameters minus pcmk_*") {
  FenceDevice d = Device({{"ipaddr", "10.0.0.1"},
                          {"login", "admin"},
                          {"pcmk_host_map", "n1:vm-1"},
                          {"pcmk_off_action", "power_off"},
                          {"pcmk_delay_max", "5s"}});
  absl::StatusOr<std::string> in = BuildAgentStdin(d, "off", "n1");
  REQUIRE(in.ok());
  CHECK(*in == "action=power_off\nnodename=n1\nport=vm-1\nipaddr=10.0.0.1\nlogin=admin\n");
  in = BuildAgentStdin(d, "list", "");
  REQUIRE(in.ok());
  CHECK(*in == "action=list\nipaddr=10.0.0.1\nlogin=admin\n");

  // A configured port is passed as configured (unless "dynamic"); "none" passes no port.
  in = BuildAgentStdin(Device({{"port", "fixed"}}), "reboot", "n2");
  REQUIRE(in.ok());
  CHECK(*in == "action=reboot\nnodename=n2\nport=fixed\n");
  in = BuildAgentStdin(Device({{"port", "dynamic"}}), "reboot", "n2");
  REQUIRE(in.ok());
  CHECK(*in == "action=reboot\nnodename=n2\nport=n2\n");
  in = BuildAgentStdin(Device({{"pcmk_host_argument", "none"}}), "reboot", "n2");
  REQUIRE(in.ok());
  CHECK(*in == "action=reboot\nnodename=n2\n");
  // No way to smuggle another argument in.
  CHECK_FALSE(BuildAgentStdin(Device({{"login", "x\naction=on"}}), "off", "n1").ok());
}

TEST_CASE("topology: by node, pattern and attribute; levels in index order") {
  FencingTopology topology;
  auto level = [](LevelTarget target, int index, std::vector<std::string> devices) {
    return FencingLevel{"", std::move(target), index, std::move(devices)};
  };
  LevelTarget n1{.kind = LevelTarget::kNode, .node = "n1"};
  LevelTarget pattern{.kind = LevelTarget::kPattern, .pattern = "^db[0-9]+$"};
  LevelTarget rack{.kind = LevelTarget::kAttribute, .attribute = "rack", .value = "r1"};
  REQUIRE(topology.Add(level(n1, 2, {"pdu"})).ok());
  REQUIRE(topology.Add(level(n1, 1, {"ipmi"})).ok());
  REQUIRE(topology.Add(level(pattern, 1, {"san"})).ok());
  REQUIRE(topology.Add(level(rack, 1, {"rackpdu1", "rackpdu2"})).ok());
  CHECK_FALSE(topology.Add(level(n1, 1, {"x"})).ok());   // same target and index
  CHECK_FALSE(topology.Add(level(n1, 10, {"x"})).ok());  // index 1-9
  CHECK_FALSE(topology.Add(level(n1, 3, {})).ok());      // no devices
  CHECK_FALSE(
      topology.Add(level(LevelTarget{.kind = LevelTarget::kPattern, .pattern = "("}, 1, {"x"}))
          .ok());

  NodeAttributes attrs{{"web1", {{"rack", "r1"}}}, {"n1", {{"rack", "r1"}}}};
  auto levels = topology.LevelsFor("n1", attrs);  // the node's own levels win
  REQUIRE(levels.size() == 2);
  CHECK(levels[0]->devices == std::vector<std::string>{"ipmi"});
  CHECK(levels[1]->devices == std::vector<std::string>{"pdu"});
  levels = topology.LevelsFor("db12", attrs);
  REQUIRE(levels.size() == 1);
  CHECK(levels[0]->devices == std::vector<std::string>{"san"});
  levels = topology.LevelsFor("web1", attrs);
  REQUIRE(levels.size() == 1);
  CHECK(levels[0]->devices.size() == 2);
  CHECK(topology.LevelsFor("other", attrs).empty());

  REQUIRE(topology.Remove(n1, 1).ok());
  CHECK(topology.LevelsFor("n1", attrs).size() == 1);
  CHECK(topology.Remove(n1, 1).code() == absl::StatusCode::kNotFound);
}

TEST_CASE("the fencing configuration from a CIB") {
  const char* xml = R"(<cib><configuration>
  <crm_config><cluster_property_set id="opts">
    <nvpair id="o1" name="stonith-timeout" value="90s"/>
    <nvpair id="o2" name="stonith-action" value="poweroff"/>
    <nvpair id="o3" name="priority-fencing-delay" value="15s"/>
  </cluster_property_set></crm_config>
  <nodes>
    <node id="1" uname="n1"><instance_attributes id="n1-a">
      <nvpair id="n1-r" name="rack" value="r1"/></instance_attributes></node>
    <node id="2" uname="n2"/>
  </nodes>
  <resources>
    <primitive id="ipmi-n1" class="stonith" type="fence_ipmilan">
      <instance_attributes id="ipmi-n1-ia">
        <nvpair id="a1" name="ip" value="10.0.0.1"/>
        <nvpair id="a2" name="pcmk_host_list" value="n1"/>
        <nvpair id="a3" name="pcmk_delay_max" value="10s"/>
      </instance_attributes>
      <meta_attributes id="ipmi-n1-ma"><nvpair id="m1" name="priority" value="5"/></meta_attributes>
    </primitive>
    <primitive id="pdu" class="stonith" type="fence_apc">
      <instance_attributes id="pdu-ia">
        <nvpair id="b1" name="pcmk_host_map" value="n1:1;n2:2"/>
      </instance_attributes>
    </primitive>
    <primitive id="bad" class="stonith" type="fence_x">
      <instance_attributes id="bad-ia"><nvpair id="c1" name="pcmk_host_check" value="maybe"/>
      </instance_attributes>
    </primitive>
    <primitive id="off" class="stonith" type="fence_x">
      <meta_attributes id="off-ma"><nvpair id="d1" name="target-role" value="Stopped"/>
      </meta_attributes>
    </primitive>
    <primitive id="web" class="ocf" provider="heartbeat" type="apache"/>
  </resources>
  <fencing-topology>
    <fencing-level id="l1" target="n1" index="1" devices="ipmi-n1"/>
    <fencing-level id="l2" target="n1" index="2" devices="pdu"/>
    <fencing-level id="l3" target-attribute="rack" target-value="r1" index="1" devices="pdu"/>
    <fencing-level id="l4" target-pattern="^n" index="0" devices="pdu"/>
  </fencing-topology>
</configuration></cib>)";
  pugi::xml_document doc;
  REQUIRE(doc.load_string(xml));
  absl::StatusOr<FencingConfig> config = ParseFencingConfig(doc);
  REQUIRE(config.ok());
  CHECK(config->options.timeout == absl::Seconds(90));
  CHECK(config->options.action == "off");
  CHECK(config->options.priority_delay == absl::Seconds(15));
  REQUIRE(config->devices.size() == 2);
  CHECK(config->devices[0].id == "ipmi-n1");
  CHECK(config->devices[0].agent == "fence_ipmilan");
  CHECK(config->devices[0].priority == 5);
  CHECK(config->devices[0].delay_max == absl::Seconds(10));
  CHECK(config->devices[0].host_check == HostCheck::kStaticList);
  CHECK(config->devices[1].host_map.entries.size() == 2);
  CHECK(config->warnings.size() == 3);  // bad, off, l4
  CHECK(config->node_attributes["n1"]["rack"] == "r1");
  auto levels = config->topology.LevelsFor("n1", config->node_attributes);
  REQUIRE(levels.size() == 2);
  CHECK(levels[0]->id == "l1");
  CHECK(levels[1]->id == "l2");
  CHECK_FALSE(ParseFencingConfig(pugi::xml_node()).ok());
}

TEST_CASE("priority-fencing-delay: Pacemaker's rule") {
  const std::set<std::string> two = {"n1", "n2"};
  std::map<std::string, int> priorities{{"n1", 10}, {"n2", 5}};
  const absl::Duration d = absl::Seconds(15);
  // A two-node split, seen from n2: n1 runs the more important resources, so n2 waits.
  CHECK(PriorityFencingDelay("n1", priorities, two, {"n2"}, d) == d);
  CHECK(PriorityFencingDelay("n2", priorities, two, {"n1"}, d) == absl::ZeroDuration());
  // The target is in this partition (online): no delay.
  CHECK(PriorityFencingDelay("n1", priorities, two, {"n1", "n2"}, d) == absl::ZeroDuration());
  // Equal priorities: no delay (pcmk_delay_base/max decide).
  priorities["n2"] = 10;
  CHECK(PriorityFencingDelay("n1", priorities, two, {"n2"}, d) == absl::ZeroDuration());
  // Disabled, or not a cluster node.
  CHECK(PriorityFencingDelay("n1", {{"n1", 1}}, two, {"n2"}, absl::ZeroDuration()) ==
        absl::ZeroDuration());
  CHECK(PriorityFencingDelay("remote", {{"remote", 9}}, two, {"n2"}, d) == absl::ZeroDuration());
  // Five nodes: a partition of three has the majority and never delays; one of two does, for
  // every node of the top priority; a missing priority counts 0.
  const std::set<std::string> five = {"a", "b", "c", "d", "e"};
  const std::map<std::string, int> p5 = {{"a", 3}, {"b", 3}, {"c", 1}};
  CHECK(PriorityFencingDelay("a", p5, five, {"c", "d", "e"}, d) == absl::ZeroDuration());
  CHECK(PriorityFencingDelay("a", p5, five, {"d", "e"}, d) == d);
  CHECK(PriorityFencingDelay("b", p5, five, {"d", "e"}, d) == d);
  CHECK(PriorityFencingDelay("c", p5, five, {"d", "e"}, d) == absl::ZeroDuration());
}

TEST_CASE("cluster options and node priorities from the CIB") {
  const char* xml = R"(<cib><configuration>
  <crm_config><cluster_property_set id="opts">
    <nvpair id="o1" name="stonith-enabled" value="false"/>
    <nvpair id="o2" name="stonith-action" value="poweroff"/>
    <nvpair id="o3" name="stonith-timeout" value="2min"/>
    <nvpair id="o4" name="priority-fencing-delay" value="20s"/>
  </cluster_property_set></crm_config>
  <nodes>
    <node id="1" uname="node1"/><node id="2" uname="node2"/><node id="3" uname="node3"/>
  </nodes>
  <rsc_defaults><meta_attributes id="rd"><nvpair id="rd1" name="priority" value="1"/>
  </meta_attributes></rsc_defaults>
  <resources>
    <primitive id="db" class="ocf" provider="heartbeat" type="pgsql">
      <meta_attributes id="db-m"><nvpair id="db-p" name="priority" value="10"/></meta_attributes>
    </primitive>
    <group id="web">
      <meta_attributes id="web-m"><nvpair id="web-p" name="priority" value="5"/></meta_attributes>
      <primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"/>
      <primitive id="apache" class="ocf" provider="heartbeat" type="apache">
        <meta_attributes id="ap-m"><nvpair id="ap-p" name="priority" value="0"/></meta_attributes>
      </primitive>
    </group>
    <clone id="ms">
      <meta_attributes id="ms-m"><nvpair id="ms-p" name="priority" value="7"/></meta_attributes>
      <primitive id="drbd" class="ocf" provider="linbit" type="drbd"/>
    </clone>
    <primitive id="misc" class="ocf" provider="heartbeat" type="Dummy"/>
  </resources>
</configuration>
<status>
  <node_state id="1" uname="node1" in_ccm="true" crmd="online"><lrm id="1"><lrm_resources>
    <lrm_resource id="db" class="ocf" type="pgsql">
      <lrm_rsc_op id="db_last_0" operation="start" call-id="4" rc-code="0" op-status="0"/>
      <lrm_rsc_op id="db_monitor_10000" operation="monitor" call-id="5" rc-code="0" op-status="0"/>
    </lrm_resource>
    <lrm_resource id="ip" class="ocf" type="IPaddr2">
      <lrm_rsc_op id="ip_last_0" operation="stop" call-id="9" rc-code="0" op-status="0"/>
      <lrm_rsc_op id="ip_start_0" operation="start" call-id="3" rc-code="0" op-status="0"/>
    </lrm_resource>
    <lrm_resource id="drbd:0" class="ocf" type="drbd">
      <lrm_rsc_op id="drbd_last_0" operation="promote" call-id="7" rc-code="0" op-status="0"/>
    </lrm_resource>
  </lrm_resources></lrm></node_state>
  <node_state id="2" uname="node2"><lrm id="2"><lrm_resources>
    <lrm_resource id="ip" class="ocf" type="IPaddr2">
      <lrm_rsc_op id="ip_last_0" operation="start" call-id="11" rc-code="0" op-status="0"/>
    </lrm_resource>
    <lrm_resource id="apache" class="ocf" type="apache">
      <lrm_rsc_op id="apache_last_0" operation="start" call-id="12" rc-code="0" op-status="0"/>
    </lrm_resource>
    <lrm_resource id="drbd:1" class="ocf" type="drbd">
      <lrm_rsc_op id="drbd_last_0" operation="monitor" call-id="8" rc-code="0" op-status="0"/>
    </lrm_resource>
    <lrm_resource id="misc" class="ocf" type="Dummy">
      <lrm_rsc_op id="misc_last_0" operation="start" call-id="2" rc-code="1" op-status="0"/>
    </lrm_resource>
    <lrm_resource id="db" class="ocf" type="pgsql">
      <lrm_rsc_op id="db_last_0" operation="monitor" call-id="1" rc-code="7" op-status="0"/>
    </lrm_resource>
  </lrm_resources></lrm></node_state>
  <node_state id="3" uname="node3"><lrm id="3"><lrm_resources>
    <lrm_resource id="gone" class="ocf" type="Dummy">
      <lrm_rsc_op id="gone_last_0" operation="start" call-id="2" rc-code="0" op-status="0"/>
    </lrm_resource>
  </lrm_resources></lrm></node_state>
</status></cib>)";
  pugi::xml_document doc;
  REQUIRE(doc.load_string(xml));
  absl::StatusOr<FencingConfig> config = ParseFencingConfig(doc);
  REQUIRE(config.ok());
  CHECK_FALSE(config->options.enabled);
  CHECK(config->options.action == "off");
  CHECK(config->options.timeout == absl::Minutes(2));
  CHECK(config->options.priority_delay == absl::Seconds(20));
  CHECK(config->nodes == std::set<std::string>{"node1", "node2", "node3"});
  CHECK(config->node_names.at(2) == "node2");
  // node1: db started (10) + promoted drbd instance (7 + 1); ip stopped later.
  // node2: ip (the group's 5) + apache (its own 0: nothing) + unpromoted drbd (7) + misc after a
  // failed start (rsc_defaults' 1); db's probe found it stopped.
  // node3: a resource no longer configured counts nothing.
  CHECK(config->node_priorities == std::map<std::string, int>{{"node1", 18}, {"node2", 13}});
  CHECK(NodePriorities(doc) == config->node_priorities);
}

}  // namespace
}  // namespace ha::stonithd
