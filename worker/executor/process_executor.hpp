#pragma once
// ProcessExecutor: runs tasks as OS processes with posix_spawn, each leading
// its own process group (so a timeout or kill reaches the task's children),
// optionally as another user through setpriv, within the memory limit of the
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

struct ProcessExecutorOptions {
  Duration kill_grace = std::chrono::seconds(5);  // SIGTERM -> SIGKILL
  // Prepended to every argv, e.g. {"/usr/bin/setpriv", "--reuid=..", ..., "--"}.
  std::vector<std::string> argv_prefix;
  // Per-task memory limits (worker/limits); nullptr: none. Not owned.
  Limits* limits = nullptr;
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

}  // namespace drover::worker
