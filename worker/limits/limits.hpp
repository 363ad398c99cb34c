#pragma once
// Limits: per-task memory limits, one backend chosen at worker start
// (choose_limits) and injected into the ProcessExecutor:
//
//   cgroup v2   <v2 root>/<base>/drover-<worker id>-<pid>/attempt-<id>/  memory.max,
//               memory.swap.max=0; OOM = memory.events "oom_kill N" > 0
//   cgroup v1   <v1 root>/memory/drover/<worker id>-<pid>/attempt-<id>/
//               memory.limit_in_bytes (+ memory.memsw.limit_in_bytes);
//               OOM = memory.oom_control "oom_kill N" > 0, or on old kernels
//               (no such line) under_oom / memory.failcnt > 0 and death by SIGKILL
//   rlimit      argv prefixed with `/usr/bin/prlimit --as=BYTES --`; no OOM
//               detection (an allocation failure ends as exit code or signal)
//
// The task is moved into its group (cgroup.procs) right after posix_spawn: a
// child forked within that tiny window escapes the limit (accepted). Groups are
// emptied (SIGKILL) and removed when the attempt ends; the worker's group when
// the backend is destroyed, or at the next start after a crash (its pid gone).
// <pid> (the worker's) keeps two workers with one id on a machine apart.
// memory == 0: no limit.
// Backends are thread-safe; an AttemptLimit belongs to its attempt's thread.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/base/result.hpp"

namespace drover::worker {

class AttemptLimit {
 public:
  virtual ~AttemptLimit() = default;
  // Prepended to the task's argv (before any setpriv prefix).
  virtual std::vector<std::string> argv_prefix() const { return {}; }
  // Called with the spawned task's pid, at once.
  [[nodiscard]] virtual Status place(pid_t /*pid*/) { return ok_status(); }
  // The cgroup.procs file through which a process joins the group itself
  // (drover-task-init --join: no window to escape); empty without a group.
  virtual std::filesystem::path procs_file() const { return {}; }
  // After the task ended: was it killed by the OOM killer of its limit?
  virtual bool out_of_memory(int /*signal*/) const { return false; }
  // Kills whatever is left in the group and removes it. Idempotent.
  virtual void release() {}
};

class Limits {
 public:
  virtual ~Limits() = default;
  virtual std::string name() const = 0;
  // The limit for one attempt; memory 0 = none (a no-op AttemptLimit).
  [[nodiscard]] virtual Result<std::unique_ptr<AttemptLimit>> prepare(std::int64_t attempt_id,
                                                                      std::uint64_t memory) = 0;
};

struct LimitsProbe {
  std::filesystem::path cgroup_root = "/sys/fs/cgroup";
  std::filesystem::path proc_self_cgroup = "/proc/self/cgroup";
  std::filesystem::path prlimit = "/usr/bin/prlimit";
};

// v2 when cgroup.controllers exists and memory can be enabled for a group the
// worker creates; else v1 when <root>/memory/drover/<worker id> can be created;
// else rlimit. Never fails: the rlimit fallback always exists.
std::unique_ptr<Limits> choose_limits(const std::string& worker_id, const LimitsProbe& probe = {});

// The backends, for tests; nullptr when unusable. Each creates the worker's
// group (see above) and removes the groups of crashed earlier runs.
std::unique_ptr<Limits> make_cgroup_v2_limits(const LimitsProbe& probe, const std::string& worker_id);
std::unique_ptr<Limits> make_cgroup_v1_limits(const LimitsProbe& probe, const std::string& worker_id);
std::unique_ptr<Limits> make_rlimit_limits(const std::filesystem::path& prlimit);

// Parses "key N" lines (memory.events, memory.oom_control); -1 when absent.
std::int64_t cgroup_stat(const std::string& content, const std::string& key);

}  // namespace drover::worker
