// Pacemaker's rules (Pacemaker Explained, "Rules"): the boolean expressions that make location
// constraints, attribute sets (instance/meta/utilization/cluster-property) and op defaults
// depend on node attributes, dates, the resource agent or the operation.
//
// Pure functions over the CIB's XML (pugixml); nothing here reads the clock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pugixml.hpp"

namespace ha::pengine {

// Every element with an id in a document, so that `id-ref` attributes (on rule, *_attributes,
// nvpair, op, ...) can be resolved. Build once per input.
class IdIndex {
 public:
  explicit IdIndex(const pugi::xml_node& root);
  // The element with this id, or an empty node.
  pugi::xml_node Find(std::string_view id) const;
  // `node` itself, or the element its `id-ref` names (empty node when the reference dangles).
  pugi::xml_node Resolve(const pugi::xml_node& node) const;

 private:
  std::map<std::string, pugi::xml_node, std::less<>> by_id_;
};

// What a rule is evaluated against. Absent parts make the expressions that need them false
// (as Pacemaker does when e.g. an op_expression is used outside op defaults), except that a null
// `node_attributes` is an empty set: there, `not_defined` and `ne` are true, as in Pacemaker.
struct RuleContext {
  // Node attributes including the built-ins (#uname, #id, #kind, #is_dc, #cluster-name,
  // #site-name, #role where relevant); null when not evaluating for a node.
  const std::map<std::string, std::string>* node_attributes = nullptr;
  // "now", unix seconds.
  int64_t now = 0;
  // The resource's role, for a rule's `role` and for `#role` expressions ("Started",
  // "Promoted", "Unpromoted"; the old names "Master" and "Slave" are accepted); empty: unknown,
  // which no `role` on a rule rules out.
  std::string role;
  // For rsc_expression: the resource's class, provider, type.
  std::optional<std::string> rsc_class, rsc_provider, rsc_type;
  // For op_expression: the operation's name and interval (ms).
  std::optional<std::string> op_name;
  std::optional<int64_t> op_interval_ms;
  // For value-source="param" / "meta": the resource's instance and meta attributes.
  const std::map<std::string, std::string>* rsc_params = nullptr;
  const std::map<std::string, std::string>* rsc_meta = nullptr;
  // Submatches of a constraint's rsc-pattern, as std::smatch orders them ([0] the whole match,
  // [1] the first group, ...): "%0".."%9" in an expression's attribute and literal value, and in
  // a rule's score-attribute, are replaced by them (a missing submatch by nothing).
  std::vector<std::string> pattern_submatches;
};

// Evaluates one <rule> (resolving id-ref) with its boolean-op, nested rules and expressions.
// A rule with no conditions is true with boolean-op "and" (the default) and false with "or", as
// Pacemaker treats it (the schema forbids it anyway). An unknown child element is a false
// condition. A rule whose `role` is "Promoted"/"Master" is false when context.role is set to
// another role; "Started", "Unpromoted"/"Slave" restrict nothing (newer Pacemaker: every instance
// passes through those roles, so such a constraint applies to all of them; Pacemaker 2.1.5 as
// packaged by Debian instead drops a role="Started" location rule from placement scores).
bool EvaluateRule(const pugi::xml_node& rule, const RuleContext& context, const IdIndex& ids);

// The score a location rule contributes when it passes: its `score` (ParseScore), else the value
// of the node attribute its `score-attribute` names (after %N substitution), else 0. nullopt when
// the node lacks that attribute (Pacemaker then uses -INFINITY for that node).
std::optional<int> RuleScore(const pugi::xml_node& rule,
                             const RuleContext& context,
                             const IdIndex& ids);

// Evaluates every <rule> child of `parent` (an attribute set or constraint): true when there is
// none, or when any of them passes (Pacemaker's "or" across sibling rules).
bool EvaluateRules(const pugi::xml_node& parent, const RuleContext& context, const IdIndex& ids);

// Parses an ISO 8601 date/time as Pacemaker's crm_time accepts it ("2005-001", "2019-06-01
// 12:00:00", "2005-W01-1", with or without a UTC offset or "Z"; no offset means UTC) into unix
// seconds; nullopt when malformed.
//
// Deliberate difference: Pacemaker reads a time without an offset in the host's local time zone;
// we read it as UTC, so that the scheduler's output does not depend on the host's TZ. Date specs
// (hours, weekdays, ...) are likewise matched against "now" in UTC.
//
// Accepted: the date as YYYY-MM-DD, YYYYMMDD, YYYY-DDD (ordinal), YYYY-Www[-D] (ISO week; D
// defaults to 1 = Monday); then optionally 'T' or spaces and hh[:mm[:ss[.fraction]]] or
// hhmm[ss] (24:00:00 is the next midnight); then optionally spaces and "Z", +hh, +hh:mm or +hhmm.
std::optional<int64_t> ParseIsoDateTime(std::string_view text);

// Parses an operation interval as Pacemaker does into milliseconds: a non-negative integer with an
// optional unit (none or s/sec: seconds; ms/msec; us/usec, rounded down to ms; m/min; h/hr;
// case-insensitive, blanks allowed around), or an ISO 8601 duration ("PT10S", "P1DT2H", "P2W"; a
// year counts 365 days and a month 30, as only fixed lengths make sense for an interval).
// nullopt when malformed.
std::optional<int64_t> ParseIntervalMs(std::string_view text);

// Unpacks the attribute sets named `set_tag` (e.g. "meta_attributes", "instance_attributes",
// "utilization", "cluster_property_set") under `parent` into `out`, as Pacemaker does: sets
// whose rules pass, highest `score` first (the set whose id is `first_id`, if given, before all
// others), and a name already set by an earlier set (or already in `out`) is not overwritten.
// Among sets of equal score the LAST in document order comes first and so wins: that is what
// Pacemaker 2.1.5 does (checked with crm_simulate on node and resource instance_attributes),
// although one would expect document order. With `overwrite`, the sets are applied in the reverse
// order and every value replaces the one before it, so the same set wins for each name but
// values already in `out` are replaced.
// A set with `id-ref` is the set it names (its score and rules); an nvpair with `id-ref` takes
// the name and value it lacks from the nvpair it names.
// An nvpair without a value (or name) is ignored; a value of "#default" (any case) removes the
// name from `out` whatever `overwrite` says, so that a later set or the built-in default applies
// (Pacemaker's behaviour; Pacemaker Explained does not document either case).
void UnpackAttributeSets(const pugi::xml_node& parent,
                         std::string_view set_tag,
                         const RuleContext& context,
                         const IdIndex& ids,
                         std::map<std::string, std::string>& out,
                         std::string_view first_id = "",
                         bool overwrite = false);

}  // namespace ha::pengine
