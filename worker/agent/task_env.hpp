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

// DROVER_INPUT's value: a file path made absolute against the sandbox (kind
// "files": the first one), the item, the index, the partition, or "" for "none".
std::string task_input(const Assignment& assignment, const AttemptPaths& paths);

// Every input file, made absolute like DROVER_INPUT, for kinds "file" (one) and
// "files" (group_bytes: all of them); empty for other kinds. These are the
// lines of DROVER_INPUT_LIST.
std::vector<std::string> task_input_files(const Assignment& assignment, const AttemptPaths& paths);

// Whether the task gets DROVER_INPUT_LIST (kinds "file" and "files").
bool has_input_list(const Assignment& assignment);

// The content of DROVER_INPUT_LIST: one path per line, each line ending in "\n".
std::string input_list_text(const std::vector<std::string>& files);

// `base_path` is the PATH given to tasks (the worker's own, or a default). An
// argv word exactly "{inputs}" becomes one word per input file (kinds "file"
// and "files"), else the single {input} value.
TaskLaunch build_task_launch(const Assignment& assignment, const AttemptPaths& paths,
                             const std::string& base_path);

// The PATH tasks get: `worker_path` when set, else /usr/local/bin:/usr/bin:/bin.
std::string task_path(const char* worker_path);

// Parses DROVER_PROGRESS_FILE content: a fraction in [0, 1]; -1 when invalid.
double parse_progress(std::string_view text);

}  // namespace drover::worker
