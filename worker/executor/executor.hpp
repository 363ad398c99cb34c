#pragma once
// Executor: starts a task's process and supervises it to its end (exit, timeout
// or kill). The interface lets the attempt runner be tested with a fake.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/base/result.hpp"
#include "common/base/units.hpp"
#include "common/proc/process.hpp"

namespace drover::worker {

struct ExecSpec {
  std::vector<std::string> argv;           // placeholders already expanded
  std::map<std::string, std::string> env;  // the whole environment
  std::filesystem::path cwd;
  std::filesystem::path stdout_path;
  std::filesystem::path stderr_path;
  Duration timeout{0};  // 0 = none
  std::int64_t attempt_id = 0;  // names the attempt's limit group
  // The attempt's own dir: the one part of the worker's work dir a sandboxed
  // task sees (ProcessExecutorOptions::sandbox).
  std::filesystem::path private_dir{};
  std::uint64_t memory = 0;     // bytes; 0 = no limit
};

// How supervision ended, besides the process's own status.
enum class Termination {
  none,     // the process ended by itself
  timeout,  // ExecSpec::timeout passed: terminated by the executor
  killed,   // Execution::kill() was called
};

struct ExecResult {
  ExitStatus status;
  Termination termination = Termination::none;
  // Killed by the OOM killer of its memory limit (cgroup backends only).
  bool out_of_memory = false;
  // User + system cpu time of the process and the descendants it waited for.
  std::int64_t cpu_ms = 0;
};

// One running process. kill() may be called from any thread, any number of
// times; wait() is called once, by the thread that owns the Execution.
class Execution {
 public:
  virtual ~Execution() = default;
  virtual pid_t pid() const = 0;
  // True when the executor records this execution's process group itself
  // (process_group_record.hpp): the caller need not.
  virtual bool group_recorded() const { return false; }
  // Terminates the process group: SIGTERM, the grace period, then SIGKILL.
  virtual void kill() = 0;
  // Blocks until the process has ended and been reaped.
  virtual ExecResult wait() = 0;
  // Blocks until the process ended (true; wait() then returns at once) or for
  // at most `limit` (false). Called by the owner thread before wait().
  virtual bool ended_within(Duration limit) {
    (void)limit;
    return false;
  }
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Starts the process; thread-safe.
  [[nodiscard]] virtual Result<std::unique_ptr<Execution>> start(const ExecSpec& spec) = 0;
};

}  // namespace drover::worker
