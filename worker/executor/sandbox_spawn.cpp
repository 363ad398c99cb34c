#include "worker/executor/sandbox_spawn.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

namespace drover::worker {
namespace {

constexpr int kSetupFailed = 125;
constexpr int kStatusFd = 3;  // init's end of the status pipe

// The signals a worker (or an operator) sends to end or poke a task.
constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// Everything the children use, laid out by the worker before the clone.
struct Plan {
  explicit Plan(const SandboxedCommand& command) : c(command) {}
  const SandboxedCommand& c;
  std::vector<std::string> env_strings;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string path_list;    // the task's PATH
  std::string keep_scratch; // a writable copy of c.keep for mkdirs
  // Not zeroed: only the pages the children use are ever touched (zeroing the
  // stack cost 2 ms of page faults a task here).
  static constexpr std::size_t kExecBuf = PATH_MAX + 1;
  static constexpr std::size_t kTaskStack = 256 * 1024;
  std::unique_ptr<char[]> exec_buf{new char[kExecBuf]};
  std::unique_ptr<char[]> task_stack{new char[kTaskStack]};  // the task's, until its exec
  int report_fd = -1;
};

// ---- in the children: async-signal-safe only --------------------------------

// Appends `s` to the buffer at *pos (truncating at its end).
void append(char* buf, std::size_t size, std::size_t* pos, const char* s) {
  while (*s != '\0' && *pos + 1 < size) buf[(*pos)++] = *s++;
  buf[*pos] = '\0';
}

void say(const char* what, const char* arg, int err) {
  char line[512];
  std::size_t n = 0;
  append(line, sizeof line, &n, "drover-worker: task sandbox: ");
  append(line, sizeof line, &n, what);
  if (arg != nullptr) {
    append(line, sizeof line, &n, " ");
    append(line, sizeof line, &n, arg);
  }
  if (err != 0) {
    const char* desc = strerrordesc_np(err);
    append(line, sizeof line, &n, ": ");
    append(line, sizeof line, &n, desc != nullptr ? desc : "unknown error");
  }
  append(line, sizeof line, &n, "\n");
  (void)!write(STDERR_FILENO, line, n);
}

[[noreturn]] void fail(const char* what, const char* arg, int err) {
  say(what, arg, err);
  _exit(kSetupFailed);
}

// fork(2) without glibc's fork handlers, which take locks the worker's other
// threads may hold (they do not exist in the copy).
pid_t raw_clone(unsigned long flags) {
  return static_cast<pid_t>(syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0));
}

void default_signals() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
}

void open_as(int target, const char* path, int flags) {
  int fd = open(path, flags | O_CLOEXEC, 0644);
  if (fd < 0) fail("open", path, errno);
  if (fd != target) {
    if (dup2(fd, target) < 0) fail("dup2", path, errno);
    close(fd);
  }
}

void mkdirs(char* path) {
  for (char* p = path + 1;; ++p) {
    if (*p != '/' && *p != '\0') continue;
    const char saved = *p;
    *p = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) fail("mkdir", path, errno);
    *p = saved;
    if (saved == '\0') return;
  }
}

// The mounts that make the attempt private: the work dir hidden, the
// attempt's dir bound back, a /proc of this pid namespace only.
void make_private_view(Plan& p) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    fail("make mounts private", nullptr, errno);
  }
  // Opened in this namespace (a mount of the worker's cannot be bound here).
  int kept = -1;
  if (!p.c.keep.empty()) {
    kept = open(p.c.keep.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (kept < 0) fail("open", p.c.keep.c_str(), errno);
  }
  const char* hide = p.c.hide.c_str();
  if (mount("drover-hidden", hide, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
            "mode=0755,size=64k,nr_inodes=4096") != 0) {
    fail("hide", hide, errno);
  }
  if (kept >= 0) {
    mkdirs(p.keep_scratch.data());
    // "/proc/self/fd/N" names the dir opened before it was hidden.
    char source[32] = "/proc/self/fd/";
    std::size_t n = std::strlen(source);
    char digits[12];
    int len = 0;
    for (int v = kept; len == 0 || v > 0; v /= 10) digits[len++] = static_cast<char>('0' + v % 10);
    while (len > 0) source[n++] = digits[--len];
    source[n] = '\0';
    if (mount(source, p.c.keep.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      fail("keep", p.c.keep.c_str(), errno);
    }
    close(kept);
  }
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    fail("mount", "/proc", errno);
  }
}

// execvp with the task's PATH, into a buffer laid out before the clone.
[[noreturn]] void exec_command(Plan& p) {
  const char* name = p.argv[0];
  int err = ENOENT;
  if (std::strchr(name, '/') != nullptr) {
    execve(name, p.argv.data(), p.envp.data());
    err = errno;
  } else {
    bool denied = false;
    const char* dir = p.path_list.c_str();
    for (;;) {
      const char* end = std::strchr(dir, ':');
      const std::size_t len = end != nullptr ? static_cast<std::size_t>(end - dir) : std::strlen(dir);
      std::size_t n = 0;
      char* buf = p.exec_buf.get();
      for (std::size_t i = 0; i < len && n + 1 < Plan::kExecBuf; ++i) buf[n++] = dir[i];
      if (len == 0) buf[n++] = '.';  // an empty PATH entry is the cwd
      buf[n] = '\0';
      append(buf, Plan::kExecBuf, &n, "/");
      append(buf, Plan::kExecBuf, &n, name);
      execve(buf, p.argv.data(), p.envp.data());
      if (errno == EACCES) denied = true;
      if (errno != ENOENT && errno != ENOTDIR && errno != EACCES) {
        err = errno;
        break;
      }
      if (end == nullptr) {
        err = denied ? EACCES : ENOENT;
        break;
      }
      dir = end + 1;
    }
  }
  say("cannot execute", name, err);
  _exit(err == ENOENT ? 127 : 126);
}

// The task's process: the user, privileges, cwd and signals it runs with. It
// shares init's memory (vfork) until it execs or exits.
int run_task(void* plan) {
  Plan& p = *static_cast<Plan*>(plan);
  close(kStatusFd);
  setpgid(0, 0);
  const SandboxedCommand& c = p.c;
  if (c.uid) {
    // Raw system calls: glibc's wrappers would signal the worker's threads.
    if (syscall(SYS_setgroups, c.groups.size(), c.groups.data()) != 0) fail("setgroups", nullptr, errno);
    if (syscall(SYS_setresgid, c.gid, c.gid, c.gid) != 0) fail("setgid", nullptr, errno);
    if (syscall(SYS_setresuid, *c.uid, *c.uid, *c.uid) != 0) fail("setuid", nullptr, errno);
  }
  // Nothing the task runs (setuid programs, file capabilities) gains privileges.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs", nullptr, errno);
  if (!c.cwd.empty() && chdir(c.cwd.c_str()) != 0) fail("chdir", c.cwd.c_str(), errno);
  default_signals();
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  exec_command(p);
}

void forward(int sig) { kill(-1, sig); }  // every process of the namespace but init

// Pid 1 of the new namespaces. Every signal is blocked on entry.
[[noreturn]] void run_init(Plan& p) {
  const SandboxedCommand& c = p.c;
  default_signals();
  setpgid(0, 0);
  if (!c.cgroup_procs.empty()) {
    int fd = open(c.cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) fail("join", c.cgroup_procs.c_str(), errno);
    close(fd);
  }
  if (!c.probe) open_as(STDIN_FILENO, "/dev/null", O_RDONLY);
  if (!c.stdout_path.empty()) open_as(STDOUT_FILENO, c.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  if (!c.stderr_path.empty()) open_as(STDERR_FILENO, c.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  make_private_view(p);
  if (c.probe) _exit(0);
  // Only stdio and the status pipe stay open: the task must not hold the
  // worker's sockets (a killed worker's connections close when it dies).
  if (p.report_fd != kStatusFd && dup2(p.report_fd, kStatusFd) < 0) fail("dup2", nullptr, errno);
  fcntl(kStatusFd, F_SETFD, FD_CLOEXEC);
  syscall(SYS_close_range, kStatusFd + 1, ~0U, 0);

  struct sigaction fwd {};
  fwd.sa_handler = forward;
  sigemptyset(&fwd.sa_mask);
  for (int sig : kForwarded) sigaction(sig, &fwd, nullptr);
  // Signals stay blocked until the task exists, so none is passed on to nobody.
  // vfork: the task borrows init's memory until its exec, no page tables copied.
  char* stack_top = p.task_stack.get() + Plan::kTaskStack;
  const pid_t task = clone(run_task, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &p);
  if (task < 0) fail("fork", nullptr, errno);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) _exit(kSetupFailed);  // cannot happen: the task is our child
    if (pid != task) continue;         // an orphan the task left: reaped
    (void)!write(kStatusFd, &status, sizeof status);
    _exit(0);  // the kernel kills the rest of the namespace
  }
}

// ---- in the worker -----------------------------------------------------------

Error errno_error(const std::string& what, int err) {
  return make_error(ErrorCode::io, fmt::format("{}: {}", what, std::strerror(err)));
}

void fill_plan(Plan& p) {
  const SandboxedCommand& c = p.c;
  for (const auto& a : c.argv) p.argv.push_back(const_cast<char*>(a.c_str()));
  p.argv.push_back(nullptr);
  p.env_strings.reserve(c.env.size());
  for (const auto& [k, v] : c.env) p.env_strings.push_back(k + "=" + v);
  for (auto& s : p.env_strings) p.envp.push_back(s.data());
  p.envp.push_back(nullptr);
  auto path = c.env.find("PATH");
  p.path_list = path != c.env.end() ? path->second : "/bin:/usr/bin";
  p.keep_scratch = c.keep.string();
}

}  // namespace

Result<SandboxedProcess> spawn_sandboxed(const SandboxedCommand& command) {
  if (command.argv.empty() && !command.probe) {
    return make_error(ErrorCode::invalid_argument, "spawn: empty command");
  }
  Plan plan(command);
  fill_plan(plan);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  plan.report_fd = pipe_fds[1];

  // The children start with every signal blocked: a worker's handler must
  // never run in them.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = raw_clone(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC);
  if (pid == 0) run_init(plan);
  const int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(pipe_fds[1]);
  if (pid < 0) {
    close(pipe_fds[0]);
    return errno_error("clone into new namespaces", err);
  }
  setpgid(pid, pid);  // init does it too: whichever runs first, kill(-pid) reaches it
  return SandboxedProcess{pid, pipe_fds[0]};
}

std::vector<gid_t> user_groups(uid_t uid, gid_t gid) {
  std::vector<gid_t> groups{gid};
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return groups;
  int count = 64;
  for (int round = 0; round < 4; ++round) {
    groups.assign(static_cast<std::size_t>(count), 0);
    int n = count;
    if (getgrouplist(pw.pw_name, gid, groups.data(), &n) >= 0) {
      groups.resize(static_cast<std::size_t>(n));
      return groups;
    }
    count = n > count ? n : count * 2;
  }
  return {gid};
}

}  // namespace drover::worker
