#pragma once
// ProcessExecutor: runs tasks as OS processes with posix_spawn, each leading
// its own process group (so a timeout or kill reaches the task's children),
// optionally through drover-task-init (private namespaces, another user) or
// as another user through setpriv, within the memory limit of the
// injected Limits backend (its group is removed when the execution ends). Supervision waits on a pidfd and
// an eventfd (for kill requests) with poll(2): no polling loops, no signals.
// Stateless apart from its options; thread-safe; owned by the composition root.
#include <optional>
#include <string>
#include <vector>

#include "common/base/clock.hpp"
#include "worker/executor/executor.hpp"
#include "worker/limits/limits.hpp"

namespace drover::worker {

// Runs each task in private namespaces through drover-task-init: the task
// sees its own attempt dir and nothing else of `hidden` (the work dir), and
// only its own processes in /proc.
struct TaskSandbox {
  std::filesystem::path init;            // the drover-task-init binary
  std::filesystem::path hidden;          // hidden from tasks but for ExecSpec::private_dir
  std::optional<unsigned> uid, gid;      // set: the task runs as this user
};

struct ProcessExecutorOptions {
  Duration kill_grace = std::chrono::seconds(5);  // SIGTERM -> SIGKILL
  // Prepended to every argv, e.g. {"/usr/bin/setpriv", "--reuid=..", ..., "--"};
  // not used with a sandbox.
  std::vector<std::string> argv_prefix;
  // Per-task memory limits (worker/limits); nullptr: none. Not owned.
  Limits* limits = nullptr;
  std::optional<TaskSandbox> sandbox{};
};

class ProcessExecutor final : public Executor {
 public:
  ProcessExecutor(const Clock& clock, ProcessExecutorOptions options)
      : clock_(clock), options_(std::move(options)) {}

  Result<std::unique_ptr<Execution>> start(const ExecSpec& spec) override;

 private:
  const Clock& clock_;
  ProcessExecutorOptions options_;
};

// The setpriv prefix that runs a command as uid/gid with the user's groups.
std::vector<std::string> setpriv_prefix(unsigned uid, unsigned gid);

// The drover-task-init prefix for one task: `private_dir` stays visible, the
// task joins the cgroup of `procs_file` (when not empty) first.
std::vector<std::string> sandbox_prefix(const TaskSandbox& sandbox,
                                        const std::filesystem::path& private_dir,
                                        const std::filesystem::path& procs_file);

// Where drover-task-init is: next to the running binary, or in
// ../libexec/drover/ from it; empty when neither exists.
std::filesystem::path find_task_init();

// Whether the sandbox works on this machine (namespaces and mounts allowed):
// runs drover-task-init --probe; an error says why not.
[[nodiscard]] Status probe_sandbox(const TaskSandbox& sandbox, const std::filesystem::path& scratch);

}  // namespace drover::worker
