#include "pengine/score.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <string>

namespace ha::pengine {

namespace {

bool ParseInteger(std::string_view text, long long& out) {
  if (!text.empty() && text.front() == '+')
    text.remove_prefix(1);
  if (text.empty())
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec == std::errc::result_out_of_range) {
    out = text.front() == '-' ? -kInfinity : kInfinity;
    return true;
  }
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

int ParseScore(std::string_view text, const ScoreColours& colours) {
  if (text == "INFINITY" || text == "+INFINITY")
    return kInfinity;
  if (text == "-INFINITY")
    return -kInfinity;
  if (text == "red")
    return colours.red;
  if (text == "yellow")
    return colours.yellow;
  if (text == "green")
    return colours.green;
  // Like strtoll, as Pacemaker: the leading integer counts ("2.0" is 2), trailing text is
  // ignored, no digits at all is 0.
  std::string copy(text);
  errno = 0;
  long long value = std::strtoll(copy.c_str(), nullptr, 10);
  if (errno == ERANGE)
    value = value < 0 ? -kInfinity : kInfinity;
  return static_cast<int>(std::clamp<long long>(value, -kInfinity, kInfinity));
}

bool IsValidScore(std::string_view text) {
  if (text == "INFINITY" || text == "+INFINITY" || text == "-INFINITY" || text == "red" ||
      text == "yellow" || text == "green")
    return true;
  long long value = 0;
  return ParseInteger(text, value);
}

int AddScores(int a, int b) {
  if (a <= -kInfinity || b <= -kInfinity)
    return -kInfinity;
  if (a >= kInfinity || b >= kInfinity)
    return kInfinity;
  return std::clamp(a + b, -kInfinity, kInfinity);
}

std::string ScoreToString(int score) {
  if (score >= kInfinity)
    return "INFINITY";
  if (score <= -kInfinity)
    return "-INFINITY";
  return std::to_string(score);
}

}  // namespace ha::pengine
