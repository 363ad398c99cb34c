#pragma once
// Starts one task in a private mount, pid and IPC namespace (SPEC §8: each
// attempt's sandbox is private to it), straight from the worker: no helper
// binary is executed, so a sandboxed task costs one exec, like an unsandboxed
// one.
//
// Two processes:
//   init  the worker's child, cloned into the new namespaces (pid 1 there). It
//         joins the attempt's memory cgroup before anything else, hides the
//         worker's work dir under an empty tmpfs, binds the attempt's dir back,
//         mounts a /proc that shows only the namespace's processes, starts the
//         task, passes the worker's SIGTERM/INT/HUP/QUIT/USR1/USR2 to every
//         process in the namespace and reaps orphans. It writes a byte to the
//         status pipe once the task is past its exec; when the task ends, init
//         writes its wait status there and exits; the kernel then
//         kills whatever the task left behind, setsid or not.
//   task  init's child, in its own process group; it drops to the run_as user
//         (with that user's groups), sets no_new_privs, restores the default
//         signal dispositions and execs the command (looked up in the task's
//         PATH).
//
// On x86-64, for a task without a memory limit, init shares the worker's
// memory (CLONE_VM) instead of being a copy of it: no page tables are copied,
// and the worker takes no copy-on-write faults afterwards. (With a limit, init
// is a copy: the OOM killer of the limit's cgroup must never weigh, or kill,
// a process that shares the worker's memory.) The task borrows init's memory until its exec (vfork).
// Both run only async-signal-safe code on data laid out before the clone
// (Plan), make their system calls without glibc's wrappers (which would write
// errno, the cloning thread's), never allocate or lock, and run no signal
// handler: init takes its signals with sigtimedwait.
//
// Init exits 125 when the sandbox cannot be set up (the reason is on the
// task's stderr); the task exits 126/127 when the command cannot be executed.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.hpp"

namespace drover::worker {

struct SandboxedCommand {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // the whole environment
  std::filesystem::path cwd;
  std::filesystem::path stdout_path;  // created/truncated, 0644
  std::filesystem::path stderr_path;
  std::filesystem::path hide;         // hidden under an empty tmpfs (the work dir)
  std::filesystem::path keep;         // bound back: the attempt's own dir
  std::filesystem::path cgroup_procs; // joined first when not empty
  std::optional<uid_t> uid;           // set: the task runs as uid:gid with `groups`
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool probe = false;  // only set up the namespaces and mounts, then exit 0
};

// A kept sandbox (KeptSandboxes): its pid 1, and the worker's ends of the
// two channels to it. Its task's process group is pid's (init forwards
// signals sent to it).
struct KeptSandbox {
  pid_t pid = -1;
  int command_fd = -1;  // a task's plan goes in
  int status_fd = -1;   // per task: the launch byte, then a TaskEnd; EOF once init died
  std::shared_ptr<void> memory;  // init's stacks: released after it was reaped
  std::filesystem::path record;  // its process group's record; empty: none
};

// How a task in a kept sandbox ended: its wait status and the cpu it (and
// the descendants it waited for) used.
struct TaskEnd {
  int status = 0;
  std::int32_t reserved = 0;
  std::int64_t cpu_us = 0;
};

struct SandboxedProcess {
  pid_t pid = -1;         // init, leader of its process group
  int status_fd = -1;     // read_task_status() once init ended; -1 when kept
  // What init runs on (its stack, the plan). Init may share the worker's
  // memory: release this only after init was reaped (kept: after the task ended).
  std::shared_ptr<void> memory;
  std::optional<KeptSandbox> kept;  // set: the task runs in this kept sandbox
};

// Returns once the task's process is past its exec (or has ended, or init is
// still setting up after a second).
Result<SandboxedProcess> spawn_sandboxed(SandboxedCommand command);

// The task's wait status, from a reaped init's status_fd; nothing when init
// ended without one (set-up failed, or init was killed).
std::optional<int> read_task_status(int status_fd);

// A kept sandbox's status_fd (non-blocking) read into `buf`: the task's end
// once all of it arrived; `dead` set at EOF (init died without one).
std::optional<TaskEnd> read_kept_end(int status_fd, std::string& buf, bool& dead);

// Sandboxes kept from one task to the next (x86-64 only). When its task
// ends, a kept sandbox's pid 1 kills what the task left (every other process
// of its pid namespace), unbinds the attempt's dir and waits for the next
// task, which it gives an empty IPC namespace (it removes every IPC object
// left) and its own attempt's dir. Its mount, pid and IPC namespaces, the
// tmpfs that hides the work dir and its /proc are made once; each task sees
// only its own attempt's dir and processes. Making and tearing down
// the namespaces and mounts for every task was about a tenth of all cpu for
// /bin/true tasks (tests/bench/perf.py, part a). Thread-safe.
class KeptSandboxes {
 public:
  // `work_dir` set: each sandbox's process group is recorded there while it
  // lives (process_group_record.hpp), so that the tasks run in it need no
  // record of their own.
  explicit KeptSandboxes(std::size_t keep, std::filesystem::path work_dir = {})
      : keep_(keep), work_dir_(std::move(work_dir)) {}
  ~KeptSandboxes();  // ends the idle ones
  KeptSandboxes(const KeptSandboxes&) = delete;
  KeptSandboxes& operator=(const KeptSandboxes&) = delete;

  // Whether `command` can run in a kept sandbox: not a probe, no cgroup to
  // join (a kept pid 1 stays out of every attempt's limit), its logs and
  // kept dir below the hidden dir, and on x86-64.
  static bool suits(const SandboxedCommand& command);
  // Starts `command` in an idle kept sandbox, or in a new one; returns once
  // its task is past its exec, as spawn_sandboxed does.
  Result<SandboxedProcess> spawn(SandboxedCommand command);
  // A sandbox whose task's TaskEnd was read goes back to the idle ones (or
  // ends, when `keep` are idle).
  void give_back(KeptSandbox sandbox);
  // Ends a sandbox that is not given back (its init killed or to be killed):
  // closes the worker's ends and removes its record. The caller reaps init.
  static void discard(KeptSandbox& sandbox);

 private:
  Result<KeptSandbox> make(const SandboxedCommand& command);

  const std::size_t keep_;
  const std::filesystem::path work_dir_;
  std::mutex mu_;
  std::vector<KeptSandbox> idle_;
};

// The supplementary groups of the user owning `uid` (just `gid` without a
// passwd entry), looked up once by the worker: the children cannot use NSS.
std::vector<gid_t> user_groups(uid_t uid, gid_t gid);

}  // namespace drover::worker
