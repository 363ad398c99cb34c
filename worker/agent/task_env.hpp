#pragma once
// What a task sees (SPEC §2): its argv with placeholders expanded and its
// environment. Pure functions of the assignment and the attempt's paths.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/proto/assignment.hpp"
#include "worker/sandbox/attempt_sandbox.hpp"

namespace drover::worker {

struct TaskLaunch {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
};

// DROVER_INPUT's value: a file path made absolute against the sandbox, the item,
// the index, or "" for "none".
std::string task_input(const Assignment& assignment, const AttemptPaths& paths);

// `base_path` is the PATH given to tasks (the worker's own, or a default).
TaskLaunch build_task_launch(const Assignment& assignment, const AttemptPaths& paths,
                             const std::string& base_path);

// The PATH tasks get: `worker_path` when set, else /usr/local/bin:/usr/bin:/bin.
std::string task_path(const char* worker_path);

// Parses DROVER_PROGRESS_FILE content: a fraction in [0, 1]; -1 when invalid.
double parse_progress(std::string_view text);

}  // namespace drover::worker
