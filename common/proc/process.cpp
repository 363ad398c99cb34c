#include "common/proc/process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

extern char** environ;

namespace drover {
namespace {

// posix_spawn_file_actions_t / posix_spawnattr_t with their destroy calls.
struct SpawnActions {
  posix_spawn_file_actions_t actions;
  SpawnActions() { posix_spawn_file_actions_init(&actions); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions); }
};

struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() { posix_spawnattr_init(&attr); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
};

Error errno_error(const std::string& what, int err) {
  return make_error(ErrorCode::io, fmt::format("{}: {}", what, std::strerror(err)));
}

Status add_file_actions(const SpawnOptions& options, posix_spawn_file_actions_t* actions) {
  constexpr int kOutFlags = O_WRONLY | O_CREAT | O_TRUNC;
  if (options.stdin_null) {
    int rc = posix_spawn_file_actions_addopen(actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (rc != 0) return errno_error("spawn: stdin", rc);
  }
  // Opened before the chdir action, so relative paths are the parent's.
  if (!options.stdout_path.empty()) {
    int rc = posix_spawn_file_actions_addopen(actions, STDOUT_FILENO, options.stdout_path.c_str(),
                                              kOutFlags, 0644);
    if (rc != 0) return errno_error("spawn: stdout", rc);
  }
  if (!options.stderr_path.empty()) {
    int rc = posix_spawn_file_actions_addopen(actions, STDERR_FILENO, options.stderr_path.c_str(),
                                              kOutFlags, 0644);
    if (rc != 0) return errno_error("spawn: stderr", rc);
  }
  if (!options.cwd.empty()) {
    int rc = posix_spawn_file_actions_addchdir_np(actions, options.cwd.c_str());
    if (rc != 0) return errno_error("spawn: cwd", rc);
  }
  // The child inherits only stdin/stdout/stderr: a task must not hold the parent's
  // sockets open (a killed worker's connections must close when it dies).
  int rc = posix_spawn_file_actions_addclosefrom_np(actions, 3);
  if (rc != 0) return errno_error("spawn: closefrom", rc);
  return ok_status();
}

Status set_attributes(const SpawnOptions& options, posix_spawnattr_t* attr) {
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(attr, 0);
  }
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(attr, &empty);
  // Every catchable signal back to its default disposition in the child.
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigdefault(attr, &all);
  int rc = posix_spawnattr_setflags(attr, flags);
  if (rc != 0) return errno_error("spawn: attributes", rc);
  return ok_status();
}

ExitStatus decode_status(int status) {
  ExitStatus out;
  if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
  }
  return out;
}

// Reaps `pid` without blocking; nullopt while it runs (or on error other than EINTR).
std::optional<ExitStatus> try_reap(pid_t pid, bool* gone) {
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode_status(status);
    if (r == 0) return std::nullopt;
    if (errno == EINTR) continue;
    *gone = true;  // ECHILD: not our child, or already reaped
    return std::nullopt;
  }
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

// Waits until `pid` is reapable or `timeout` passes (0 = forever); returns its
// status, nullopt on timeout. Uses a pidfd when the kernel has one, else polls.
std::optional<ExitStatus> wait_with_pidfd(pid_t pid, Duration timeout) {
  using Steady = std::chrono::steady_clock;
  const bool forever = timeout.count() <= 0;
  const auto deadline = Steady::now() + timeout;
  int fd = open_pidfd(pid);
  bool gone = false;
  for (;;) {
    if (auto st = try_reap(pid, &gone)) {
      if (fd >= 0) close(fd);
      return st;
    }
    if (gone) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
    if (!forever && left.count() <= 0) break;
    int wait_ms = forever ? -1 : static_cast<int>(left.count());
    if (fd >= 0) {
      pollfd p{fd, POLLIN, 0};
      poll(&p, 1, wait_ms);
    } else {
      int slice = forever ? 20 : std::min(wait_ms, 20);
      std::this_thread::sleep_for(std::chrono::milliseconds(slice));
    }
  }
  if (fd >= 0) close(fd);
  if (gone) return ExitStatus{};  // cannot be waited for: report "unknown"
  return std::nullopt;
}

}  // namespace

Result<pid_t> spawn_process(const SpawnOptions& options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return make_error(ErrorCode::invalid_argument, "spawn: empty command");
  }
  SpawnActions actions;
  DROVER_TRY(add_file_actions(options, &actions.actions));
  SpawnAttr attr;
  DROVER_TRY(set_attributes(options, &attr.attr));

  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  if (options.env) {
    env_strings.reserve(options.env->size());
    for (const auto& [k, v] : *options.env) env_strings.push_back(k + "=" + v);
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
  }
  char** env = options.env ? envp.data() : environ;

  pid_t pid = 0;
  const bool search_path = options.argv[0].find('/') == std::string::npos;
  int rc = search_path ? posix_spawnp(&pid, argv[0], &actions.actions, &attr.attr, argv.data(), env)
                       : posix_spawn(&pid, argv[0], &actions.actions, &attr.attr, argv.data(), env);
  if (rc != 0) return errno_error(fmt::format("spawn {}", options.argv[0]), rc);
  return pid;
}

std::optional<ExitStatus> wait_process(pid_t pid, Duration timeout) {
  return wait_with_pidfd(pid, timeout);
}

ExitStatus terminate_process(pid_t pid, int sig, Duration grace, bool group) {
  auto send = [&](int s) {
    if (group) {
      ::kill(-pid, s);
    } else {
      ::kill(pid, s);
    }
  };
  send(sig);
  if (auto st = wait_process(pid, grace.count() > 0 ? grace : Duration{1})) return *st;
  send(SIGKILL);
  if (auto st = wait_process(pid, Duration{0})) return *st;
  return ExitStatus{};
}

std::filesystem::path executable_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return exe.parent_path();
}

}  // namespace drover
