// qb_log wiring. The subsystem of a line is passed to qb as its "function" name, so that qb's own
// function filters give per-subsystem debug switches, and %n prints it. qb_log is not documented
// as thread-safe, so every call into it holds one mutex.
#include "common/logging.h"

#include <qb/qblog.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace ha::log {
namespace {

struct State {
  absl::Mutex mu;
  bool initialised ABSL_GUARDED_BY(mu) = false;
  std::string daemon ABSL_GUARDED_BY(mu);
  std::string blackbox_dir ABSL_GUARDED_BY(mu);
  std::vector<int32_t> targets ABSL_GUARDED_BY(mu);  // enabled text targets
  std::vector<int> target_priority ABSL_GUARDED_BY(mu);
  int debug_level ABSL_GUARDED_BY(mu) = LOG_DEBUG;  // LOG_DEBUG or kTrace when debug is "trace"
  // What the configuration and HA_DEBUG ask for.
  bool configured_all ABSL_GUARDED_BY(mu) = false;
  std::set<std::string> configured ABSL_GUARDED_BY(mu);
  // In force now.
  bool all ABSL_GUARDED_BY(mu) = false;
  std::set<std::string> subsystems ABSL_GUARDED_BY(mu);
  int file_target ABSL_GUARDED_BY(mu) = -1;
  int dump_seq ABSL_GUARDED_BY(mu) = 0;
};

State& GetState() {
  static State* state = new State();  // never destroyed: crash handlers may run at exit
  return *state;
}

// Written once at Init, read by the crash handler (which must not allocate).
char g_crash_path[4096];
std::atomic<bool> g_crash_path_set{false};

int PriorityFromName(const std::string& name) {
  static const std::pair<const char*, int> kNames[] = {
      {"emerg", LOG_EMERG},
      {"alert", LOG_ALERT},
      {"crit", LOG_CRIT},
      {"err", LOG_ERR},
      {"error", LOG_ERR},
      {"warning", LOG_WARNING},
      {"warn", LOG_WARNING},
      {"notice", LOG_NOTICE},
      {"info", LOG_INFO},
      {"debug", LOG_DEBUG},
      {"trace", kTrace},
  };
  for (const auto& [n, p] : kNames) {
    if (name == n) {
      return p;
    }
  }
  return LOG_INFO;
}

std::string Lower(absl::string_view s) {
  return absl::AsciiStrToLower(s);
}

void ApplyFiltersLocked(State& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(st.mu) {
  for (size_t i = 0; i < st.targets.size(); ++i) {
    int32_t t = st.targets[i];
    qb_log_filter_ctl(t, QB_LOG_FILTER_CLEAR_ALL, QB_LOG_FILTER_FILE, "*", 0);
    qb_log_filter_ctl(t, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", st.target_priority[i]);
    if (st.all) {
      qb_log_filter_ctl(t, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", st.debug_level);
    } else {
      for (const auto& s : st.subsystems) {
        qb_log_filter_ctl(t, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FUNCTION, s.c_str(), st.debug_level);
      }
    }
  }
}

std::vector<std::string> DebugListLocked(const State& st) ABSL_SHARED_LOCKS_REQUIRED(st.mu) {
  if (st.all) {
    return {"*"};
  }
  return {st.subsystems.begin(), st.subsystems.end()};
}

void AddTarget(State& st, int32_t target, int priority, const char* format)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(st.mu) {
  qb_log_format_set(target, format);
  qb_log_ctl(target, QB_LOG_CONF_ENABLED, QB_TRUE);
  st.targets.push_back(target);
  st.target_priority.push_back(priority);
}

extern "C" void CrashHandler(int signo) {
  if (g_crash_path_set.load()) {
    qb_log_blackbox_write_to_file(g_crash_path);
  }
  signal(signo, SIG_DFL);
  raise(signo);
}

}  // namespace

std::vector<std::string> ParseDebugEnv(const std::string& value) {
  std::string v = Lower(value);
  if (v == "yes" || v == "all" || v == "1" || v == "true" || v == "on") {
    return {"*"};
  }
  if (v.empty() || v == "no" || v == "0" || v == "false" || v == "off") {
    return {};
  }
  std::vector<std::string> names;
  for (absl::string_view part : absl::StrSplit(v, absl::ByAnyChar(", "), absl::SkipEmpty())) {
    names.emplace_back(part);
  }
  return names;
}

absl::Status Init(const LogSetup& setup) {
  State& st = GetState();
  absl::MutexLock lock(&st.mu);
  if (st.initialised) {
    return absl::FailedPreconditionError("logging is already initialised");
  }
  const config::LoggingConfig& cfg = setup.config;
  int facility = qb_log_facility2int(cfg.syslog_facility.c_str());
  if (facility < 0) {
    facility = LOG_DAEMON;
  }
  qb_log_init(setup.daemon.c_str(), facility, LOG_INFO);
  qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_FALSE);
  qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_FALSE);
  st.daemon = setup.daemon;
  st.blackbox_dir = setup.blackbox_dir;

  const char* ts = cfg.timestamp == "off" ? "" : (cfg.timestamp == "hires" ? "%T " : "%t ");
  std::string file_format = absl::StrCat(ts, "%N[%P] %p [%n] %b");
  if (cfg.fileline) {
    file_format = absl::StrCat(ts, "%N[%P] %p [%n] %f:%l %b");
  }

  if (cfg.to_logfile && !cfg.logfile.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(cfg.logfile).parent_path(), ec);
    int32_t t = qb_log_file_open(cfg.logfile.c_str());
    if (t < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot open log file ", cfg.logfile, ": ", strerror(-t)));
    }
    st.file_target = t;
    AddTarget(st, t, PriorityFromName(cfg.logfile_priority), file_format.c_str());
  }
  if (cfg.to_syslog) {
    qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_FACILITY, facility);
    AddTarget(st, QB_LOG_SYSLOG, PriorityFromName(cfg.syslog_priority), "[%n] %b");
  }
  if (cfg.to_stderr || setup.to_stderr) {
    AddTarget(st, QB_LOG_STDERR, LOG_INFO, file_format.c_str());
  }
  if (cfg.blackbox) {
    qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_SIZE, 2 * 1024 * 1024);
    qb_log_format_set(QB_LOG_BLACKBOX, "%T %N[%P] %p [%n] %f:%l %b");
    qb_log_filter_ctl(QB_LOG_BLACKBOX, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", kTrace);
    qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_ENABLED, QB_TRUE);
  }

  // What is switched on: logging.debug for everything, then each logger_subsys, then HA_DEBUG.
  st.debug_level = cfg.debug == "trace" ? kTrace : LOG_DEBUG;
  st.configured_all = cfg.debug == "on" || cfg.debug == "trace";
  for (const auto& sub : cfg.subsystems) {
    if (!sub.debug.has_value()) {
      continue;
    }
    if (*sub.debug == "off") {
      st.configured.erase(Lower(sub.subsys));
    } else {
      st.configured.insert(Lower(sub.subsys));
      if (*sub.debug == "trace") {
        st.debug_level = kTrace;
      }
    }
  }
  if (setup.env_debug.has_value()) {
    for (const auto& name : ParseDebugEnv(*setup.env_debug)) {
      if (name == "*" || name == Lower(setup.daemon)) {
        st.configured_all = true;
      } else {
        st.configured.insert(name);
      }
    }
  }
  st.all = st.configured_all;
  st.subsystems = st.configured;
  ApplyFiltersLocked(st);

  if (!setup.blackbox_dir.empty()) {
    std::string path =
        absl::StrCat(setup.blackbox_dir, "/", setup.daemon, "-", getpid(), "-crash.bb");
    if (path.size() < sizeof(g_crash_path)) {
      memcpy(g_crash_path, path.c_str(), path.size() + 1);
      g_crash_path_set.store(true);
    }
  }
  st.initialised = true;
  return absl::OkStatus();
}

void Shutdown() {
  State& st = GetState();
  absl::MutexLock lock(&st.mu);
  if (!st.initialised) {
    return;
  }
  g_crash_path_set.store(false);
  qb_log_fini();
  st.targets.clear();
  st.target_priority.clear();
  st.initialised = false;
}

void Emit(const char* subsys, int priority, const char* file, int line, const std::string& text) {
  State& st = GetState();
  absl::MutexLock lock(&st.mu);
  if (!st.initialised) {
    return;
  }
  qb_log_from_external_source(
      subsys, file, "%s", static_cast<uint8_t>(priority), line, 0, text.c_str());
}

std::vector<std::string> SetDebug(const std::vector<std::string>& subsystems, bool enabled) {
  State& st = GetState();
  absl::MutexLock lock(&st.mu);
  if (subsystems.empty()) {
    st.all = enabled;
    if (!enabled) {
      st.subsystems.clear();
    }
  } else {
    for (const auto& s : subsystems) {
      if (enabled) {
        st.subsystems.insert(Lower(s));
      } else {
        st.subsystems.erase(Lower(s));
      }
    }
  }
  ApplyFiltersLocked(st);
  return DebugListLocked(st);
}

std::vector<std::string> ToggleDebug() {
  State& st = GetState();
  absl::MutexLock lock(&st.mu);
  if (st.all && !st.configured_all) {
    st.all = false;
    st.subsystems = st.configured;
  } else {
    st.all = true;
  }
  ApplyFiltersLocked(st);
  return DebugListLocked(st);
}

std::vector<std::string> DebugSubsystems() {
  State& st = GetState();
  absl::MutexLock lock(&st.mu);
  return DebugListLocked(st);
}

absl::StatusOr<std::string> DumpBlackbox() {
  State& st = GetState();
  absl::MutexLock lock(&st.mu);
  if (st.blackbox_dir.empty()) {
    return absl::FailedPreconditionError("no blackbox folder is configured");
  }
  std::error_code ec;
  std::filesystem::create_directories(st.blackbox_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create blackbox folder ", st.blackbox_dir, ": ", ec.message()));
  }
  std::string path = absl::StrCat(st.blackbox_dir,
                                  "/",
                                  st.daemon,
                                  "-",
                                  getpid(),
                                  "-",
                                  absl::ToUnixSeconds(absl::Now()),
                                  "-",
                                  ++st.dump_seq,
                                  ".bb");
  ssize_t written = qb_log_blackbox_write_to_file(path.c_str());
  if (written < 0) {
    return absl::InternalError(absl::StrCat(
        "cannot write blackbox to ", path, ": ", strerror(static_cast<int>(-written))));
  }
  return path;
}

absl::Status PrintBlackboxFile(const std::string& path) {
  struct stat sb;
  if (stat(path.c_str(), &sb) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  }
  if (!S_ISREG(sb.st_mode) || sb.st_size == 0) {
    return absl::DataLossError(absl::StrCat(path, " is empty or not a file"));
  }
  // qb's return value does not tell a good file from a bad one (it reports the end of the ring
  // as an error), so it is not used; a bad file prints no entries.
  fflush(stdout);
  qb_log_blackbox_print_from_file(path.c_str());
  fflush(stdout);
  return absl::OkStatus();
}

void InstallCrashDump() {
  for (int signo : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = CrashHandler;
    sa.sa_flags = SA_RESETHAND;
    sigaction(signo, &sa, nullptr);
  }
}

}  // namespace ha::log
