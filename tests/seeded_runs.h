// The seeded-run loop of randomized invariant tests: `runs` seeds from 1, or only the one seed
// named by the environment variable `replay_env`, so that a failure printed with its seed replays
// exactly. `run(seed)` returns "" or what went wrong.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>

namespace ha::testing {

inline void RunSeeds(const char* replay_env,
                     int runs,
                     const std::function<std::string(uint32_t)>& run) {
  uint32_t first = 1;
  if (const char* env = std::getenv(replay_env)) {
    first = static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
    runs = 1;
  }
  int failures = 0;
  for (int i = 0; i < runs && failures < 3; ++i) {
    const uint32_t seed = first + static_cast<uint32_t>(i);
    const std::string error = run(seed);
    if (!error.empty()) {
      ++failures;
      FAIL_CHECK("seed " << seed << " (rerun with " << replay_env << "=" << seed << "): " << error);
    }
  }
  CHECK(failures == 0);
}

}  // namespace ha::testing
