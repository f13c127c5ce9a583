#include "common/check.h"

#include <atomic>
#include <cstdlib>

#include "common/logging.h"

namespace ha::internal {
namespace {
std::atomic<uint64_t> g_bug_count{0};
}

void CheckFailed(const char* file, int line, const char* condition) {
  ::ha::log::Emit("main", LOG_CRIT, file, line, std::string("check failed: ") + condition);
  // abort() runs the crash handler, which writes the flight recorder.
  std::abort();
}

void BugHit(const char* file, int line, const char* condition) {
  g_bug_count.fetch_add(1);
  ::ha::log::Emit("main", LOG_ERR, file, line, std::string("bug: ") + condition);
#ifndef NDEBUG
  std::abort();
#endif
}

uint64_t BugCount() {
  return g_bug_count.load();
}

}  // namespace ha::internal
