#pragma once
// ProcessExecutor: runs tasks as OS processes with posix_spawn, each leading
// its own process group (so a timeout or kill reaches the task's children),
// optionally in private namespaces as another user (sandbox_spawn.hpp) or
// as another user through setpriv, within the memory limit of the
// injected Limits backend (its group is removed when the execution ends). Supervision waits on a pidfd and
// an eventfd (for kill requests) with poll(2): no polling loops, no signals.
// Stateless apart from its options; thread-safe; owned by the composition root.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/base/clock.hpp"
#include "worker/executor/executor.hpp"
#include "worker/executor/sandbox_spawn.hpp"
#include "worker/limits/limits.hpp"

namespace drover::worker {

// Runs each task in private namespaces (sandbox_spawn.hpp): the task sees its
// own attempt dir and nothing else of `hidden` (the work dir), and only its
// own processes in /proc.
struct TaskSandbox {
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
  // With a sandbox: up to this many idle sandboxes are kept for later tasks
  // (KeptSandboxes, sandbox_spawn.hpp); 0 makes one per task.
  std::size_t kept_sandboxes = 0;
};

class ProcessExecutor final : public Executor {
 public:
  ProcessExecutor(const Clock& clock, ProcessExecutorOptions options);
  ~ProcessExecutor() override;

  Result<std::unique_ptr<Execution>> start(const ExecSpec& spec) override;

 private:
  const Clock& clock_;
  ProcessExecutorOptions options_;
  std::vector<gid_t> groups_;  // the sandbox user's groups, looked up once
  std::unique_ptr<KeptSandboxes> kept_;  // outlives every execution it started
};

// The setpriv prefix that runs a command as uid/gid with the user's groups.
std::vector<std::string> setpriv_prefix(unsigned uid, unsigned gid);

// Whether the sandbox works on this machine (namespaces and mounts allowed):
// sets one up in `scratch` without a task; an error says why not.
[[nodiscard]] Status probe_sandbox(const TaskSandbox& sandbox, const std::filesystem::path& scratch);

}  // namespace drover::worker
