// Rule evaluation, from Pacemaker Explained ("Rules") and the scheduler regression cases.
#include "pengine/rules.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "pengine/score.h"

namespace ha::pengine {
namespace {

using Attrs = std::map<std::string, std::string>;

// Parses `xml`, evaluates its first <rule> (searched anywhere) against `context`.
struct Doc {
  explicit Doc(const std::string& xml) {
    auto result = doc.load_string(xml.c_str());
    REQUIRE(result);
    ids.emplace(doc.document_element());
  }
  pugi::xml_node Rule(const char* id = nullptr) const {
    if (id != nullptr)
      return ids->Find(id);
    return doc.select_node("//rule").node();
  }
  bool Eval(const RuleContext& context, const char* id = nullptr) const {
    return EvaluateRule(Rule(id), context, *ids);
  }
  pugi::xml_document doc;
  std::optional<IdIndex> ids;
};

// One expression in a rule, evaluated against one node's attributes.
bool Expr(const std::string& attributes, const Attrs& node) {
  Doc d("<rule id='r'><expression id='e' " + attributes + "/></rule>");
  RuleContext context;
  context.node_attributes = &node;
  return d.Eval(context);
}

int64_t At(const char* iso) {
  auto t = ParseIsoDateTime(iso);
  REQUIRE(t.has_value());
  return *t;
}

bool DateExpr(const std::string& inner, const char* now) {
  Doc d("<rule id='r'>" + inner + "</rule>");
  RuleContext context;
  context.now = At(now);
  return d.Eval(context);
}

TEST_CASE("string operations compare case-insensitively", "[rules][expression]") {
  const Attrs node{{"#uname", "node1"}, {"colour", "blue"}};
  CHECK(Expr("attribute='#uname' operation='eq' value='node1'", node));
  CHECK(Expr("attribute='#uname' operation='eq' value='NODE1'", node));
  CHECK_FALSE(Expr("attribute='#uname' operation='eq' value='node2'", node));
  CHECK(Expr("attribute='#uname' operation='ne' value='node2'", node));
  CHECK_FALSE(Expr("attribute='#uname' operation='ne' value='node1'", node));
  CHECK(Expr("attribute='colour' operation='lt' value='green' type='string'", node));
  CHECK(Expr("attribute='colour' operation='lte' value='blue' type='string'", node));
  CHECK(Expr("attribute='colour' operation='gt' value='azure' type='string'", node));
  CHECK(Expr("attribute='colour' operation='gte' value='blue' type='string'", node));
  CHECK_FALSE(Expr("attribute='colour' operation='gt' value='blue' type='string'", node));
  // Operations are matched without regard to case; an unknown one is false.
  CHECK(Expr("attribute='colour' operation='EQ' value='blue'", node));
  CHECK_FALSE(Expr("attribute='colour' operation='like' value='blue'", node));
}

TEST_CASE("defined and not_defined look only at the attribute", "[rules][expression]") {
  const Attrs node{{"pingd", "0"}, {"empty", ""}};
  CHECK(Expr("attribute='pingd' operation='defined'", node));
  CHECK(Expr("attribute='empty' operation='defined'", node));
  CHECK_FALSE(Expr("attribute='other' operation='defined'", node));
  CHECK(Expr("attribute='other' operation='not_defined'", node));
  CHECK_FALSE(Expr("attribute='pingd' operation='not_defined'", node));
}

TEST_CASE("a missing attribute is unequal to everything and orders nothing",
          "[rules][expression]") {
  const Attrs node;
  CHECK(Expr("attribute='a' operation='ne' value='x'", node));
  CHECK_FALSE(Expr("attribute='a' operation='eq' value='x'", node));
  CHECK_FALSE(Expr("attribute='a' operation='lt' value='5'", node));
  CHECK_FALSE(Expr("attribute='a' operation='gte' value='5'", node));
  // No node at all behaves like a node without attributes.
  Doc d("<rule id='r'><expression id='e' attribute='a' operation='not_defined'/></rule>");
  CHECK(d.Eval(RuleContext{}));
}

TEST_CASE("integer type truncates and compares as 64-bit integers", "[rules][expression]") {
  // rule-dbl-as-integer-match: 3.4 eq 3.6 as integers.
  CHECK(Expr("attribute='v' operation='eq' type='integer' value='3.6'", {{"v", "3.4"}}));
  // rule-int-as-integer-no-match.
  CHECK_FALSE(Expr("attribute='v' operation='eq' type='integer' value='4'", {{"v", "3"}}));
  CHECK(Expr("attribute='v' operation='gt' type='integer' value='9'", {{"v", "10"}}));
  CHECK(Expr("attribute='v' operation='lt' type='integer' value='-1'", {{"v", "-2"}}));
  CHECK(Expr("attribute='v' operation='gt' type='integer' value='9007199254740992'",
             {{"v", "9007199254740993"}}));
  // rule-int-parse-fail-default-str-match: "as2" gt "as10" as strings.
  CHECK(Expr("attribute='v' operation='gt' type='integer' value='as10'", {{"v", "as2"}}));
}

TEST_CASE("number type compares as doubles", "[rules][expression]") {
  CHECK_FALSE(Expr("attribute='v' operation='eq' type='number' value='3.6'", {{"v", "3.4"}}));
  CHECK(Expr("attribute='v' operation='eq' type='number' value='3'", {{"v", "3"}}));
  CHECK(Expr("attribute='v' operation='eq' type='number' value='3.0'", {{"v", "3"}}));
  CHECK_FALSE(Expr("attribute='v' operation='eq' type='number' value='3.6'", {{"v", "3"}}));
  CHECK(Expr("attribute='v' operation='lte' type='number' value='0'", {{"v", "-0.5"}}));
  // rule-dbl-parse-fail-default-str-match / -no-match.
  CHECK(Expr("attribute='v' operation='gt' type='number' value='as10.0'", {{"v", "as2.0"}}));
  CHECK_FALSE(Expr("attribute='v' operation='gt' type='number' value='as2.0'", {{"v", "as10.0"}}));
}

TEST_CASE("untyped ordering compares numerically when both sides parse", "[rules][expression]") {
  // rule-dbl-as-auto-number-match: 10.4 > 3.4 (as strings it would be false).
  CHECK(Expr("attribute='v' operation='gt' value='3.4'", {{"v", "10.4"}}));
  CHECK(Expr("attribute='v' operation='gt' value='9'", {{"v", "10"}}));
  CHECK(Expr("attribute='v' operation='lt' value='1'", {{"v", "0.5"}}));
  // Falls back to strings when a side is not numeric.
  CHECK(Expr("attribute='v' operation='lt' value='b'", {{"v", "a"}}));
  // eq and ne stay string comparisons: "3.0" is not "3".
  CHECK_FALSE(Expr("attribute='v' operation='eq' value='3'", {{"v", "3.0"}}));
}

TEST_CASE("version type compares dotted components numerically", "[rules][expression]") {
  CHECK(Expr("attribute='v' operation='gt' type='version' value='1.9'", {{"v", "1.10"}}));
  CHECK(Expr("attribute='v' operation='eq' type='version' value='1.2.0'", {{"v", "1.2"}}));
  CHECK(Expr("attribute='v' operation='lt' type='version' value='2.0.1'", {{"v", "2.0"}}));
  CHECK(Expr("attribute='v' operation='gte' type='version' value='3.2.1'", {{"v", "3.2.1"}}));
}

TEST_CASE("value-source reads the resource's parameters or meta-attributes", "[rules]") {
  const Attrs node{{"site", "east"}};
  const Attrs params{{"wanted_site", "east"}};
  const Attrs meta{{"wanted_site", "west"}};
  Doc d(R"(<x>
    <rule id='p'><expression id='e1' attribute='site' operation='eq' value='wanted_site'
      value-source='param'/></rule>
    <rule id='m'><expression id='e2' attribute='site' operation='eq' value='wanted_site'
      value-source='meta'/></rule>
    <rule id='l'><expression id='e3' attribute='site' operation='eq' value='wanted_site'/></rule>
  </x>)");
  RuleContext context;
  context.node_attributes = &node;
  CHECK_FALSE(d.Eval(context, "p"));  // no parameters known
  context.rsc_params = &params;
  context.rsc_meta = &meta;
  CHECK(d.Eval(context, "p"));
  CHECK_FALSE(d.Eval(context, "m"));
  CHECK_FALSE(d.Eval(context, "l"));
}

TEST_CASE("%N is replaced by rsc-pattern submatches", "[rules]") {
  const Attrs node{{"#uname", "node2"}, {"role-db", "yes"}};
  Doc d(R"(<x>
    <rule id='v'><expression id='e1' attribute='#uname' operation='eq' value='node%1'/></rule>
    <rule id='a'><expression id='e2' attribute='role-%2' operation='eq' value='yes'/></rule>
    <rule id='s' score-attribute='role-%2'><expression id='e3' attribute='#uname'
      operation='defined'/></rule>
  </x>)");
  RuleContext context;
  context.node_attributes = &node;
  context.pattern_submatches = {"ip-2-db", "2", "db"};
  CHECK(d.Eval(context, "v"));
  CHECK(d.Eval(context, "a"));
  context.pattern_submatches = {"ip-3-db", "3", "db"};
  CHECK_FALSE(d.Eval(context, "v"));
  const Attrs scored{{"role-db", "250"}};
  context.node_attributes = &scored;
  CHECK(RuleScore(d.Rule("s"), context, *d.ids) == 250);
}

TEST_CASE("boolean-op combines conditions; nested rules", "[rules]") {
  const Attrs node{{"a", "1"}, {"b", "2"}};
  Doc d(R"(<x>
    <rule id='and'><expression id='e1' attribute='a' operation='eq' value='1'/>
      <expression id='e2' attribute='b' operation='eq' value='3'/></rule>
    <rule id='or' boolean-op='or'><expression id='e3' attribute='a' operation='eq' value='1'/>
      <expression id='e4' attribute='b' operation='eq' value='3'/></rule>
    <rule id='nested' boolean-op='and'>
      <expression id='e5' attribute='a' operation='defined'/>
      <rule id='inner' boolean-op='or'>
        <expression id='e6' attribute='b' operation='eq' value='9'/>
        <rule id='inner2'><expression id='e7' attribute='b' operation='gt' value='1'/></rule>
      </rule>
    </rule>
    <rule id='empty-and'/>
    <rule id='empty-or' boolean-op='or'/>
    <rule id='unknown'><bogus id='z'/></rule>
  </x>)");
  RuleContext context;
  context.node_attributes = &node;
  CHECK_FALSE(d.Eval(context, "and"));
  CHECK(d.Eval(context, "or"));
  CHECK(d.Eval(context, "nested"));
  CHECK(d.Eval(context, "empty-and"));
  CHECK_FALSE(d.Eval(context, "empty-or"));
  CHECK_FALSE(d.Eval(context, "unknown"));
}

TEST_CASE("id-ref on rules, and reference cycles terminate", "[rules]") {
  const Attrs node{{"a", "1"}};
  Doc d(R"(<x>
    <rule id='base'><expression id='e1' attribute='a' operation='eq' value='1'/></rule>
    <rule id-ref='base'/>
    <rule id='dangling-holder'><rule id-ref='nope'/></rule>
    <rule id='loop'><rule id-ref='loop'/></rule>
    <nvpair id='not-a-rule' name='n' value='v'/>
    <rule id='wrong-kind'><rule id-ref='not-a-rule'/></rule>
  </x>)");
  RuleContext context;
  context.node_attributes = &node;
  const pugi::xml_node ref = d.doc.select_node("//rule[@id-ref='base']").node();
  CHECK(EvaluateRule(ref, context, *d.ids));
  CHECK_FALSE(d.Eval(context, "dangling-holder"));
  CHECK_FALSE(d.Eval(context, "loop"));
  CHECK_FALSE(d.Eval(context, "wrong-kind"));
}

TEST_CASE("role on a rule", "[rules]") {
  Doc d(R"(<x>
    <rule id='promoted' role='Promoted'><expression id='e1' attribute='#uname' operation='defined'/></rule>
    <rule id='master' role='Master'><expression id='e2' attribute='#uname' operation='defined'/></rule>
    <rule id='started' role='Started'><expression id='e3' attribute='#uname' operation='defined'/></rule>
    <rule id='slave' role='Slave'><expression id='e4' attribute='#uname' operation='defined'/></rule>
    <rule id='role-expr'><expression id='e5' attribute='#role' operation='eq' value='Master'/></rule>
  </x>)");
  const Attrs node{{"#uname", "n1"}};
  RuleContext context;
  context.node_attributes = &node;
  // No role known: nothing is ruled out.
  CHECK(d.Eval(context, "promoted"));
  context.role = "Promoted";
  CHECK(d.Eval(context, "promoted"));
  CHECK(d.Eval(context, "master"));
  CHECK(d.Eval(context, "started"));
  CHECK(d.Eval(context, "slave"));
  CHECK(d.Eval(context, "role-expr"));
  context.role = "Slave";
  CHECK_FALSE(d.Eval(context, "promoted"));
  CHECK_FALSE(d.Eval(context, "master"));
  CHECK(d.Eval(context, "started"));
  CHECK(d.Eval(context, "slave"));
  CHECK_FALSE(d.Eval(context, "role-expr"));
  context.role = "Started";
  CHECK_FALSE(d.Eval(context, "master"));
}

TEST_CASE("rule scores", "[rules]") {
  Doc d(R"(<x>
    <rule id='inf' score='INFINITY'/><rule id='neg' score='-INFINITY'/><rule id='num' score='42'/>
    <rule id='attr' score-attribute='weight'/><rule id='none'/>
    <rule id='ref' id-ref='num'/>
  </x>)");
  const Attrs node{{"weight", "17"}};
  RuleContext context;
  CHECK(RuleScore(d.Rule("inf"), context, *d.ids) == kInfinity);
  CHECK(RuleScore(d.Rule("neg"), context, *d.ids) == -kInfinity);
  CHECK(RuleScore(d.Rule("num"), context, *d.ids) == 42);
  CHECK(RuleScore(d.Rule("none"), context, *d.ids) == 0);
  CHECK_FALSE(RuleScore(d.Rule("attr"), context, *d.ids).has_value());
  context.node_attributes = &node;
  CHECK(RuleScore(d.Rule("attr"), context, *d.ids) == 17);
  const pugi::xml_node ref = d.doc.select_node("//rule[@id-ref='num']").node();
  CHECK(RuleScore(ref, context, *d.ids) == 42);
}

TEST_CASE("ISO 8601 date/time parsing", "[rules][date]") {
  CHECK(ParseIsoDateTime("1970-01-01") == 0);
  CHECK(ParseIsoDateTime("1970-01-01T00:00:01Z") == 1);
  CHECK(ParseIsoDateTime("2005-001") == 1104537600);  // ordinal
  CHECK(ParseIsoDateTime("2005001") == 1104537600);
  CHECK(ParseIsoDateTime("2005-01-01") == 1104537600);
  CHECK(ParseIsoDateTime("20050101") == 1104537600);
  CHECK(ParseIsoDateTime("2004-W53-6") == 1104537600);  // 2005-01-01 is a Saturday of 2004-W53
  CHECK(ParseIsoDateTime("2005-W01-1") == 1104710400);  // Monday 2005-01-03
  CHECK(ParseIsoDateTime("2005-W01") == 1104710400);
  CHECK(ParseIsoDateTime("2019-06-01 12:00:00") == 1559390400);
  CHECK(ParseIsoDateTime("2019-06-01T12:00:00") == 1559390400);
  CHECK(ParseIsoDateTime("2019-06-01T12:00") == 1559390400);
  CHECK(ParseIsoDateTime("2019-06-01T120000") == 1559390400);
  CHECK(ParseIsoDateTime("2019-6-1 12:00:00") == 1559390400);
  CHECK(ParseIsoDateTime("2019-06-01T12:00:00.250Z") == 1559390400);
  CHECK(ParseIsoDateTime("2019-06-01T13:00:00+01:00") == 1559390400);
  CHECK(ParseIsoDateTime("2019-06-01T13:00:00+0100") == 1559390400);
  CHECK(ParseIsoDateTime("2019-06-01T13:00:00+01") == 1559390400);
  CHECK(ParseIsoDateTime("2019-06-01T07:30:00-04:30") == 1559390400);
  CHECK(ParseIsoDateTime("2019-09-20 15:10:52 +00:00") == 1568992252);
  CHECK(ParseIsoDateTime("2019-05-31T24:00:00") == ParseIsoDateTime("2019-06-01"));
  CHECK(ParseIsoDateTime("2020-02-29") == 1582934400);
  for (const char* bad : {"",
                          "garbage",
                          "2019-02-29",
                          "2019-13-01",
                          "2019-00-10",
                          "2005-366",
                          "2005-000",
                          "2019-06-01T25:00",
                          "2019-06-01T12:60",
                          "2019-06-01 12:00:00 junk",
                          "2019-06-01T",
                          "2005-W54-1",
                          "2005-W01-8",
                          "2019-06-01T12:00+24:00",
                          "05-06-01"}) {
    INFO(bad);
    CHECK_FALSE(ParseIsoDateTime(bad).has_value());
  }
}

TEST_CASE("date_expression gt, lt and in_range", "[rules][date]") {
  const std::string gt = "<date_expression id='d' operation='gt' start='2019-06-01 12:00:00'/>";
  CHECK(DateExpr(gt, "2019-06-01T12:00:01Z"));
  CHECK_FALSE(DateExpr(gt, "2019-06-01T12:00:00Z"));  // strictly after
  const std::string lt = "<date_expression id='d' operation='lt' end='2019-06-01 12:00:00'/>";
  CHECK(DateExpr(lt, "2019-06-01T11:59:59Z"));
  CHECK_FALSE(DateExpr(lt, "2019-06-01T12:00:00Z"));  // strictly before
  CHECK_FALSE(DateExpr("<date_expression id='d' operation='gt'/>", "2019-06-01"));
  CHECK_FALSE(DateExpr("<date_expression id='d' operation='lt'/>", "2019-06-01"));

  const std::string range =
      "<date_expression id='d' operation='in_range' start='2019-06-01' end='2019-06-30'/>";
  CHECK(DateExpr(range, "2019-06-01T00:00:00Z"));  // both ends inclusive
  CHECK(DateExpr(range, "2019-06-30T00:00:00Z"));
  CHECK_FALSE(DateExpr(range, "2019-06-30T00:00:01Z"));
  CHECK_FALSE(DateExpr(range, "2019-05-31T23:59:59Z"));
  // Only one end: unbounded on the other side (date-1.xml uses end alone).
  CHECK(DateExpr("<date_expression id='d' operation='in_range' end='2005-001'/>", "1999-01-01"));
  CHECK(DateExpr("<date_expression id='d' start='2005-001'/>", "2030-01-01"));  // default op
  CHECK_FALSE(DateExpr("<date_expression id='d' operation='in_range'/>", "2019-06-01"));
  // A malformed date counts as absent (Pacemaker 2.1).
  CHECK_FALSE(DateExpr("<date_expression id='d' operation='in_range' start='x'/>", "2019-06-01"));
  CHECK(DateExpr("<date_expression id='d' operation='in_range' start='x' end='2020-01-01'/>",
                 "2019-06-01"));
  CHECK_FALSE(DateExpr("<date_expression id='d' operation='gt' start='x'/>", "2019-06-01"));
  CHECK_FALSE(
      DateExpr("<date_expression id='d' operation='eq' start='2019-06-01'/>", "2019-06-01"));
}

TEST_CASE("in_range with a duration", "[rules][date]") {
  auto with = [](const std::string& duration, const char* now) {
    return DateExpr(
        "<date_expression id='d' operation='in_range' start='2019-01-31T10:00:00Z'>"
        "<duration id='du' " +
            duration + "/></date_expression>",
        now);
  };
  CHECK(with("hours='2'", "2019-01-31T12:00:00Z"));
  CHECK_FALSE(with("hours='2'", "2019-01-31T12:00:01Z"));
  CHECK(with("minutes='90' seconds='30'", "2019-01-31T11:30:30Z"));
  CHECK_FALSE(with("minutes='90' seconds='30'", "2019-01-31T11:30:31Z"));
  CHECK(with("days='1'", "2019-02-01T10:00:00Z"));
  CHECK(with("weeks='1'", "2019-02-07T10:00:00Z"));
  CHECK_FALSE(with("weeks='1'", "2019-02-07T10:00:01Z"));
  // Calendar months, the day clamped to the month's end.
  CHECK(with("months='1'", "2019-02-28T10:00:00Z"));
  CHECK_FALSE(with("months='1'", "2019-02-28T10:00:01Z"));
  CHECK(with("years='1'", "2020-01-31T10:00:00Z"));
  CHECK_FALSE(with("years='1'", "2020-01-31T10:00:01Z"));
  // An explicit end wins over the duration.
  CHECK_FALSE(
      DateExpr("<date_expression id='d' operation='in_range' start='2019-01-01' "
               "end='2019-01-02'><duration id='du' years='1'/></date_expression>",
               "2019-06-01"));
}

TEST_CASE("date_spec fields and ranges", "[rules][date]") {
  auto spec = [](const std::string& fields, const char* now) {
    return DateExpr("<date_expression id='d' operation='date_spec'><date_spec id='s' " + fields +
                        "/></date_expression>",
                    now);
  };
  // 2019-06-05 is a Wednesday, day 156 of the year, ISO week 23.
  const char* now = "2019-06-05T14:30:15Z";
  CHECK(spec("hours='9-16' weekdays='1-5'", now));
  CHECK_FALSE(spec("hours='9-13' weekdays='1-5'", now));
  CHECK(spec("hours='14'", now));  // the whole hour matches
  CHECK(spec("hours='14' minutes='30' seconds='15'", now));
  CHECK_FALSE(spec("seconds='16-59'", now));
  CHECK(spec("weekdays='3'", now));
  CHECK_FALSE(spec("weekdays='6-7'", now));
  CHECK(spec("monthdays='5'", now));
  CHECK(spec("monthdays='1-10' months='6'", now));
  CHECK_FALSE(spec("months='7-12'", now));
  CHECK(spec("yeardays='156'", now));
  CHECK(spec("weeks='23'", now));
  CHECK(spec("years='2019'", now));
  CHECK(spec("years='2018-2020'", now));
  CHECK(spec("years='2019-'", now));
  CHECK_FALSE(spec("years='2020-'", now));
  CHECK(spec("years='-2019'", now));
  CHECK(spec("moon='4'", now));  // ignored
  CHECK(spec("", now));
  // Malformed fields, lists included, are ignored (Pacemaker 2.1); an inverted range matches
  // nothing.
  CHECK(spec("hours='nine'", now));
  CHECK(spec("weekdays='1,2'", now));
  CHECK_FALSE(spec("hours='nine' weekdays='1-2'", now));
  CHECK_FALSE(spec("hours='20-10'", now));
  // 2021-01-01 (a Friday) belongs to ISO week 53 of weekyear 2020.
  CHECK(spec("weekyears='2020' weeks='53' years='2021'", "2021-01-01T00:00:00Z"));
  CHECK_FALSE(spec("weekyears='2021'", "2021-01-01T00:00:00Z"));
  // No date_spec child: false.
  CHECK_FALSE(DateExpr("<date_expression id='d' operation='date_spec'/>", now));
}

TEST_CASE("interval parsing", "[rules][op]") {
  CHECK(ParseIntervalMs("0") == 0);
  CHECK(ParseIntervalMs("10") == 10000);
  CHECK(ParseIntervalMs("10s") == 10000);
  CHECK(ParseIntervalMs("10 sec") == 10000);
  CHECK(ParseIntervalMs(" 1min ") == 60000);
  CHECK(ParseIntervalMs("2m") == 120000);
  CHECK(ParseIntervalMs("1h") == 3600000);
  CHECK(ParseIntervalMs("2HR") == 7200000);
  CHECK(ParseIntervalMs("500ms") == 500);
  CHECK(ParseIntervalMs("500msec") == 500);
  CHECK(ParseIntervalMs("1500us") == 1);
  CHECK(ParseIntervalMs("2000usec") == 2);
  CHECK(ParseIntervalMs("PT10S") == 10000);
  CHECK(ParseIntervalMs("PT1H30M") == 5400000);
  CHECK(ParseIntervalMs("P1DT1S") == 86401000);
  CHECK(ParseIntervalMs("P1W") == 604800000);
  CHECK(ParseIntervalMs("P1M") == 30 * 86400000LL);  // a "month" is 30 days here
  for (const char* bad : {"", "s", "10 days", "-5", "1.5s", "P", "PT", "PT10", "P1H", "PT1D"}) {
    INFO(bad);
    CHECK_FALSE(ParseIntervalMs(bad).has_value());
  }
}

TEST_CASE("rsc_expression and op_expression", "[rules][op]") {
  Doc d(R"(<x>
    <rule id='ocf'><rsc_expression id='r1' class='ocf' provider='heartbeat' type='IPaddr2'/></rule>
    <rule id='class'><rsc_expression id='r2' class='ocf'/></rule>
    <rule id='stonith'><rsc_expression id='r3' class='stonith'/></rule>
    <rule id='monitor'><op_expression id='o1' name='monitor'/></rule>
    <rule id='monitor10'><op_expression id='o2' name='monitor' interval='10s'/></rule>
    <rule id='start0'><op_expression id='o3' name='start' interval='0'/></rule>
  </x>)");
  RuleContext context;
  // Outside rsc/op defaults these are false.
  CHECK_FALSE(d.Eval(context, "ocf"));
  CHECK_FALSE(d.Eval(context, "monitor"));
  context.rsc_class = "ocf";
  context.rsc_provider = "heartbeat";
  context.rsc_type = "IPaddr2";
  CHECK(d.Eval(context, "ocf"));
  CHECK(d.Eval(context, "class"));
  CHECK_FALSE(d.Eval(context, "stonith"));
  context.rsc_type = "Dummy";
  CHECK_FALSE(d.Eval(context, "ocf"));
  context.op_name = "monitor";
  context.op_interval_ms = 10000;
  CHECK(d.Eval(context, "monitor"));
  CHECK(d.Eval(context, "monitor10"));
  context.op_interval_ms = 20000;
  CHECK(d.Eval(context, "monitor"));
  CHECK_FALSE(d.Eval(context, "monitor10"));
  context.op_name = "start";
  context.op_interval_ms = 0;
  CHECK(d.Eval(context, "start0"));
  CHECK_FALSE(d.Eval(context, "monitor"));
}

TEST_CASE("EvaluateRules: no rule passes, otherwise any one", "[rules]") {
  Doc d(R"(<x>
    <set id='none'/>
    <set id='one-of-two'>
      <rule id='r1'><expression id='e1' attribute='a' operation='eq' value='no'/></rule>
      <rule id='r2'><expression id='e2' attribute='a' operation='eq' value='yes'/></rule>
    </set>
    <set id='all-fail'>
      <rule id='r3'><expression id='e3' attribute='a' operation='eq' value='no'/></rule>
    </set>
  </x>)");
  const Attrs node{{"a", "yes"}};
  RuleContext context;
  context.node_attributes = &node;
  CHECK(EvaluateRules(d.ids->Find("none"), context, *d.ids));
  CHECK(EvaluateRules(d.ids->Find("one-of-two"), context, *d.ids));
  CHECK_FALSE(EvaluateRules(d.ids->Find("all-fail"), context, *d.ids));
}

TEST_CASE("attribute sets: score order, rules, first_id, overwrite", "[rules][sets]") {
  Doc d(R"(<primitive id='p'>
    <meta_attributes id='low' score='1'>
      <nvpair id='l1' name='a' value='low'/><nvpair id='l2' name='only-low' value='1'/>
    </meta_attributes>
    <meta_attributes id='high' score='10'>
      <nvpair id='h1' name='a' value='high'/><nvpair id='h2' name='b' value='high'/>
    </meta_attributes>
    <meta_attributes id='tie-first'><nvpair id='t1' name='c' value='first'/></meta_attributes>
    <meta_attributes id='tie-second'><nvpair id='t2' name='c' value='second'/></meta_attributes>
    <meta_attributes id='ruled' score='INFINITY'>
      <rule id='r'><expression id='e' attribute='#uname' operation='eq' value='n2'/></rule>
      <nvpair id='r1' name='a' value='ruled'/>
    </meta_attributes>
    <instance_attributes id='other'><nvpair id='o1' name='a' value='other-tag'/></instance_attributes>
  </primitive>)");
  const pugi::xml_node primitive = d.doc.document_element();
  const Attrs n1{{"#uname", "n1"}}, n2{{"#uname", "n2"}};
  RuleContext context;
  context.node_attributes = &n1;

  Attrs out;
  UnpackAttributeSets(primitive, "meta_attributes", context, *d.ids, out);
  // Equal scores: the later set wins (Pacemaker 2.1.5, checked with crm_simulate).
  CHECK(out == Attrs{{"a", "high"}, {"b", "high"}, {"only-low", "1"}, {"c", "second"}});

  context.node_attributes = &n2;
  out.clear();
  UnpackAttributeSets(primitive, "meta_attributes", context, *d.ids, out);
  CHECK(out.at("a") == "ruled");

  // first_id puts a set before all others, whatever its score.
  out.clear();
  UnpackAttributeSets(primitive, "meta_attributes", context, *d.ids, out, "low");
  CHECK(out.at("a") == "low");
  out.clear();
  UnpackAttributeSets(primitive, "meta_attributes", context, *d.ids, out, "tie-first");
  CHECK(out.at("c") == "first");

  // Values already present stay unless overwrite; with it the same set still wins.
  out = {{"a", "given"}, {"z", "kept"}};
  UnpackAttributeSets(primitive, "meta_attributes", context, *d.ids, out);
  CHECK(out.at("a") == "given");
  UnpackAttributeSets(primitive, "meta_attributes", context, *d.ids, out, "", true);
  CHECK(out.at("a") == "ruled");
  CHECK(out.at("b") == "high");
  CHECK(out.at("c") == "second");
  CHECK(out.at("z") == "kept");
}

TEST_CASE("attribute sets: id-ref, missing values, #default", "[rules][sets]") {
  Doc d(R"(<configuration>
    <rsc_defaults>
      <meta_attributes id='shared' score='5'>
        <nvpair id='shared-a' name='a' value='shared'/>
      </meta_attributes>
    </rsc_defaults>
    <primitive id='p'>
      <meta_attributes id='own' score='1'>
        <nvpair id='own-a' name='a' value='own'/>
        <nvpair id='ref-pair' id-ref='shared-a'/>
        <nvpair id='renamed' name='b' id-ref='shared-a'/>
        <nvpair id='novalue' name='c'/>
        <nvpair id='noname' value='x'/>
      </meta_attributes>
      <meta_attributes id-ref='shared'/>
      <meta_attributes id-ref='missing'/>
    </primitive>
    <primitive id='q'>
      <meta_attributes id='q1' score='3'><nvpair id='q1a' name='a' value='q1'/></meta_attributes>
      <meta_attributes id='q2' score='2'><nvpair id='q2a' name='a' value='#default'/></meta_attributes>
      <meta_attributes id='q3' score='1'><nvpair id='q3a' name='a' value='q3'/></meta_attributes>
    </primitive>
  </configuration>)");
  RuleContext context;
  Attrs out;
  UnpackAttributeSets(d.ids->Find("p"), "meta_attributes", context, *d.ids, out);
  // The referenced set (score 5) comes first; the nvpair reference supplies name and value.
  CHECK(out == Attrs{{"a", "shared"}, {"b", "shared"}});

  // "#default" drops the earlier value; a later set may set it again.
  out.clear();
  UnpackAttributeSets(d.ids->Find("q"), "meta_attributes", context, *d.ids, out);
  CHECK(out.at("a") == "q3");
}

TEST_CASE("every rule in the scheduler cases evaluates", "[rules][cases]") {
  const char* source = std::getenv("HA_SOURCE_DIR");
  const std::filesystem::path dir =
      std::filesystem::path(source != nullptr ? source : ".") / "../shared/scheduler-cases/xml";
  if (!std::filesystem::is_directory(dir)) {
    WARN("skipped: no scheduler cases at " << dir);
    return;
  }
  const Attrs node{{"#uname", "node1"}, {"#id", "1"}, {"#kind", "cluster"}, {"#is_dc", "true"}};
  const Attrs params{{"ip", "10.0.0.1"}};
  RuleContext context;
  context.node_attributes = &node;
  context.now = 1568992252;
  context.role = "Promoted";
  context.rsc_class = "ocf";
  context.rsc_provider = "heartbeat";
  context.rsc_type = "Dummy";
  context.op_name = "monitor";
  context.op_interval_ms = 10000;
  context.rsc_params = &params;
  context.rsc_meta = &params;
  context.pattern_submatches = {"rsc1", "1"};
  int files = 0, rules = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".xml")
      continue;
    pugi::xml_document doc;
    if (!doc.load_file(entry.path().c_str()))
      continue;
    ++files;
    const IdIndex ids(doc.document_element());
    for (const pugi::xpath_node& hit : doc.select_nodes("//rule")) {
      EvaluateRule(hit.node(), context, ids);
      (void)RuleScore(hit.node(), context, ids);
      ++rules;
    }
    for (const char* tag :
         {"meta_attributes", "instance_attributes", "utilization", "cluster_property_set"}) {
      for (const pugi::xpath_node& hit :
           doc.select_nodes(("//*[" + std::string(tag) + "]").c_str())) {
        Attrs out;
        UnpackAttributeSets(hit.node(), tag, context, ids, out);
      }
    }
  }
  INFO(files << " files, " << rules << " rules");
  CHECK(files > 0);
  CHECK(rules > 0);
}

// The three scheduler cases whose expected outcome depends only on the rules: a -INFINITY ban
// of "dummy" from node1 applies exactly when the case name says "match".
TEST_CASE("rule-* cases: ban applies as the case name says", "[rules][cases]") {
  const char* source = std::getenv("HA_SOURCE_DIR");
  const std::filesystem::path dir =
      std::filesystem::path(source != nullptr ? source : ".") / "../shared/scheduler-cases/xml";
  if (!std::filesystem::is_directory(dir)) {
    WARN("skipped: no scheduler cases at " << dir);
    return;
  }
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().stem().string();
    if (name.rfind("rule-", 0) != 0)
      continue;
    pugi::xml_document doc;
    REQUIRE(doc.load_file(entry.path().c_str()));
    const IdIndex ids(doc.document_element());
    Attrs node;
    UnpackAttributeSets(doc.select_node("//node[@uname='node1']").node(),
                        "instance_attributes",
                        RuleContext{},
                        ids,
                        node);
    node["#uname"] = "node1";
    RuleContext context;
    context.node_attributes = &node;
    const bool expected = name.find("no-match") == std::string::npos;
    INFO(name);
    CHECK(EvaluateRule(doc.select_node("//rsc_location/rule").node(), context, ids) == expected);
    ++checked;
  }
  CHECK(checked >= 9);
}

}  // namespace
}  // namespace ha::pengine
