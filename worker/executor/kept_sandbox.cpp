// KeptSandboxes (sandbox_spawn.hpp): sandboxes whose pid 1 runs one task
// after another.
#include <dirent.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <filesystem>
#include <memory>

#include "worker/executor/process_group_record.hpp"
#include "worker/executor/sandbox_internal.hpp"
#include "worker/executor/sandbox_spawn.hpp"

namespace drover::worker {
namespace {

using namespace sandbox_internal;

// ---- a kept sandbox's init ---------------------------------------------------

// Its descriptors, all close-on-exec (kStatusFd, as a one-task init's, is
// closed by run_task too).
constexpr int kCommandFd = 4;  // plans come in: one Plan* per task
constexpr int kHideFd = 5;     // the hidden dir, opened before it was hidden
constexpr int kNullFd = 6;     // /dev/null: stdio between tasks
constexpr int kQueuesFd = 7;   // the namespace's POSIX message queues (detached)

// What a kept init keeps from one task to the next. Allocated by the worker,
// freed only after init was reaped (init runs on it).
struct KeptState {
  std::string hide;
  int command_fd = -1;  // init's ends, as numbered in the worker
  int status_fd = -1;
  char bound[PATH_MAX] = {};  // the kept dir bound for the last task; "" none
  alignas(16) char init_stack[Plan::kStack];
};

void copy_str(char* to, std::size_t size, const char* from) {
  std::size_t n = 0;
  append(to, size, &n, from);
}

// Gives `fds` the numbers `to` (close-on-exec) and closes every other
// descriptor from `to[0]` on. Through numbers above both: a source may
// already hold one of the targets.
template <std::size_t N>
void renumber(long (&fds)[N], const int (&to)[N]) {
  for (long& fd : fds) {
    const long high = sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 1024);
    if (high < 0) fail("dup", nullptr, high);
    fd = high;
  }
  for (std::size_t i = 0; i < N; ++i) {
    if (long rc = sys(SYS_dup3, fds[i], to[i], O_CLOEXEC); rc < 0) fail("dup2", nullptr, rc);
  }
  sys(SYS_close_range, to[0] + N, ~0U, 0);
}

// The IPC objects the last task left in the sandbox's IPC namespace: System
// V shared memory, semaphores and message queues, and POSIX message queues.
// One query of each kind finds none, usually (a new IPC namespace per task
// cost 2% of all cpu for /bin/true tasks).
void clear_ipc() {
  struct shm_info shm {};
  const long shm_max = sys(SYS_shmctl, 0, SHM_INFO, addr(&shm));
  for (long i = 0; shm.used_ids > 0 && i <= shm_max; ++i) {
    struct shmid_ds ds;
    const long id = sys(SYS_shmctl, i, SHM_STAT_ANY, addr(&ds));
    if (id >= 0) sys(SYS_shmctl, id, IPC_RMID, 0);
  }
  struct seminfo sem {};
  const long sem_max = sys(SYS_semctl, 0, 0, SEM_INFO, addr(&sem));
  for (long i = 0; sem.semusz > 0 && i <= sem_max; ++i) {
    struct semid_ds ds;
    const long id = sys(SYS_semctl, i, 0, SEM_STAT_ANY, addr(&ds));
    if (id >= 0) sys(SYS_semctl, id, 0, IPC_RMID, 0);
  }
  struct msginfo msg {};
  const long msg_max = sys(SYS_msgctl, 0, MSG_INFO, addr(&msg));
  for (long i = 0; msg.msgpool > 0 && i <= msg_max; ++i) {
    struct msqid_ds ds;
    const long id = sys(SYS_msgctl, i, MSG_STAT_ANY, addr(&ds));
    if (id >= 0) sys(SYS_msgctl, id, IPC_RMID, 0);
  }
  alignas(8) char buf[1024];
  sys(SYS_lseek, kQueuesFd, 0, SEEK_SET);
  for (;;) {
    const long n = sys(SYS_getdents64, kQueuesFd, addr(buf), sizeof buf);
    if (n <= 0) break;
    for (long at = 0; at < n;) {
      const auto* entry = reinterpret_cast<const struct dirent64*>(buf + at);
      const char* name = entry->d_name;
      const bool dots = name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
      if (!dots) sys(SYS_unlinkat, kQueuesFd, addr(name), 0);
      at += entry->d_reclen;
    }
  }
}

// The namespace's message queue file system, opened and detached (tasks do
// not see it; the descriptor still reaches it). Made in the tmpfs at `hide`.
long open_queues(const char* hide) {
  char dir[PATH_MAX];
  copy_str(dir, sizeof dir, hide);
  std::size_t n = std::strlen(dir);
  append(dir, sizeof dir, &n, "/.drover-mqueue");
  if (long rc = sys(SYS_mkdirat, AT_FDCWD, addr(dir), 0700); rc != 0) fail("mkdir", dir, rc);
  const unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (long rc = sys_mount("mqueue", dir, "mqueue", flags, nullptr); rc != 0) {
    fail("mount", dir, rc);
  }
  const long fd = sys(SYS_openat, AT_FDCWD, addr(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open", dir, fd);
  sys(SYS_umount2, addr(dir), MNT_DETACH);
  sys(SYS_unlinkat, AT_FDCWD, addr(dir), AT_REMOVEDIR);
  return fd;
}

// Signals sent while no task ran were for nobody.
void clear_pending(const sigset_t* set) {
  struct timespec zero {};
  siginfo_t info;
  while (sys(SYS_rt_sigtimedwait, addr(set), addr(&info), addr(&zero), NSIG / 8) > 0) {
  }
}

// The last task's attempt dir unbound. An unmount waits for an RCU grace
// period: done after the task's end was reported, while the worker gets the
// next task ready, not on the way to starting it.
void unbind_kept(KeptState& k) {
  if (k.bound[0] == '\0') return;
  if (long rc = sys(SYS_umount2, addr(k.bound), MNT_DETACH); rc != 0) fail("unbind", k.bound, rc);
  sys(SYS_rmdir, addr(k.bound));
  k.bound[0] = '\0';
}

// The attempt's dir, bound where it is.
void bind_kept(KeptState& k, Plan& p) {
  unbind_kept(k);  // when the last one was not (its task's set-up failed)
  const long kept =
      sys(SYS_openat, kHideFd, addr(p.keep_rel.c_str()), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (kept < 0) fail("open", p.c.keep.c_str(), kept);
  bind_back(kept, p);
  copy_str(k.bound, sizeof k.bound, p.c.keep.c_str());
}

// Runs one task: opens its logs, binds its dir, waits for it while passing
// signals on, and kills what it left. Returns how it ended.
TaskEnd run_kept_task(KeptState& k, Plan& p, const sigset_t* wanted) {
  clear_pending(wanted);
  open_log(STDOUT_FILENO, p.stdout_rel.c_str(), kHideFd);
  open_log(STDERR_FILENO, p.stderr_rel.c_str(), kHideFd);
  bind_kept(k, p);
  const long task = sys_clone(CLONE_VM | CLONE_VFORK | SIGCHLD, p.task_stack + Plan::kStack,
                              run_task, &p);
  if (task < 0) fail("fork", nullptr, task);
  sys(SYS_write, kStatusFd, addr(&kLaunched), 1);
  TaskEnd end;
  for (bool ended = false; !ended;) {
    siginfo_t info;
    const long sig = sys(SYS_rt_sigtimedwait, addr(wanted), addr(&info), 0, NSIG / 8);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      sys(SYS_kill, -1, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      struct rusage usage {};
      const long pid = sys(SYS_wait4, -1, addr(&status), WNOHANG, addr(&usage));
      if (pid <= 0) break;
      if (pid != task) continue;
      end.status = status;
      auto us = [](const timeval& t) { return std::int64_t{t.tv_sec} * 1'000'000 + t.tv_usec; };
      end.cpu_us = us(usage.ru_utime) + us(usage.ru_stime);
      ended = true;
    }
  }
  // What the task left behind goes with it, as when a one-task init exits:
  // killed again after each reap, in case one forked as the first kill passed.
  do {
    sys(SYS_kill, -1, SIGKILL);
  } while (sys(SYS_wait4, -1, 0, 0, 0) > 0);
  sys(SYS_dup3, kNullFd, STDOUT_FILENO, 0);
  sys(SYS_dup3, kNullFd, STDERR_FILENO, 0);
  return end;
}

// Pid 1 of a kept sandbox: sets up the namespace's mounts once, then runs the
// tasks whose plans arrive, one at a time, until the worker closes its end.
int run_kept_init(void* state) {
  KeptState& k = *static_cast<KeptState*>(state);
  default_signal(SIGCHLD);
  sys(SYS_setpgid, 0, 0);
  const long hide =
      sys(SYS_openat, AT_FDCWD, addr(k.hide.c_str()), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (hide < 0) fail("open", k.hide.c_str(), hide);
  make_mounts_private();
  hide_dir(k.hide.c_str());
  mount_proc();
  const long null = sys(SYS_openat, AT_FDCWD, addr("/dev/null"), O_RDWR | O_CLOEXEC);
  if (null < 0) fail("open", "/dev/null", null);
  long fds[5] = {k.status_fd, k.command_fd, hide, null, open_queues(k.hide.c_str())};
  renumber(fds, {kStatusFd, kCommandFd, kHideFd, kNullFd, kQueuesFd});
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) sys(SYS_dup3, kNullFd, fd, 0);
  sigset_t wanted;
  sigemptyset(&wanted);
  sigaddset(&wanted, SIGCHLD);
  for (int sig : kForwarded) sigaddset(&wanted, sig);
  for (;;) {
    Plan* plan = nullptr;
    if (sys(SYS_read, kCommandFd, addr(&plan), sizeof plan) != sizeof plan) leave(0);
    const TaskEnd end = run_kept_task(k, *plan, &wanted);
    sys(SYS_write, kStatusFd, addr(&end), sizeof end);
    // Then, while the worker reports that task and readies the next one, what
    // the task left in the namespace's IPC and its dir's bind go.
    clear_ipc();
    unbind_kept(k);
  }
}

// The path of `path` below `base` (both made absolute), or "" when it is not
// below it.
std::string below(const std::filesystem::path& path, const std::filesystem::path& base) {
  std::error_code ec;
  const auto rel = std::filesystem::absolute(path, ec).lexically_normal().lexically_relative(
      std::filesystem::absolute(base, ec).lexically_normal());
  if (ec || rel.empty() || *rel.begin() == ".." || rel == ".") return {};
  return rel.string();
}

}  // namespace

bool KeptSandboxes::suits(const SandboxedCommand& c) {
  return kShareMemory && !c.probe && c.cgroup_procs.empty() && !c.hide.empty() && !c.keep.empty() &&
         !below(c.keep, c.hide).empty() && !below(c.stdout_path, c.keep).empty() &&
         !below(c.stderr_path, c.keep).empty();
}

Result<KeptSandbox> KeptSandboxes::make(const SandboxedCommand& command) {
  std::shared_ptr<KeptState> state(new KeptState);  // not make_shared: no zeroed stack
  state->hide = std::filesystem::absolute(command.hide).string();
  int commands[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, commands) != 0) {
    return errno_error("socketpair", errno);
  }
  int statuses[2];
  if (pipe2(statuses, O_CLOEXEC) != 0) {
    const int err = errno;
    close(commands[0]);
    close(commands[1]);
    return errno_error("pipe", err);
  }
  state->command_fd = commands[1];
  state->status_fd = statuses[1];
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_VM | SIGCHLD;
  const pid_t pid = clone(run_kept_init, state->init_stack + Plan::kStack, flags, state.get());
  const int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(commands[1]);
  close(statuses[1]);
  if (pid < 0) {
    close(commands[0]);
    close(statuses[0]);
    return errno_error("clone into new namespaces", err);
  }
  setpgid(pid, pid);
  fcntl(statuses[0], F_SETFL, O_NONBLOCK);
  KeptSandbox box{pid, commands[0], statuses[0], std::move(state), {}};
  if (!work_dir_.empty()) {
    box.record = kept_sandbox_file(work_dir_, pid);
    if (Status s = record_process_group(box.record, pid); !s.ok()) {
      // Its tasks are then not killed after a crash of the worker: a task's
      // own record would name the same group, so refuse the sandbox instead.
      discard(box);
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      return s.error();
    }
  }
  return box;
}

Result<SandboxedProcess> KeptSandboxes::spawn(SandboxedCommand command) {
  if (command.argv.empty()) return make_error(ErrorCode::invalid_argument, "spawn: empty command");
  std::shared_ptr<Plan> plan(new Plan(std::move(command)));
  fill_plan(*plan);
  plan->keep_rel = below(plan->c.keep, plan->c.hide);
  plan->stdout_rel = below(plan->c.stdout_path, plan->c.hide);
  plan->stderr_rel = below(plan->c.stderr_path, plan->c.hide);
  // An idle init may have died (killed by hand, say): then a new one.
  for (int tries = 0; tries < 3; ++tries) {
    KeptSandbox box;
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        box = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (box.pid < 0) {
      auto made = make(plan->c);
      if (!made.ok()) return made.error();
      box = std::move(*made);
    }
    // An init that ended before it launched the task (killed while idle, or
    // its set-up for this task failed) is replaced: the task never ran.
    Plan* raw = plan.get();
    if (send(box.command_fd, &raw, sizeof raw, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof raw) ||
        !wait_launched(box.status_fd)) {
      discard(box);
      while (waitpid(box.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      continue;
    }
    SandboxedProcess out;
    out.pid = box.pid;
    out.memory = std::move(plan);
    out.kept = std::move(box);
    return out;
  }
  return make_error(ErrorCode::io, "no kept sandbox would take the task");
}

void KeptSandboxes::give_back(KeptSandbox box) {
  {
    std::lock_guard lock(mu_);
    if (idle_.size() < keep_) {
      idle_.push_back(std::move(box));
      return;
    }
  }
  discard(box);  // its init reads the end of its plans and exits
  while (waitpid(box.pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

void KeptSandboxes::discard(KeptSandbox& box) {
  if (box.command_fd >= 0) close(box.command_fd);
  if (box.status_fd >= 0) close(box.status_fd);
  box.command_fd = box.status_fd = -1;
  if (!box.record.empty()) unlink(box.record.c_str());
  box.record.clear();
}

KeptSandboxes::~KeptSandboxes() {
  for (KeptSandbox& box : idle_) discard(box);
  for (KeptSandbox& box : idle_) {
    while (waitpid(box.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

std::optional<TaskEnd> read_kept_end(int status_fd, std::string& buf, bool& dead) {
  char chunk[64];
  for (;;) {
    const ssize_t n = read(status_fd, chunk, sizeof chunk);
    if (n > 0) {
      buf.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) dead = true;
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  // The launch marker, when spawn did not wait long enough to read it, then
  // the end: the lengths tell them apart (each is written whole).
  const std::size_t skip = buf.size() % sizeof(TaskEnd) == 1 ? 1 : 0;
  if (buf.size() - skip < sizeof(TaskEnd)) return std::nullopt;
  TaskEnd end;
  std::memcpy(&end, buf.data() + skip, sizeof end);
  return end;
}

}  // namespace drover::worker
