// Assertion tiers:
//  - HA_CHECK(cond): unrecoverable; always fatal (logs, dumps the flight recorder, aborts).
//  - HA_DCHECK(cond): a debug-only invariant; compiled out with NDEBUG.
//  - HA_BUG(cond): "cannot happen" in release: logs and counts, and aborts in debug builds.
// Never assert on something the environment controls (input, peers, the file system): those are
// errors with a Status.
#pragma once

#include <cstdint>

namespace ha::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition);
void BugHit(const char* file, int line, const char* condition);
uint64_t BugCount();
}  // namespace ha::internal

#define HA_CHECK(cond)                                        \
  do {                                                        \
    if (!(cond))                                              \
      ::ha::internal::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)

#ifdef NDEBUG
#define HA_DCHECK(cond) \
  do {                  \
  } while (0)
#else
#define HA_DCHECK(cond) HA_CHECK(cond)
#endif

#define HA_BUG(cond)                                     \
  do {                                                   \
    if (!(cond))                                         \
      ::ha::internal::BugHit(__FILE__, __LINE__, #cond); \
  } while (0)
