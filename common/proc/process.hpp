#pragma once
// Child processes started with posix_spawn (never fork from a big process).
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.hpp"
#include "common/base/units.hpp"

namespace drover {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  // The child's whole environment; when unset it inherits the parent's.
  std::optional<std::map<std::string, std::string>> env;
  std::filesystem::path cwd;           // empty = parent's
  std::filesystem::path stdout_path;   // empty = inherit; file is created/truncated
  std::filesystem::path stderr_path;   // empty = inherit
  bool stdin_null = true;              // stdin from /dev/null
  bool new_process_group = false;      // the child leads its own process group
};

Result<pid_t> spawn_process(const SpawnOptions& options);

struct ExitStatus {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool exited() const { return signal == 0; }
};

// Waits for `pid` up to `timeout` (0 = forever); nullopt on timeout.
std::optional<ExitStatus> wait_process(pid_t pid, Duration timeout = Duration{0});

// Sends `sig` to the process (or its group when `group`), then waits up to `grace`
// and sends SIGKILL if it is still there; reaps it. Returns its status.
ExitStatus terminate_process(pid_t pid, int sig, Duration grace, bool group = false);

// The directory holding the running executable (/proc/self/exe).
std::filesystem::path executable_dir();

}  // namespace drover
