#include "lrmd/agent_metadata.h"

#include <catch2/catch.hpp>

namespace ha::lrmd {
namespace {

constexpr char kDummyXml[] = R"(<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="Dummy" version="1.0">
<version>1.1</version>
<longdesc lang="de">Deutsch</longdesc>
<longdesc lang="en">
This is a dummy <![CDATA[resource]]> agent.
</longdesc>
<shortdesc lang="en">Example stateless resource agent</shortdesc>
<parameters>
<parameter name="state" unique-group="state" reloadable="1">
<longdesc lang="en">Location to store the resource state in.</longdesc>
<shortdesc lang="en">State file</shortdesc>
<content type="string" default="/run/Dummy.state" />
</parameter>
<parameter name="fake" required="1" unique="0">
<shortdesc lang="en">Fake attribute</shortdesc>
<content type="string" default="dummy" />
</parameter>
<parameter name="port" required="true" unique="1">
<content type="integer"/>
</parameter>
</parameters>
<actions>
<action name="start"        timeout="20s" />
<action name="stop"         timeout="20" />
<action name="monitor"      timeout="1m" interval="500ms" depth="10" />
<action name="monitor"      timeout="1h" interval="5min" role="Promoted" />
<action name="reload"       timeout="30sec" />
<action name="meta-data"    timeout="5s" />
<action name="validate-all" />
</actions>
</resource-agent>
)";

TEST_CASE("ParseAgentMetadata reads names, descriptions, parameters, actions", "[metadata]") {
  absl::StatusOr<AgentMetadata> md = ParseAgentMetadata(kDummyXml);
  REQUIRE(md.ok());
  CHECK(md->name == "Dummy");
  CHECK(md->version == "1.0");
  CHECK(md->ocf_version == "1.1");
  CHECK(md->shortdesc == "Example stateless resource agent");
  CHECK(md->longdesc == "This is a dummy resource agent.");
  CHECK(md->raw_xml == kDummyXml);
  REQUIRE(md->parameters.size() == 3);
  const AgentMetadata::Parameter& state = md->parameters[0];
  CHECK(state.name == "state");
  CHECK(state.type == "string");
  CHECK(state.default_value == "/run/Dummy.state");
  CHECK_FALSE(state.required);
  CHECK(state.unique);  // unique-group
  CHECK(state.shortdesc == "State file");
  CHECK(md->parameters[1].required);
  CHECK_FALSE(md->parameters[1].unique);
  CHECK(md->parameters[2].required);
  CHECK(md->parameters[2].unique);
  CHECK(md->parameters[2].type == "integer");
  CHECK(md->FindParameter("port") == &md->parameters[2]);
  CHECK(md->FindParameter("nope") == nullptr);

  REQUIRE(md->actions.size() == 7);
  CHECK(md->actions[0].name == "start");
  CHECK(md->actions[0].timeout == absl::Seconds(20));
  CHECK(md->actions[1].timeout == absl::Seconds(20));  // a bare number is seconds
  CHECK(md->actions[2].timeout == absl::Minutes(1));
  CHECK(md->actions[2].interval == absl::Milliseconds(500));
  CHECK(md->actions[2].depth == 10);
  CHECK(md->actions[3].timeout == absl::Hours(1));
  CHECK(md->actions[3].interval == absl::Minutes(5));
  CHECK(md->actions[3].role == "Promoted");
  CHECK(md->actions[4].timeout == absl::Seconds(30));
  CHECK(md->actions[6].timeout == absl::ZeroDuration());
  CHECK(md->FindAction("monitor") == &md->actions[2]);
  CHECK(md->FindAction("promote") == nullptr);
}

TEST_CASE("ParseAgentMetadata refuses malformed XML with pugixml's reason", "[metadata]") {
  absl::StatusOr<AgentMetadata> md = ParseAgentMetadata("<resource-agent name='x'><actions>");
  REQUIRE(md.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(md.status().message().find("offset") != absl::string_view::npos);
  CHECK(ParseAgentMetadata("").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseAgentMetadata("<other/>").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseAgentMetadata(R"(<resource-agent><actions><action name="start" timeout="soon"/>
      </actions></resource-agent>)")
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  // pugixml never expands user-defined entities.
  absl::StatusOr<AgentMetadata> bomb =
      ParseAgentMetadata(R"(<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>)"
                         R"(<resource-agent name="&b;"/>)");
  if (bomb.ok()) {
    CHECK(bomb->name.size() < 100);
  }
}

TEST_CASE("ParseOcfDuration follows Pacemaker's units", "[metadata]") {
  CHECK(*ParseOcfDuration("20") == absl::Seconds(20));
  CHECK(*ParseOcfDuration("20s") == absl::Seconds(20));
  CHECK(*ParseOcfDuration(" 20sec ") == absl::Seconds(20));
  CHECK(*ParseOcfDuration("1m") == absl::Minutes(1));
  CHECK(*ParseOcfDuration("2min") == absl::Minutes(2));
  CHECK(*ParseOcfDuration("500ms") == absl::Milliseconds(500));
  CHECK(*ParseOcfDuration("500msec") == absl::Milliseconds(500));
  CHECK(*ParseOcfDuration("7us") == absl::Microseconds(7));
  CHECK(*ParseOcfDuration("1h") == absl::Hours(1));
  CHECK(*ParseOcfDuration("3hr") == absl::Hours(3));
  CHECK(*ParseOcfDuration("0") == absl::ZeroDuration());
  CHECK(*ParseOcfDuration("10S") == absl::Seconds(10));
  for (const char* bad : {"", "s", "-1", "1x", "1.5s", "abc", "99999999999999999999"}) {
    INFO(bad);
    CHECK_FALSE(ParseOcfDuration(bad).ok());
  }
}

TEST_CASE("MissingRequiredParams lists required parameters not given", "[metadata]") {
  absl::StatusOr<AgentMetadata> md = ParseAgentMetadata(kDummyXml);
  REQUIRE(md.ok());
  CHECK(MissingRequiredParams(*md, {}) == std::vector<std::string>{"fake", "port"});
  CHECK(MissingRequiredParams(*md, {{"fake", "x"}, {"port", ""}}) ==
        std::vector<std::string>{"port"});
  CHECK(MissingRequiredParams(*md, {{"fake", "x"}, {"port", "80"}}).empty());
}

TEST_CASE("Synthesized metadata for LSB and systemd parses", "[metadata]") {
  for (AgentClass agent_class : {AgentClass::kLsb, AgentClass::kSystemd}) {
    std::string xml = SynthesizedMetadataXml(agent_class, "we<ird>&\"name");
    absl::StatusOr<AgentMetadata> md = ParseAgentMetadata(xml);
    REQUIRE(md.ok());
    CHECK(md->name == "we<ird>&\"name");
    CHECK(md->parameters.empty());
    for (const char* action : {"start", "stop", "monitor", "meta-data"}) {
      INFO(action);
      REQUIRE(md->FindAction(action) != nullptr);
      CHECK(md->FindAction(action)->timeout > absl::ZeroDuration());
    }
    CHECK(md->FindAction("monitor")->interval > absl::ZeroDuration());
    CHECK(md->FindAction("start")->timeout ==
          (agent_class == AgentClass::kSystemd ? absl::Seconds(100) : absl::Seconds(15)));
  }
}

TEST_CASE("ParseLsbInitInfo: the INIT INFO block of an init script", "[metadata]") {
  const std::string script =
      "#!/bin/sh\n"
      "# Provides: not-in-the-block\n"
      "### BEGIN INIT INFO\n"
      "# Provides:          web\n"
      "# Required-Start:    $local_fs $network\n"
      "# Short-Description: a web server  \n"
      "# Description:       Serves pages,\n"
      "#                    over HTTP\n"
      "#\tand HTTPS.\n"
      "# Default-Start:     2 3 4 5\n"
      "#   indented, but not after a Description: ignored\n"
      "### END INIT INFO\n"
      "# Description: after the block\n";
  LsbInitInfo info = ParseLsbInitInfo(script);
  CHECK(info == LsbInitInfo{{"Provides", "web"},
                            {"Required-Start", "$local_fs $network"},
                            {"Short-Description", "a web server"},
                            {"Description", "Serves pages, over HTTP and HTTPS."},
                            {"Default-Start", "2 3 4 5"}});
  CHECK(ParseLsbInitInfo("#!/bin/sh\n# Provides: x\n").empty());
  CHECK(ParseLsbInitInfo("").empty());
  // A block cut short by a line that is not a comment keeps what came before it.
  CHECK(ParseLsbInitInfo("### BEGIN INIT INFO\n# Provides: a\necho\n# Short-Description: b\n") ==
        LsbInitInfo{{"Provides", "a"}});
}

TEST_CASE("Synthesized LSB metadata takes its descriptions from INIT INFO", "[metadata]") {
  LsbInitInfo info{{"Provides", "web"},
                   {"Short-Description", "a <web> server"},
                   {"Description", "Serves & pages."},
                   {"X-Bad Key", "dropped"},
                   {"9lives", "dropped"}};
  std::string xml = SynthesizedMetadataXml(AgentClass::kLsb, "web", info);
  absl::StatusOr<AgentMetadata> md = ParseAgentMetadata(xml);
  REQUIRE(md.ok());
  CHECK(md->shortdesc == "a <web> server");
  CHECK(md->longdesc == "Serves & pages.");
  CHECK(xml.find("<special tag=\"LSB\">") != std::string::npos);
  CHECK(xml.find("<Provides>web</Provides>") != std::string::npos);
  CHECK(xml.find("dropped") == std::string::npos);
  // Without a block: the generic descriptions.
  md = ParseAgentMetadata(SynthesizedMetadataXml(AgentClass::kLsb, "web"));
  REQUIRE(md.ok());
  CHECK(md->shortdesc == "LSB init script for web");
}

}  // namespace
}  // namespace ha::lrmd
