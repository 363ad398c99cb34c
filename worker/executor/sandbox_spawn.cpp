#include "worker/executor/sandbox_spawn.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

#include "worker/executor/process_group_record.hpp"

namespace drover::worker {
namespace {

constexpr int kSetupFailed = 125;
constexpr int kStatusFd = 3;  // init's end of the status pipe
constexpr char kLaunched = 'L';  // init's first byte there: the task's process is past exec
// How long spawn_sandboxed waits for that byte before it returns anyway (an
// exec from a hung network file system, say): the task's timeout and kills
// apply only once it has returned.
constexpr int kLaunchWaitMs = 1000;

// The signals a worker (or an operator) sends to end or poke a task.
constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// ---- system calls that leave errno alone -------------------------------------
//
// On x86-64 init shares the worker's memory (CLONE_VM): copying a big,
// multi-threaded worker's page tables for every task, and the copy-on-write
// faults and cross-cpu TLB flushes the worker then takes on every page it
// writes, were a third of the cpu a short task cost. Sharing memory also means
// sharing the cloning thread's thread-local storage, errno included: the
// children must not write it, so they make their system calls here, which
// return -errno instead. Elsewhere init is a copy, as fork would make it.
#if defined(__x86_64__)
constexpr bool kShareMemory = true;

long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return ret;
}

// clone(2) whose child runs fn(arg) on `stack_top` (16-byte aligned), then exits
// with its result. Returns the child's pid or -errno.
long sys_clone(unsigned long flags, char* stack_top, int (*fn)(void*), void* arg) {
  long ret;
  register long r10 asm("r10") = 0;  // child_tid
  register long r8 asm("r8") = 0;    // tls
  register long r12 asm("r12") = reinterpret_cast<long>(fn);  // kept across the system call
  register long r13 asm("r13") = reinterpret_cast<long>(arg);
  asm volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t"  // the child, on its own stack
      "mov %%r13, %%rdi\n\t"
      "call *%%r12\n\t"
      "mov %%eax, %%edi\n\t"
      "mov %[exit], %%eax\n\t"
      "syscall\n\t"
      "hlt\n"
      "1:"
      : "=a"(ret)
      : "a"(SYS_clone), "D"(flags), "S"(stack_top), "d"(0), "r"(r10), "r"(r8), "r"(r12),
        "r"(r13), [exit] "i"(SYS_exit)
      : "rcx", "r11", "memory");
  return ret;
}
#else
constexpr bool kShareMemory = false;

long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  const long ret = syscall(n, a, b, c, d, e, f);
  return ret == -1 ? -errno : ret;
}

long sys_clone(unsigned long flags, char* stack_top, int (*fn)(void*), void* arg) {
  const int ret = clone(fn, stack_top, static_cast<int>(flags), arg);
  return ret < 0 ? -errno : ret;
}
#endif

template <class T>
long addr(T* p) {
  return reinterpret_cast<long>(p);
}

// Everything the children use, laid out by the worker before the clone, and
// the stacks they run on. Freed only after init was reaped: init runs on it
// (and, sharing the worker's memory, would write freed memory otherwise).
struct Plan {
  explicit Plan(SandboxedCommand command) : c(std::move(command)) {}
  const SandboxedCommand c;
  std::vector<std::string> env_strings;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string path_list;    // the task's PATH
  std::string keep_scratch; // a writable copy of c.keep for mkdirs
  // Kept sandboxes: the kept dir and the logs relative to c.hide, which
  // their init reaches through a descriptor opened before it was hidden.
  std::string keep_rel, stdout_rel, stderr_rel;
  int report_fd = -1;
  // Not zeroed: only the pages the children use are ever touched (zeroing
  // cost 2 ms of page faults a task here). The children's code is short and
  // does not recurse; 64 KiB is many times what it uses.
  static constexpr std::size_t kExecBuf = PATH_MAX + 1;
  static constexpr std::size_t kStack = 64 * 1024;
  char exec_buf[kExecBuf];
  alignas(16) char init_stack[kStack];
  alignas(16) char task_stack[kStack];  // the task's, until its exec
};

// ---- in the children: async-signal-safe, errno-free -------------------------

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
  sys(SYS_write, STDERR_FILENO, addr(line), static_cast<long>(n));
}

[[noreturn]] void leave(int code) {
  for (;;) sys(SYS_exit_group, code);
}

// `ret` is a sys() result: negative is -errno.
[[noreturn]] void fail(const char* what, const char* arg, long ret) {
  say(what, arg, static_cast<int>(-ret));
  leave(kSetupFailed);
}

// The kernel's struct sigaction, for SIG_DFL (no handler, so no restorer).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  std::uint64_t mask;
};

void default_signal(int sig) {
  KernelSigaction dfl{SIG_DFL, 0, nullptr, 0};
  sys(SYS_rt_sigaction, sig, addr(&dfl), 0, sizeof dfl.mask);
}

void set_signal_mask(const sigset_t* set) {
  sys(SYS_rt_sigprocmask, SIG_SETMASK, addr(set), 0, NSIG / 8);
}

void open_as(int target, const char* path, int flags, int dir = AT_FDCWD) {
  const long fd = sys(SYS_openat, dir, addr(path), flags | O_CLOEXEC, 0644);
  if (fd < 0) fail("open", path, fd);
  if (fd != target) {
    if (long rc = sys(SYS_dup3, fd, target, 0); rc < 0) fail("dup2", path, rc);
    sys(SYS_close, fd);
  }
}

// A log opened empty: truncated only when it is not (a reused attempt tree's
// logs were emptied when it was recycled), since even an empty file's
// truncation updates its times and so writes its inode.
void open_log(int target, const char* path, int dir = AT_FDCWD) {
  open_as(target, path, O_WRONLY | O_CREAT, dir);
  struct stat st;
  if (long rc = sys(SYS_fstat, target, addr(&st)); rc != 0) fail("stat", path, rc);
  if (st.st_size != 0) {
    if (long rc = sys(SYS_ftruncate, target, 0); rc != 0) fail("truncate", path, rc);
  }
}

void mkdirs(char* path) {
  for (char* p = path + 1;; ++p) {
    if (*p != '/' && *p != '\0') continue;
    const char saved = *p;
    *p = '\0';
    if (long rc = sys(SYS_mkdirat, AT_FDCWD, addr(path), 0755); rc != 0 && rc != -EEXIST) {
      fail("mkdir", path, rc);
    }
    *p = saved;
    if (saved == '\0') return;
  }
}

long sys_mount(const char* source, const char* target, const char* type, unsigned long flags,
               const char* data) {
  return sys(SYS_mount, addr(source), addr(target), addr(type), static_cast<long>(flags), addr(data));
}

// The mounts every sandbox makes: none shared with the worker's namespace,
// `hide` (the work dir) under an empty tmpfs, a /proc of this pid namespace.
void make_mounts_private() {
  if (long rc = sys_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr); rc != 0) {
    fail("make mounts private", nullptr, rc);
  }
}

void hide_dir(const char* hide) {
  if (long rc = sys_mount("drover-hidden", hide, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "mode=0755,size=64k,nr_inodes=4096");
      rc != 0) {
    fail("hide", hide, rc);
  }
}

void mount_proc() {
  if (long rc = sys_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
      rc != 0) {
    fail("mount", "/proc", rc);
  }
}

// Binds the attempt's dir, open as `kept` (opened in this namespace before
// it was hidden: a mount of the worker's cannot be bound here), back where
// it is, and closes `kept`.
void bind_back(long kept, Plan& p) {
  mkdirs(p.keep_scratch.data());
  // "/proc/self/fd/N" names the dir opened before it was hidden.
  char source[32] = "/proc/self/fd/";
  std::size_t n = std::strlen(source);
  char digits[24];
  int len = 0;
  for (long v = kept; len == 0 || v > 0; v /= 10) digits[len++] = static_cast<char>('0' + v % 10);
  while (len > 0) source[n++] = digits[--len];
  source[n] = '\0';
  if (long rc = sys_mount(source, p.c.keep.c_str(), nullptr, MS_BIND | MS_REC, nullptr); rc != 0) {
    fail("keep", p.c.keep.c_str(), rc);
  }
  sys(SYS_close, kept);
}

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

long sys_execve(const char* path, Plan& p) {
  return sys(SYS_execve, addr(path), addr(p.argv.data()), addr(p.envp.data()));
}

// execvp with the task's PATH, into a buffer laid out before the clone.
[[noreturn]] void exec_command(Plan& p) {
  const char* name = p.argv[0];
  long err = -ENOENT;
  if (std::strchr(name, '/') != nullptr) {
    err = sys_execve(name, p);
  } else {
    bool denied = false;
    const char* dir = p.path_list.c_str();
    for (;;) {
      const char* end = std::strchr(dir, ':');
      const std::size_t len = end != nullptr ? static_cast<std::size_t>(end - dir) : std::strlen(dir);
      std::size_t n = 0;
      char* buf = p.exec_buf;
      for (std::size_t i = 0; i < len && n + 1 < Plan::kExecBuf; ++i) buf[n++] = dir[i];
      if (len == 0) buf[n++] = '.';  // an empty PATH entry is the cwd
      buf[n] = '\0';
      append(buf, Plan::kExecBuf, &n, "/");
      append(buf, Plan::kExecBuf, &n, name);
      const long rc = sys_execve(buf, p);
      if (rc == -EACCES) denied = true;
      if (rc != -ENOENT && rc != -ENOTDIR && rc != -EACCES) {
        err = rc;
        break;
      }
      if (end == nullptr) {
        err = denied ? -EACCES : -ENOENT;
        break;
      }
      dir = end + 1;
    }
  }
  say("cannot execute", name, static_cast<int>(-err));
  leave(err == -ENOENT ? 127 : 126);
}

// The task's process: the user, privileges, cwd and signals it runs with. It
// shares init's memory (vfork) until it execs or exits.
int run_task(void* plan) {
  Plan& p = *static_cast<Plan*>(plan);
  sys(SYS_close, kStatusFd);
  sys(SYS_setpgid, 0, 0);
  const SandboxedCommand& c = p.c;
  if (c.uid) {
    if (long rc = sys(SYS_setgroups, static_cast<long>(c.groups.size()), addr(c.groups.data())); rc != 0) {
      fail("setgroups", nullptr, rc);
    }
    if (long rc = sys(SYS_setresgid, c.gid, c.gid, c.gid); rc != 0) fail("setgid", nullptr, rc);
    if (long rc = sys(SYS_setresuid, *c.uid, *c.uid, *c.uid); rc != 0) fail("setuid", nullptr, rc);
  }
  // Nothing the task runs (setuid programs, file capabilities) gains privileges.
  if (long rc = sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); rc != 0) fail("no_new_privs", nullptr, rc);
  if (!c.cwd.empty()) {
    if (long rc = sys(SYS_chdir, addr(c.cwd.c_str())); rc != 0) fail("chdir", c.cwd.c_str(), rc);
  }
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) default_signal(sig);
  }
  sigset_t none;
  sigemptyset(&none);
  set_signal_mask(&none);
  exec_command(p);
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
  if (long rc = sys_mount("mqueue", dir, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr); rc != 0) {
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
  const long kept = sys(SYS_openat, kHideFd, addr(p.keep_rel.c_str()), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (kept < 0) fail("open", p.c.keep.c_str(), kept);
  bind_back(kept, p);
  copy_str(k.bound, sizeof k.bound, p.c.keep.c_str());
}

// Runs one task: its own IPC namespace, logs and dir, then waits for it,
// passing signals on, and kills what it left. Returns how it ended.
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
  const long hide = sys(SYS_openat, AT_FDCWD, addr(k.hide.c_str()), O_PATH | O_DIRECTORY | O_CLOEXEC);
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

// Waits (boundedly) until init says the task is past its exec, or has ended.
// Returning at once instead made the task start later on an idle worker: init
// and then the task queued behind the worker's thread on the same cpu, which
// went on recording the attempt and telling the master (part b of
// tests/bench/perf.py: 1.0 -> 0.8 ms from the clone to the task's first
// instruction, p50). Blocked here, the thread leaves that cpu to them.
// False when init ended before the task was launched.
bool wait_launched(int status_fd) {
  pollfd fd{status_fd, POLLIN, 0};
  while (poll(&fd, 1, kLaunchWaitMs) < 0 && errno == EINTR) {
  }
  if (fd.revents == 0) return true;  // still setting up: the marker stays for read_task_status
  char byte = 0;
  ssize_t n;
  while ((n = read(status_fd, &byte, 1)) < 0 && errno == EINTR) {
  }
  return n != 0;
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
  const pid_t pid = clone(run_kept_init, state->init_stack + Plan::kStack,
                          CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_VM | SIGCHLD, state.get());
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
