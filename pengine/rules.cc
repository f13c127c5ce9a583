// Rule evaluation, written from Pacemaker Explained ("Rules") and checked against the scheduler
// regression cases (rule-*.xml, date-*.xml) and crm_simulate.
#include "pengine/rules.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "pengine/score.h"

namespace ha::pengine {

namespace {

// Nesting deeper than this (only reachable through id-ref cycles) makes a rule false.
constexpr int kMaxRuleDepth = 32;

// absl::string_view is not std::string_view on this Abseil.
absl::string_view Av(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

bool IEquals(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(Av(a), Av(b));
}

std::optional<std::string_view> Attr(const pugi::xml_node& node, const char* name) {
  pugi::xml_attribute attr = node.attribute(name);
  if (!attr)
    return std::nullopt;
  return std::string_view(attr.value());
}

bool IsSpace(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}
bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && IsSpace(s.front()))
    s.remove_prefix(1);
  return s;
}

std::string_view Trim(std::string_view s) {
  s = TrimLeft(s);
  while (!s.empty() && IsSpace(s.back()))
    s.remove_suffix(1);
  return s;
}

// "%0".."%9" replaced by the pattern's submatches; untouched when there are none (no rsc-pattern).
std::string Substitute(std::string_view text, const std::vector<std::string>& submatches) {
  std::string out;
  if (submatches.empty())
    return std::string(text);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 1 < text.size() && IsDigit(text[i + 1])) {
      size_t index = static_cast<size_t>(text[i + 1] - '0');
      if (index < submatches.size())
        out += submatches[index];
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The integer at the start of `text`, as strtoll reads it (leading blanks, a sign, digits;
// anything after is ignored, so "3.6" is 3): the documented "integer truncates floating-point
// values". nullopt when there are no digits.
std::optional<int64_t> LeadingInteger(std::string_view text) {
  text = TrimLeft(text);
  if (!text.empty() && text.front() == '+')
    text.remove_prefix(1);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return text.front() == '-' ? INT64_MIN : INT64_MAX;
  }
  if (ec != std::errc())
    return std::nullopt;
  return value;
}

// The floating-point number at the start of `text`, as strtod reads it (decimal forms only).
std::optional<double> LeadingDouble(std::string_view text) {
  text = TrimLeft(text);
  if (!text.empty() && text.front() == '+')
    text.remove_prefix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range)
    return std::nullopt;
  if (ec != std::errc())
    return std::nullopt;
  return value;
}

template <typename T>
int Compare(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// Dotted versions compared component by component as integers; a missing component is 0, so
// "1.2" == "1.2.0".
int CompareVersions(std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    auto next = [](std::string_view& v) -> int64_t {
      size_t dot = v.find('.');
      std::string_view part = v.substr(0, dot);
      v = dot == std::string_view::npos ? std::string_view() : v.substr(dot + 1);
      return LeadingInteger(part).value_or(0);
    };
    int64_t x = next(a);
    int64_t y = next(b);
    if (x != y)
      return x < y ? -1 : 1;
  }
  return 0;
}

int CompareStrings(std::string_view a, std::string_view b) {
  // Pacemaker compares strings without regard to case (so "#uname eq NODE1" matches node1).
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    int x = std::tolower(static_cast<unsigned char>(a[i]));
    int y = std::tolower(static_cast<unsigned char>(b[i]));
    if (x != y)
      return x < y ? -1 : 1;
  }
  return Compare(a.size(), b.size());
}

enum class ValueType { kString, kInteger, kNumber, kVersion };

// Both values present; a numeric type whose parse fails on either side compares as strings.
int CompareTyped(std::string_view a, std::string_view b, ValueType type) {
  switch (type) {
    case ValueType::kInteger: {
      auto x = LeadingInteger(a);
      auto y = LeadingInteger(b);
      if (x && y)
        return Compare(*x, *y);
      return CompareStrings(a, b);
    }
    case ValueType::kNumber: {
      auto x = LeadingDouble(a);
      auto y = LeadingDouble(b);
      if (x && y)
        return Compare(*x, *y);
      return CompareStrings(a, b);
    }
    case ValueType::kVersion:
      return CompareVersions(a, b);
    case ValueType::kString:
      return CompareStrings(a, b);
  }
  return CompareStrings(a, b);
}

// Role names, old and new, in one spelling.
std::string_view CanonicalRole(std::string_view role) {
  if (IEquals(role, "Master") || IEquals(role, "Promoted"))
    return "Promoted";
  if (IEquals(role, "Slave") || IEquals(role, "Unpromoted"))
    return "Unpromoted";
  if (IEquals(role, "Started"))
    return "Started";
  if (IEquals(role, "Stopped"))
    return "Stopped";
  return role;
}

const std::string* Lookup(const std::map<std::string, std::string>* map, std::string_view key) {
  if (map == nullptr)
    return nullptr;
  auto it = map->find(std::string(key));
  return it == map->end() ? nullptr : &it->second;
}

bool EvaluateAttributeExpression(const pugi::xml_node& expr, const RuleContext& context) {
  auto attribute_attr = Attr(expr, "attribute");
  auto op_attr = Attr(expr, "operation");
  if (!attribute_attr || !op_attr)
    return false;
  const std::string attribute = Substitute(*attribute_attr, context.pattern_submatches);
  const std::string_view op = *op_attr;

  // The left side: the node attribute. #role falls back to the resource's role.
  std::optional<std::string> left;
  if (const std::string* v = Lookup(context.node_attributes, attribute)) {
    left = *v;
  } else if (attribute == "#role" && !context.role.empty()) {
    left = context.role;
  }

  if (IEquals(op, "defined"))
    return left.has_value();
  if (IEquals(op, "not_defined"))
    return !left.has_value();

  // The right side: a literal, or the resource parameter / meta-attribute it names.
  std::optional<std::string> right;
  if (auto value = Attr(expr, "value")) {
    std::string_view source = Attr(expr, "value-source").value_or("literal");
    if (IEquals(source, "param") || IEquals(source, "meta")) {
      const auto* map = IEquals(source, "param") ? context.rsc_params : context.rsc_meta;
      if (const std::string* v = Lookup(map, *value))
        right = *v;
    } else {
      right = Substitute(*value, context.pattern_submatches);
    }
  }
  if (attribute == "#role") {
    if (left)
      left = std::string(CanonicalRole(*left));
    if (right)
      right = std::string(CanonicalRole(*right));
  }

  const bool ordering =
      IEquals(op, "lt") || IEquals(op, "gt") || IEquals(op, "lte") || IEquals(op, "gte");
  if (!ordering && !IEquals(op, "eq") && !IEquals(op, "ne"))
    return false;

  ValueType type = ValueType::kString;
  if (auto type_attr = Attr(expr, "type")) {
    if (IEquals(*type_attr, "integer")) {
      type = ValueType::kInteger;
    } else if (IEquals(*type_attr, "number")) {
      type = ValueType::kNumber;
    } else if (IEquals(*type_attr, "version")) {
      type = ValueType::kVersion;
    }
  } else if (ordering && left && right) {
    // Documented default: number if either side has a decimal point, else integer.
    const bool decimal =
        left->find('.') != std::string::npos || right->find('.') != std::string::npos;
    type = decimal ? ValueType::kNumber : ValueType::kInteger;
  }

  // A missing value sorts before any present one, so "ne" holds when the attribute is absent.
  int cmp = 0;
  if (left && right) {
    cmp = CompareTyped(*left, *right, type);
  } else if (left || right) {
    cmp = left ? 1 : -1;
  }
  if (IEquals(op, "eq"))
    return cmp == 0;
  if (IEquals(op, "ne"))
    return cmp != 0;
  if (!left || !right)
    return false;  // ordering a missing value means nothing
  if (IEquals(op, "lt"))
    return cmp < 0;
  if (IEquals(op, "gt"))
    return cmp > 0;
  if (IEquals(op, "lte"))
    return cmp <= 0;
  return cmp >= 0;  // gte
}

// ----- dates -----

int64_t DaysInMonth(int64_t year, int month) {
  return absl::CivilDay(absl::CivilMonth(year, month) + 1) -
         absl::CivilDay(absl::CivilMonth(year, month));
}

int WeekdayNumber(absl::CivilDay day) {  // 1 = Monday .. 7 = Sunday
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::monday:
      return 1;
    case absl::Weekday::tuesday:
      return 2;
    case absl::Weekday::wednesday:
      return 3;
    case absl::Weekday::thursday:
      return 4;
    case absl::Weekday::friday:
      return 5;
    case absl::Weekday::saturday:
      return 6;
    case absl::Weekday::sunday:
      return 7;
  }
  return 1;
}

// ISO 8601 week-numbering: the week belongs to the year of its Thursday.
std::pair<int64_t, int> IsoWeek(absl::CivilDay day) {
  absl::CivilDay thursday = day + (4 - WeekdayNumber(day));
  return {thursday.year(), (absl::GetYearDay(thursday) - 1) / 7 + 1};
}

absl::CivilDay IsoWeekMonday(int64_t weekyear, int week) {
  absl::CivilDay jan4(weekyear, 1, 4);  // always in week 1
  return jan4 - (WeekdayNumber(jan4) - 1) + (week - 1) * 7;
}

// Reads exactly `count` digits.
bool Digits(std::string_view& s, size_t count, int64_t& out) {
  if (s.size() < count)
    return false;
  out = 0;
  for (size_t i = 0; i < count; ++i) {
    if (!IsDigit(s[i]))
      return false;
    out = out * 10 + (s[i] - '0');
  }
  s.remove_prefix(count);
  return true;
}

size_t CountDigits(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && IsDigit(s[n]))
    ++n;
  return n;
}

std::optional<absl::CivilDay> ParseDate(std::string_view& s) {
  const size_t run = CountDigits(s);
  int64_t year = 0, month = 1, day = 1;
  if (run == 8 || run == 7) {  // basic formats YYYYMMDD, YYYYDDD
    Digits(s, 4, year);
    if (run == 8) {
      Digits(s, 2, month);
      Digits(s, 2, day);
    } else {
      int64_t yday = 0;
      Digits(s, 3, yday);
      if (yday < 1 || yday > absl::CivilDay(year + 1, 1, 1) - absl::CivilDay(year, 1, 1)) {
        return std::nullopt;
      }
      return absl::CivilDay(year, 1, 1) + (yday - 1);
    }
  } else {
    if (run != 4 || !Digits(s, 4, year))
      return std::nullopt;
    if (s.empty() || s.front() != '-')
      return absl::CivilDay(year, 1, 1);
    s.remove_prefix(1);
    if (!s.empty() && s.front() == 'W') {
      s.remove_prefix(1);
      int64_t week = 0, weekday = 1;
      if (!Digits(s, 2, week))
        return std::nullopt;
      if (!s.empty() && s.front() == '-') {
        s.remove_prefix(1);
        if (!Digits(s, 1, weekday))
          return std::nullopt;
      } else if (CountDigits(s) == 1) {
        Digits(s, 1, weekday);
      }
      if (weekday < 1 || weekday > 7 || week < 1)
        return std::nullopt;
      absl::CivilDay date = IsoWeekMonday(year, static_cast<int>(week)) + (weekday - 1);
      if (IsoWeek(date).first != year)
        return std::nullopt;  // week 53 of a 52-week year
      return date;
    }
    const size_t part = CountDigits(s);
    if (part == 3) {  // ordinal
      int64_t yday = 0;
      Digits(s, 3, yday);
      if (yday < 1 || yday > absl::CivilDay(year + 1, 1, 1) - absl::CivilDay(year, 1, 1)) {
        return std::nullopt;
      }
      return absl::CivilDay(year, 1, 1) + (yday - 1);
    }
    // Like Pacemaker (sscanf), also "2019-6-1".
    if (part != 1 && part != 2)
      return std::nullopt;
    Digits(s, part, month);
    if (!s.empty() && s.front() == '-') {
      s.remove_prefix(1);
      const size_t day_digits = CountDigits(s);
      if (day_digits != 1 && day_digits != 2)
        return std::nullopt;
      Digits(s, day_digits, day);
    }
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, static_cast<int>(month))) {
    return std::nullopt;
  }
  return absl::CivilDay(year, static_cast<int>(month), static_cast<int>(day));
}

// h[h][:m[m][:s[s]]] or hhmm[ss], then an ignored fraction, as seconds since midnight (24:00:00
// allowed).
std::optional<int64_t> ParseTimeOfDay(std::string_view& s) {
  int64_t h = 0, m = 0, sec = 0;
  const size_t run = CountDigits(s);
  if (run == 4 || run == 6) {  // basic format
    Digits(s, 2, h);
    Digits(s, 2, m);
    if (run == 6)
      Digits(s, 2, sec);
  } else {
    if (run != 1 && run != 2)
      return std::nullopt;
    Digits(s, run, h);
    int64_t* next[] = {&m, &sec};
    for (int64_t* field : next) {
      if (s.empty() || s.front() != ':')
        break;
      s.remove_prefix(1);
      const size_t digits = CountDigits(s);
      if (digits != 1 && digits != 2)
        return std::nullopt;
      Digits(s, digits, *field);
    }
  }
  if (!s.empty() && (s.front() == '.' || s.front() == ',')) {  // fraction of a second: ignored
    s.remove_prefix(1);
    if (CountDigits(s) == 0)
      return std::nullopt;
    s.remove_prefix(CountDigits(s));
  }
  if (h > 24 || m > 59 || sec > 60 || (h == 24 && (m != 0 || sec != 0)))
    return std::nullopt;
  return h * 3600 + m * 60 + std::min<int64_t>(sec, 59);  // a leap second counts as :59
}

// "Z", +hh, +hh:mm, +hhmm (or '-'), as seconds east of UTC.
std::optional<int64_t> ParseOffset(std::string_view& s) {
  if (s.front() == 'Z' || s.front() == 'z') {
    s.remove_prefix(1);
    return 0;
  }
  if (s.front() != '+' && s.front() != '-')
    return std::nullopt;
  const int sign = s.front() == '-' ? -1 : 1;
  s.remove_prefix(1);
  int64_t h = 0, m = 0;
  if (!Digits(s, 2, h))
    return std::nullopt;
  if (!s.empty() && s.front() == ':')
    s.remove_prefix(1);
  if (CountDigits(s) >= 2)
    Digits(s, 2, m);
  if (h > 23 || m > 59)
    return std::nullopt;
  return sign * (h * 3600 + m * 60);
}

absl::CivilSecond ToCivil(int64_t unix_seconds) {
  return absl::ToCivilSecond(absl::FromUnixSeconds(unix_seconds), absl::UTCTimeZone());
}

int64_t FromCivil(absl::CivilSecond civil) {
  return absl::ToUnixSeconds(absl::FromCivil(civil, absl::UTCTimeZone()));
}

// Adds a <duration>: calendar years and months first (the day clamped to the month's end, so
// Jan 31 + 1 month is Feb 28/29), then weeks, days, hours, minutes and seconds.
int64_t AddDuration(int64_t start, const pugi::xml_node& duration) {
  auto field = [&](const char* name) -> int64_t {
    auto v = Attr(duration, name);
    return v ? LeadingInteger(*v).value_or(0) : 0;
  };
  absl::CivilSecond civil = ToCivil(start);
  const int64_t months = field("years") * 12 + field("months");
  if (months != 0) {
    absl::CivilMonth month = absl::CivilMonth(civil) + months;
    const int day =
        static_cast<int>(std::min<int64_t>(civil.day(), DaysInMonth(month.year(), month.month())));
    civil = absl::CivilSecond(
        month.year(), month.month(), day, civil.hour(), civil.minute(), civil.second());
  }
  const int64_t seconds = (field("weeks") * 7 + field("days")) * 86400 + field("hours") * 3600 +
                          field("minutes") * 60 + field("seconds");
  return FromCivil(civil) + seconds;
}

// One date_spec field: "n", "a-b", "a-" or "-b". nullopt when malformed.
std::optional<std::pair<int64_t, int64_t>> ParseRange(std::string_view text) {
  text = Trim(text);
  const size_t dash = text.find('-', 1);  // position 0 would be a sign
  auto number = [](std::string_view t) -> std::optional<int64_t> {
    t = Trim(t);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || end != t.data() + t.size())
      return std::nullopt;
    return v;
  };
  if (!text.empty() && text.front() == '-' && CountDigits(text.substr(1)) + 1 == text.size()) {
    auto high = number(text.substr(1));  // "-b": no lower bound
    if (!high)
      return std::nullopt;
    return std::make_pair(INT64_MIN, *high);
  }
  if (dash == std::string_view::npos) {
    auto v = number(text);
    if (!v)
      return std::nullopt;
    return std::make_pair(*v, *v);
  }
  auto low = number(text.substr(0, dash));
  if (!low)
    return std::nullopt;
  if (Trim(text.substr(dash + 1)).empty())
    return std::make_pair(*low, INT64_MAX);
  auto high = number(text.substr(dash + 1));
  if (!high)
    return std::nullopt;
  return std::make_pair(*low, *high);
}

bool MatchesDateSpec(const pugi::xml_node& spec, int64_t now) {
  const absl::CivilSecond civil = ToCivil(now);
  const absl::CivilDay day(civil);
  const auto [weekyear, week] = IsoWeek(day);
  const std::pair<const char*, int64_t> fields[] = {
      {"years", civil.year()},
      {"months", civil.month()},
      {"monthdays", civil.day()},
      {"hours", civil.hour()},
      {"minutes", civil.minute()},
      {"seconds", civil.second()},
      {"yeardays", absl::GetYearDay(day)},
      {"weekdays", WeekdayNumber(day)},
      {"weeks", week},
      {"weekyears", weekyear},
  };
  for (const auto& [name, value] : fields) {
    auto text = Attr(spec, name);
    if (!text)
      continue;  // a field not given is ignored
    auto range = ParseRange(*text);
    // A malformed field (e.g. the unsupported list "1,3") is ignored, as Pacemaker 2.1 does.
    if (!range)
      continue;
    if (value < range->first || value > range->second)
      return false;
  }
  return true;  // "moon" is not supported and ignored
}

bool EvaluateDateExpression(const pugi::xml_node& expr, const RuleContext& context) {
  // Pacemaker's default operation is in_range.
  const std::string_view op = Attr(expr, "operation").value_or("in_range");
  if (IEquals(op, "date_spec")) {
    pugi::xml_node spec = expr.child("date_spec");
    return spec && MatchesDateSpec(spec, context.now);
  }
  // A malformed start or end counts as absent, as Pacemaker 2.1 does (checked with crm_simulate).
  std::optional<int64_t> start, end;
  if (auto text = Attr(expr, "start"))
    start = ParseIsoDateTime(*text);
  if (auto text = Attr(expr, "end"))
    end = ParseIsoDateTime(*text);
  if (IEquals(op, "gt"))
    return start && context.now > *start;
  if (IEquals(op, "lt"))
    return end && context.now < *end;
  if (!IEquals(op, "in_range"))
    return false;
  if (!end && start) {
    if (pugi::xml_node duration = expr.child("duration"))
      end = AddDuration(*start, duration);
  }
  if (!start && !end)
    return false;
  // Both ends inclusive: "end" is the last second the range holds.
  return (!start || context.now >= *start) && (!end || context.now <= *end);
}

bool EvaluateRscExpression(const pugi::xml_node& expr, const RuleContext& context) {
  // Each attribute given must match (case-sensitively, like resource agent names); the
  // expression is false where no resource is known.
  const std::pair<const char*, const std::optional<std::string>*> fields[] = {
      {"class", &context.rsc_class},
      {"provider", &context.rsc_provider},
      {"type", &context.rsc_type},
  };
  if (!context.rsc_class && !context.rsc_provider && !context.rsc_type)
    return false;
  for (const auto& [name, actual] : fields) {
    auto wanted = Attr(expr, name);
    if (wanted && (!actual->has_value() || **actual != *wanted))
      return false;
  }
  return true;
}

bool EvaluateOpExpression(const pugi::xml_node& expr, const RuleContext& context) {
  if (!context.op_name)
    return false;
  auto name = Attr(expr, "name");
  if (!name || *name != *context.op_name)
    return false;
  if (auto interval = Attr(expr, "interval")) {
    auto wanted = ParseIntervalMs(*interval);
    if (!wanted || !context.op_interval_ms || *wanted != *context.op_interval_ms)
      return false;
  }
  return true;
}

bool EvaluateRuleAt(const pugi::xml_node& rule_in,
                    const RuleContext& context,
                    const IdIndex& ids,
                    int depth);

bool EvaluateCondition(const pugi::xml_node& condition,
                       const RuleContext& context,
                       const IdIndex& ids,
                       int depth) {
  const std::string_view tag = condition.name();
  if (tag == "expression")
    return EvaluateAttributeExpression(condition, context);
  if (tag == "date_expression")
    return EvaluateDateExpression(condition, context);
  if (tag == "rsc_expression")
    return EvaluateRscExpression(condition, context);
  if (tag == "op_expression")
    return EvaluateOpExpression(condition, context);
  if (tag == "rule")
    return EvaluateRuleAt(condition, context, ids, depth + 1);
  return false;
}

bool RoleAllows(std::string_view rule_role, std::string_view context_role) {
  if (context_role.empty())
    return true;
  const std::string_view wanted = CanonicalRole(rule_role);
  // Every instance passes through Started and Unpromoted: those restrict nothing.
  if (wanted == "Started" || wanted == "Unpromoted")
    return true;
  return wanted == CanonicalRole(context_role);
}

bool EvaluateRuleAt(const pugi::xml_node& rule_in,
                    const RuleContext& context,
                    const IdIndex& ids,
                    int depth) {
  if (depth > kMaxRuleDepth)
    return false;
  const pugi::xml_node rule = ids.Resolve(rule_in);
  if (!rule)
    return false;
  if (auto role = Attr(rule, "role"); role && !RoleAllows(*role, context.role))
    return false;
  const bool any = IEquals(Attr(rule, "boolean-op").value_or("and"), "or");
  for (pugi::xml_node child = rule.first_child(); child; child = child.next_sibling()) {
    if (child.type() != pugi::node_element)
      continue;
    const bool passed = EvaluateCondition(child, context, ids, depth);
    if (any && passed)
      return true;
    if (!any && !passed)
      return false;
  }
  return !any;
}

}  // namespace

IdIndex::IdIndex(const pugi::xml_node& root) {
  // Depth-first, so the first element with a given id in document order wins.
  std::vector<pugi::xml_node> stack{root};
  while (!stack.empty()) {
    pugi::xml_node node = stack.back();
    stack.pop_back();
    if (node.type() == pugi::node_element) {
      if (pugi::xml_attribute id = node.attribute("id"))
        by_id_.emplace(id.value(), node);
    }
    std::vector<pugi::xml_node> children;
    for (pugi::xml_node child = node.first_child(); child; child = child.next_sibling()) {
      if (child.type() == pugi::node_element)
        children.push_back(child);
    }
    stack.insert(stack.end(), children.rbegin(), children.rend());
  }
}

pugi::xml_node IdIndex::Find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? pugi::xml_node() : it->second;
}

pugi::xml_node IdIndex::Resolve(const pugi::xml_node& node) const {
  pugi::xml_attribute ref = node.attribute("id-ref");
  if (!ref)
    return node;
  pugi::xml_node target = Find(ref.value());
  // A reference must name an element of the same kind (a rule a rule, an nvpair an nvpair).
  if (!target || std::strcmp(target.name(), node.name()) != 0)
    return pugi::xml_node();
  return target;
}

bool EvaluateRule(const pugi::xml_node& rule, const RuleContext& context, const IdIndex& ids) {
  return EvaluateRuleAt(rule, context, ids, 0);
}

bool EvaluateRules(const pugi::xml_node& parent, const RuleContext& context, const IdIndex& ids) {
  bool any_rule = false;
  for (pugi::xml_node rule = parent.child("rule"); rule; rule = rule.next_sibling("rule")) {
    any_rule = true;
    if (EvaluateRule(rule, context, ids))
      return true;
  }
  return !any_rule;
}

std::optional<int> RuleScore(const pugi::xml_node& rule_in,
                             const RuleContext& context,
                             const IdIndex& ids) {
  const pugi::xml_node rule = ids.Resolve(rule_in);
  if (auto score = Attr(rule, "score"))
    return ParseScore(*score);
  if (auto name = Attr(rule, "score-attribute")) {
    const std::string* value =
        Lookup(context.node_attributes, Substitute(*name, context.pattern_submatches));
    if (value == nullptr)
      return std::nullopt;
    return ParseScore(*value);
  }
  return 0;
}

std::optional<int64_t> ParseIsoDateTime(std::string_view text) {
  std::string_view s = Trim(text);
  auto date = ParseDate(s);
  if (!date)
    return std::nullopt;
  int64_t seconds = 0;
  if (!s.empty() && (s.front() == 'T' || s.front() == 't' || IsSpace(s.front()))) {
    const bool t = !IsSpace(s.front());
    s = t ? s.substr(1) : TrimLeft(s);
    if (!s.empty() && IsDigit(s.front())) {
      auto time = ParseTimeOfDay(s);
      if (!time)
        return std::nullopt;
      seconds = *time;
    } else if (t) {
      return std::nullopt;
    }
  }
  int64_t offset = 0;
  s = TrimLeft(s);
  if (!s.empty()) {
    auto parsed = ParseOffset(s);
    if (!parsed)
      return std::nullopt;
    offset = *parsed;
  }
  if (!Trim(s).empty())
    return std::nullopt;
  return FromCivil(absl::CivilSecond(*date)) + seconds - offset;
}

std::optional<int64_t> ParseIntervalMs(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty())
    return std::nullopt;
  if (s.front() == 'P' || s.front() == 'p') {
    // ISO 8601 duration: P[nY][nM][nW][nD][T[nH][nM][nS]].
    s.remove_prefix(1);
    bool in_time = false, any = false;
    int64_t ms = 0;
    while (!s.empty()) {
      if (s.front() == 'T' || s.front() == 't') {
        if (in_time)
          return std::nullopt;
        in_time = true;
        s.remove_prefix(1);
        continue;
      }
      const size_t n = CountDigits(s);
      if (n == 0 || n > 12 || n == s.size())
        return std::nullopt;
      int64_t value = 0;
      Digits(s, n, value);
      const char unit = static_cast<char>(std::toupper(static_cast<unsigned char>(s.front())));
      s.remove_prefix(1);
      int64_t factor = 0;
      if (!in_time) {
        factor = unit == 'Y'   ? 365 * 86400000LL
                 : unit == 'M' ? 30 * 86400000LL
                 : unit == 'W' ? 7 * 86400000LL
                 : unit == 'D' ? 86400000LL
                               : 0;
      } else {
        factor = unit == 'H' ? 3600000LL : unit == 'M' ? 60000LL : unit == 'S' ? 1000LL : 0;
      }
      if (factor == 0)
        return std::nullopt;
      ms += value * factor;
      any = true;
    }
    if (!any)
      return std::nullopt;
    return ms;
  }
  const size_t n = CountDigits(s);
  if (n == 0 || n > 15)
    return std::nullopt;
  int64_t value = 0;
  Digits(s, n, value);
  const std::string_view unit = Trim(s);
  if (unit.empty() || IEquals(unit, "s") || IEquals(unit, "sec"))
    return value * 1000;
  if (IEquals(unit, "ms") || IEquals(unit, "msec"))
    return value;
  if (IEquals(unit, "us") || IEquals(unit, "usec"))
    return value / 1000;
  if (IEquals(unit, "m") || IEquals(unit, "min"))
    return value * 60000;
  if (IEquals(unit, "h") || IEquals(unit, "hr"))
    return value * 3600000;
  return std::nullopt;
}

void UnpackAttributeSets(const pugi::xml_node& parent,
                         std::string_view set_tag,
                         const RuleContext& context,
                         const IdIndex& ids,
                         std::map<std::string, std::string>& out,
                         std::string_view first_id,
                         bool overwrite) {
  struct Set {
    pugi::xml_node element;  // as written (may carry id-ref)
    pugi::xml_node resolved;
    bool first;
    int score;
  };
  std::vector<Set> sets;
  const std::string tag(set_tag);
  for (pugi::xml_node element = parent.child(tag.c_str()); element;
       element = element.next_sibling(tag.c_str())) {
    pugi::xml_node resolved = ids.Resolve(element);
    if (!resolved)
      continue;  // dangling id-ref
    const bool first =
        !first_id.empty() && (Attr(element, "id") == first_id || Attr(resolved, "id") == first_id);
    sets.push_back({element, resolved, first, ParseScore(Attr(resolved, "score").value_or("0"))});
  }
  // Equal scores: the later set first, as Pacemaker 2.1 does (see rules.h).
  std::reverse(sets.begin(), sets.end());
  std::stable_sort(sets.begin(), sets.end(), [](const Set& a, const Set& b) {
    if (a.first != b.first)
      return a.first;
    return a.score > b.score;
  });
  if (overwrite)
    std::reverse(sets.begin(), sets.end());

  for (const Set& set : sets) {
    if (!EvaluateRules(set.resolved, context, ids))
      continue;
    if (set.element != set.resolved && !EvaluateRules(set.element, context, ids))
      continue;
    for (pugi::xml_node pair = set.resolved.child("nvpair"); pair;
         pair = pair.next_sibling("nvpair")) {
      const pugi::xml_node target = ids.Resolve(pair);
      auto name = Attr(pair, "name");
      if (!name && target)
        name = Attr(target, "name");
      auto value = Attr(pair, "value");
      if (!value && target)
        value = Attr(target, "value");
      if (!name || name->empty() || !value)
        continue;
      if (IEquals(*value, "#default")) {
        out.erase(std::string(*name));
        continue;
      }
      auto [it, inserted] = out.try_emplace(std::string(*name), *value);
      if (!inserted && overwrite)
        it->second = std::string(*value);
    }
  }
}

}  // namespace ha::pengine
