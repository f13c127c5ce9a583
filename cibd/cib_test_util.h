// Helpers shared by the CIB tests: the scheduler case files and a few small CIBs.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cibd/cib_document.h"

namespace ha::cib::testing {

// Pacemaker's scheduler regression inputs, shared beside the repository.
inline std::string CasesDir() {
  const char* src = std::getenv("HA_SOURCE_DIR");
  const std::string base = src != nullptr ? src : HA_CIB_SOURCE_DIR;
  return base + "/../shared/scheduler-cases/xml";
}

inline std::vector<std::string> CaseFiles() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(CasesDir(), ec)) {
    if (e.path().extension() == ".xml") {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A small CIB with two resources, a group, constraints and some status.
inline constexpr const char* kSmallCib =
    R"(<cib admin_epoch="1" epoch="5" num_updates="3" validate-with="pacemaker-3.9">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="opt-stonith" name="stonith-enabled" value="false"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="1" uname="node1"/>
      <node id="2" uname="node2"/>
    </nodes>
    <resources>
      <primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2">
        <instance_attributes id="ip-params">
          <nvpair id="ip-params-ip" name="ip" value="10.0.0.1"/>
        </instance_attributes>
        <meta_attributes id="ip-meta">
          <nvpair id="ip-meta-managed" name="is-managed" value="true"/>
        </meta_attributes>
        <operations>
          <op id="ip-monitor" name="monitor" interval="10s" timeout="20s"/>
        </operations>
      </primitive>
      <group id="web">
        <primitive id="apache" class="ocf" provider="heartbeat" type="apache"/>
      </group>
    </resources>
    <constraints>
      <rsc_location id="loc-ip" rsc="ip" node="node1" score="100"/>
      <rsc_colocation id="col" rsc="web" with-rsc="ip" score="INFINITY"/>
    </constraints>
  </configuration>
  <status>
    <node_state id="1" uname="node1" in_ccm="true" crmd="online">
      <lrm id="1">
        <lrm_resources>
          <lrm_resource id="ip" class="ocf" provider="heartbeat" type="IPaddr2">
            <lrm_rsc_op id="ip_last_0" operation="start" rc-code="0"/>
          </lrm_resource>
        </lrm_resources>
      </lrm>
    </node_state>
  </status>
</cib>)";

inline CibDocument SmallCib() {
  auto doc = CibDocument::Parse(kSmallCib);
  return std::move(doc).value();
}

}  // namespace ha::cib::testing
