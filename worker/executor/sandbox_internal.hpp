#pragma once
// What the two kinds of sandbox pid 1 share (sandbox_spawn.cpp: one made for
// each task; kept_sandbox.cpp: one kept from task to task): the plan laid out
// before the clone, system calls that leave errno alone, and the
// async-signal-safe steps both children take. Internal to worker/executor.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "worker/executor/sandbox_spawn.hpp"

namespace drover::worker::sandbox_internal {

inline constexpr int kSetupFailed = 125;
inline constexpr int kStatusFd = 3;  // init's end of the status pipe
inline constexpr char kLaunched = 'L';  // init's first byte there: the task's process is past exec
// How long spawn_sandboxed waits for that byte before it returns anyway (an
// exec from a hung network file system, say): the task's timeout and kills
// apply only once it has returned.
inline constexpr int kLaunchWaitMs = 1000;

// The signals a worker (or an operator) sends to end or poke a task.
inline constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

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
inline constexpr bool kShareMemory = true;

inline long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
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
inline long sys_clone(unsigned long flags, char* stack_top, int (*fn)(void*), void* arg) {
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
inline constexpr bool kShareMemory = false;

inline long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  const long ret = syscall(n, a, b, c, d, e, f);
  return ret == -1 ? -errno : ret;
}

inline long sys_clone(unsigned long flags, char* stack_top, int (*fn)(void*), void* arg) {
  const int ret = clone(fn, stack_top, static_cast<int>(flags), arg);
  return ret < 0 ? -errno : ret;
}
#endif

template <class T>
inline long addr(T* p) {
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
inline void append(char* buf, std::size_t size, std::size_t* pos, const char* s) {
  while (*s != '\0' && *pos + 1 < size) buf[(*pos)++] = *s++;
  buf[*pos] = '\0';
}

inline void say(const char* what, const char* arg, int err) {
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

[[noreturn]] inline void leave(int code) {
  for (;;) sys(SYS_exit_group, code);
}

// `ret` is a sys() result: negative is -errno.
[[noreturn]] inline void fail(const char* what, const char* arg, long ret) {
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

inline void default_signal(int sig) {
  KernelSigaction dfl{SIG_DFL, 0, nullptr, 0};
  sys(SYS_rt_sigaction, sig, addr(&dfl), 0, sizeof dfl.mask);
}

inline void set_signal_mask(const sigset_t* set) {
  sys(SYS_rt_sigprocmask, SIG_SETMASK, addr(set), 0, NSIG / 8);
}

inline void open_as(int target, const char* path, int flags, int dir = AT_FDCWD) {
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
inline void open_log(int target, const char* path, int dir = AT_FDCWD) {
  open_as(target, path, O_WRONLY | O_CREAT, dir);
  struct stat st;
  if (long rc = sys(SYS_fstat, target, addr(&st)); rc != 0) fail("stat", path, rc);
  if (st.st_size != 0) {
    if (long rc = sys(SYS_ftruncate, target, 0); rc != 0) fail("truncate", path, rc);
  }
}

inline void mkdirs(char* path) {
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

inline long sys_mount(const char* source, const char* target, const char* type, unsigned long flags,
               const char* data) {
  return sys(SYS_mount, addr(source), addr(target), addr(type), static_cast<long>(flags), addr(data));
}

// The mounts every sandbox makes: none shared with the worker's namespace,
// `hide` (the work dir) under an empty tmpfs, a /proc of this pid namespace.
inline void make_mounts_private() {
  if (long rc = sys_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr); rc != 0) {
    fail("make mounts private", nullptr, rc);
  }
}

inline void hide_dir(const char* hide) {
  if (long rc = sys_mount("drover-hidden", hide, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "mode=0755,size=64k,nr_inodes=4096");
      rc != 0) {
    fail("hide", hide, rc);
  }
}

inline void mount_proc() {
  if (long rc = sys_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
      rc != 0) {
    fail("mount", "/proc", rc);
  }
}

// Binds the attempt's dir, open as `kept` (opened in this namespace before
// it was hidden: a mount of the worker's cannot be bound here), back where
// it is, and closes `kept`.
inline void bind_back(long kept, Plan& p) {
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

inline long sys_execve(const char* path, Plan& p) {
  return sys(SYS_execve, addr(path), addr(p.argv.data()), addr(p.envp.data()));
}

// execvp with the task's PATH, into a buffer laid out before the clone.
[[noreturn]] inline void exec_command(Plan& p) {
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
inline int run_task(void* plan) {
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

// ---- in the worker -----------------------------------------------------------

inline Error errno_error(const std::string& what, int err) {
  return make_error(ErrorCode::io, fmt::format("{}: {}", what, std::strerror(err)));
}

inline void fill_plan(Plan& p) {
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
inline bool wait_launched(int status_fd) {
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

}  // namespace drover::worker::sandbox_internal
