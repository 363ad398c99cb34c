#include "worker/executor/sandbox_spawn.hpp"

#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <memory>

#include "worker/executor/sandbox_internal.hpp"

namespace drover::worker {
namespace {

using namespace sandbox_internal;

// The mounts that make the attempt private: the work dir hidden, the
// attempt's dir bound back, a /proc of this pid namespace only.
void make_private_view(Plan& p) {
  make_mounts_private();
  long kept = -1;
  if (!p.c.keep.empty()) {
    kept = sys(SYS_openat, AT_FDCWD, addr(p.c.keep.c_str()), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (kept < 0) fail("open", p.c.keep.c_str(), kept);
  }
  hide_dir(p.c.hide.c_str());
  if (kept >= 0) bind_back(kept, p);
  mount_proc();
}

// Pid 1 of the new namespaces. Every signal stays blocked: init takes them
// with sigtimedwait, so no handler of the worker's (whose memory it may share)
// ever runs here, and none is needed.
int run_init(void* plan) {
  Plan& p = *static_cast<Plan*>(plan);
  const SandboxedCommand& c = p.c;
  default_signal(SIGCHLD);  // not ignored: init waits for its children
  sys(SYS_setpgid, 0, 0);
  if (!c.cgroup_procs.empty()) {
    const long fd = sys(SYS_openat, AT_FDCWD, addr(c.cgroup_procs.c_str()), O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("join", c.cgroup_procs.c_str(), fd);
    if (long rc = sys(SYS_write, fd, addr("0"), 1); rc != 1) fail("join", c.cgroup_procs.c_str(), rc);
    sys(SYS_close, fd);
  }
  if (!c.probe) open_as(STDIN_FILENO, "/dev/null", O_RDONLY);
  if (!c.stdout_path.empty()) open_log(STDOUT_FILENO, c.stdout_path.c_str());
  if (!c.stderr_path.empty()) open_log(STDERR_FILENO, c.stderr_path.c_str());
  make_private_view(p);
  if (c.probe) leave(0);
  // Only stdio and the status pipe stay open: the task must not hold the
  // worker's sockets (a killed worker's connections close when it dies).
  if (p.report_fd != kStatusFd) {
    if (long rc = sys(SYS_dup3, p.report_fd, kStatusFd, O_CLOEXEC); rc < 0) fail("dup2", nullptr, rc);
  }
  sys(SYS_fcntl, kStatusFd, F_SETFD, FD_CLOEXEC);
  sys(SYS_close_range, kStatusFd + 1, ~0U, 0);

  // vfork: the task borrows this memory until its exec, no page tables copied.
  const long task = sys_clone(CLONE_VM | CLONE_VFORK | SIGCHLD, p.task_stack + Plan::kStack,
                              run_task, &p);
  if (task < 0) fail("fork", nullptr, task);
  sys(SYS_write, kStatusFd, addr(&kLaunched), 1);  // the task exec'd, or exited trying
  sigset_t wanted;
  sigemptyset(&wanted);
  sigaddset(&wanted, SIGCHLD);
  for (int sig : kForwarded) sigaddset(&wanted, sig);
  for (;;) {
    siginfo_t info;
    const long sig = sys(SYS_rt_sigtimedwait, addr(&wanted), addr(&info), 0, NSIG / 8);
    if (sig < 0) continue;  // EINTR (a stop and continue)
    if (sig != SIGCHLD) {
      sys(SYS_kill, -1, sig);  // every process of the namespace but init
      continue;
    }
    for (;;) {  // signals coalesce: reap every child that ended
      int status = 0;
      const long pid = sys(SYS_wait4, -1, addr(&status), WNOHANG, 0);
      if (pid <= 0) break;
      if (pid != task) continue;  // an orphan the task left: reaped
      sys(SYS_write, kStatusFd, addr(&status), sizeof status);
      leave(0);  // the kernel kills the rest of the namespace
    }
  }
}

}  // namespace

std::optional<int> read_task_status(int status_fd) {
  // What is left is the marker (unless wait_launched read it), then the
  // status: the lengths tell them apart.
  char buf[1 + sizeof(int)];
  std::size_t n = 0;
  while (n < sizeof buf) {
    const ssize_t got = read(status_fd, buf + n, sizeof buf - n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    n += static_cast<std::size_t>(got);
  }
  const std::size_t skip = n == sizeof buf ? 1 : 0;
  if (n - skip != sizeof(int)) return std::nullopt;
  int status = 0;
  std::memcpy(&status, buf + skip, sizeof status);
  return status;
}

Result<SandboxedProcess> spawn_sandboxed(SandboxedCommand command) {
  if (command.argv.empty() && !command.probe) {
    return make_error(ErrorCode::invalid_argument, "spawn: empty command");
  }
  // Not make_shared: that would zero the stacks.
  std::shared_ptr<Plan> plan(new Plan(std::move(command)));
  fill_plan(*plan);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  plan->report_fd = pipe_fds[1];

  // The children start with every signal blocked: a worker's handler must
  // never run in them. glibc's clone() runs no fork handlers (their locks may
  // be held by threads that are not in a copy).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // Not with a memory limit: in the limit's cgroup the OOM killer would weigh
  // init by the worker's memory, and killing it kills every process that
  // shares it, the worker included.
  const bool share = kShareMemory && plan->c.cgroup_procs.empty();
  const int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | (share ? CLONE_VM : 0);
  const pid_t pid = clone(run_init, plan->init_stack + Plan::kStack, flags | SIGCHLD, plan.get());
  const int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(pipe_fds[1]);
  if (pid < 0) {
    close(pipe_fds[0]);
    return errno_error("clone into new namespaces", err);
  }
  setpgid(pid, pid);  // init does it too: whichever runs first, kill(-pid) reaches it
  wait_launched(pipe_fds[0]);
  return SandboxedProcess{pid, pipe_fds[0], std::move(plan), std::nullopt};
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

