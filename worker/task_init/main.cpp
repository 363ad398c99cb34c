// drover-task-init: starts one task in a private mount, pid and IPC namespace
// (SPEC §8: each attempt's sandbox is private to it). A root worker runs it as
// the prefix of every task's command line:
//
//   drover-task-init [--user UID:GID] [--hide DIR]... [--keep DIR]...
//                    [--join CGROUP_PROCS_FILE] -- COMMAND...
//
// --join moves this process into the attempt's memory cgroup before anything
// else, so no process of the task is ever outside it.
//
// Three processes:
//   outer  the worker's child, in the worker's namespaces. It waits for `init`
//          and ends the way the task ended (same exit code or same signal), so
//          the worker sees the task's status as if it had run it directly.
//   init   pid 1 of the new pid namespace. It hides every --hide directory
//          under an empty tmpfs, binds each --keep directory back at its path,
//          mounts a /proc that shows only the namespace's processes, then
//          starts the task, passes on the signals the worker sends (SIGTERM
//          first) to every process in the namespace and reaps orphans. When
//          the task ends, init sends its status to `outer` and exits; the
//          kernel then kills whatever the task left behind, setsid or not.
//   task   its own process group inside the namespace; it drops to --user
//          (with that user's groups), sets no_new_privs, restores default
//          signal handling and execs COMMAND (looked up in PATH).
//
// `--probe` sets up the namespaces and mounts, then exits 0 without a task:
// the worker runs it once at start to learn whether isolation works here (it
// does not inside most containers, which lack CAP_SYS_ADMIN).
//
// Exit 125: the sandbox could not be set up (the reason is on stderr, which
// is the task's stderr file); 126/127: COMMAND could not be executed.
//
// Plain POSIX and Linux calls only: no library of the project, so it starts fast.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kSetupFailed = 125;

// The signals a worker (or an operator) sends to end or poke a task.
constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

struct Options {
  bool probe = false;
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<std::string> hide;
  std::vector<std::string> keep;
  std::string join;
  std::vector<char*> command;  // null-terminated
};

[[noreturn]] void fail(const std::string& what, int err = 0) {
  std::string line = "drover-task-init: " + what;
  if (err != 0) line += std::string(": ") + std::strerror(err);
  line += "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
  _exit(kSetupFailed);
}

bool parse_id(const char* text, unsigned long* out) {
  char* end = nullptr;
  errno = 0;
  *out = std::strtoul(text, &end, 10);
  return errno == 0 && end != text && *end == '\0';
}

Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--probe") {
      o.probe = true;
      continue;
    }
    if (i + 1 >= argc) fail("option " + arg + " needs a value");
    const char* value = argv[++i];
    if (arg == "--hide" || arg == "--keep") {
      if (value[0] != '/') fail(arg + " needs an absolute path, got \"" + value + "\"");
      (arg == "--hide" ? o.hide : o.keep).emplace_back(value);
    } else if (arg == "--join") {
      o.join = value;
    } else if (arg == "--user") {
      const char* colon = std::strchr(value, ':');
      unsigned long uid = 0, gid = 0;
      if (colon == nullptr || !parse_id(std::string(value, colon).c_str(), &uid) ||
          !parse_id(colon + 1, &gid)) {
        fail(std::string("--user needs UID:GID, got \"") + value + "\"");
      }
      o.switch_user = true;
      o.uid = static_cast<uid_t>(uid);
      o.gid = static_cast<gid_t>(gid);
    } else {
      fail("unknown option " + arg);
    }
  }
  for (; i < argc; ++i) o.command.push_back(argv[i]);
  if (o.command.empty() && !o.probe) fail("no command after --");
  o.command.push_back(nullptr);
  return o;
}

// The supplementary groups of the user owning `uid` (just `gid` if it has no
// passwd entry). Looked up before any fork: NSS may start threads.
std::vector<gid_t> groups_of(uid_t uid, gid_t gid) {
  std::vector<gid_t> groups{gid};
  struct passwd* pw = getpwuid(uid);
  if (pw == nullptr) return groups;
  int count = 64;
  for (int round = 0; round < 4; ++round) {
    groups.assign(static_cast<std::size_t>(count), 0);
    int n = count;
    if (getgrouplist(pw->pw_name, gid, groups.data(), &n) >= 0) {
      groups.resize(static_cast<std::size_t>(n));
      return groups;
    }
    count = n > count ? n : count * 2;
  }
  fail("cannot list the groups of uid " + std::to_string(uid));
}

void mkdirs(const std::string& path) {
  for (std::size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    const std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) fail("mkdir " + prefix, errno);
  }
}

// In init, before the task exists: the mounts that make the attempt private.
void make_private_view(const Options& o) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    fail("make mounts private", errno);
  }
  // Opened before anything is hidden; bound back through /proc/self/fd.
  std::vector<int> kept;
  for (const auto& dir : o.keep) {
    int fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("open " + dir, errno);
    kept.push_back(fd);
  }
  for (const auto& dir : o.hide) {
    if (mount("drover-hidden", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=0755,size=64k,nr_inodes=4096") != 0) {
      fail("hide " + dir, errno);
    }
  }
  for (std::size_t i = 0; i < o.keep.size(); ++i) {
    mkdirs(o.keep[i]);
    const std::string source = "/proc/self/fd/" + std::to_string(kept[i]);
    if (mount(source.c_str(), o.keep[i].c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      fail("keep " + o.keep[i], errno);
    }
    close(kept[i]);
  }
  // A /proc of this pid namespace: other tasks' processes (and through them
  // their cwd, environment and files) are not there.
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    fail("mount /proc", errno);
  }
}

void forward(int sig) { kill(-1, sig); }  // every process of the namespace but init

// In the task's process, after fork: the user, privileges and signals it runs with.
[[noreturn]] void exec_task(const Options& o, const std::vector<gid_t>& groups,
                            const sigset_t& original_mask) {
  setpgid(0, 0);
  if (o.switch_user) {
    if (setgroups(groups.size(), groups.data()) != 0) fail("setgroups", errno);
    if (setresgid(o.gid, o.gid, o.gid) != 0) fail("setgid", errno);
    if (setresuid(o.uid, o.uid, o.uid) != 0) fail("setuid", errno);
  }
  // Nothing the task runs (setuid programs, file capabilities) gains privileges.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs", errno);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigprocmask(SIG_SETMASK, &original_mask, nullptr);
  execvp(o.command[0], o.command.data());
  const int err = errno;
  std::string line = std::string("drover-task-init: cannot execute ") + o.command[0] + ": " +
                     std::strerror(err) + "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
  _exit(err == ENOENT ? 127 : 126);
}

// Pid 1 of the namespace. Returns never; `report` gets the task's wait status.
[[noreturn]] void run_init(const Options& o, const std::vector<gid_t>& groups, int report,
                           const sigset_t& original_mask) {
  make_private_view(o);
  if (o.probe) _exit(0);
  struct sigaction fwd {};
  fwd.sa_handler = forward;
  sigemptyset(&fwd.sa_mask);
  for (int sig : kForwarded) sigaction(sig, &fwd, nullptr);
  // Signals stay blocked until the task exists, so none is passed on to nobody.
  pid_t task = fork();
  if (task < 0) fail("fork", errno);
  if (task == 0) {
    close(report);
    exec_task(o, groups, original_mask);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) _exit(kSetupFailed);  // cannot happen: the task is our child
    if (pid != task) continue;         // an orphan the task left: reaped
    (void)!write(report, &status, sizeof status);
    _exit(0);  // the kernel kills the rest of the namespace
  }
}

// Ends this process the way `status` says a process ended.
[[noreturn]] void end_like(int status) {
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  struct rlimit no_core {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // the task's crash is not ours to dump
  signal(sig, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  sigprocmask(SIG_UNBLOCK, &only, nullptr);
  kill(getpid(), sig);
  _exit(128 + sig);  // a signal whose default is not to end the process
}

// Moves this process into the cgroup whose cgroup.procs file is `procs` ("0": the writer).
void join_cgroup(const std::string& procs) {
  int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("open " + procs, errno);
  if (write(fd, "0", 1) != 1) fail("join " + procs, errno);
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (!o.join.empty()) join_cgroup(o.join);
  const std::vector<gid_t> groups = o.switch_user ? groups_of(o.uid, o.gid) : std::vector<gid_t>{};

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) fail("pipe", errno);
  if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC) != 0) fail("unshare", errno);

  // `outer` ignores the worker's signals (init passes them to the task) but
  // still dies with SIGKILL, which also ends init and the whole namespace.
  sigset_t original_mask, forwarded;
  sigemptyset(&forwarded);
  for (int sig : kForwarded) sigaddset(&forwarded, sig);
  sigprocmask(SIG_BLOCK, &forwarded, &original_mask);
  pid_t init = fork();
  if (init < 0) fail("fork", errno);
  if (init == 0) {
    close(pipe_fds[0]);
    run_init(o, groups, pipe_fds[1], original_mask);
  }
  close(pipe_fds[1]);
  int status = 0;
  while (waitpid(init, &status, 0) < 0) {
    if (errno != EINTR) fail("wait", errno);
  }
  int task_status = 0;
  ssize_t n;
  do {
    n = read(pipe_fds[0], &task_status, sizeof task_status);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof task_status)) end_like(task_status);
  end_like(status);  // init ended without a task status: set-up failed, or SIGKILL
}
