// Pacemaker's scores: integers clamped to +/-INFINITY (1,000,000), where -INFINITY wins over
// +INFINITY when both are added ("can never run here" beats "must run here").
#pragma once

#include <string>
#include <string_view>

namespace ha::pengine {

inline constexpr int kInfinity = 1000000;

// Parses a score as Pacemaker writes it: "INFINITY", "+INFINITY", "-INFINITY", or an integer
// (clamped to +/-INFINITY). The node-health colours map to the given values. Anything else is 0,
// as Pacemaker treats an unparsable score.
struct ScoreColours {
  int red = -kInfinity;
  int yellow = 0;
  int green = 0;
};
int ParseScore(std::string_view text, const ScoreColours& colours = {});

// True when `text` is a well-formed score (so callers can report bad ones).
bool IsValidScore(std::string_view text);

// a + b with INFINITY arithmetic: -INF dominates, then +INF, else the clamped sum.
int AddScores(int a, int b);

// "INFINITY", "-INFINITY" or the decimal integer.
std::string ScoreToString(int score);

}  // namespace ha::pengine
