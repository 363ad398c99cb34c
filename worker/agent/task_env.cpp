#include "worker/agent/task_env.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "common/jobspec/placeholders.hpp"

namespace drover::worker {

namespace {

// A relative input is a bundle file: resolved against the sandbox.
std::string resolve_file(const std::string& file, const AttemptPaths& paths) {
  if (!file.empty() && file.front() == '/') return file;
  // A string join, never path::operator/ with user data.
  return paths.sandbox.string() + "/" + file;
}

}  // namespace

std::string task_input(const Assignment& a, const AttemptPaths& paths) {
  if (a.input_kind == "file") return resolve_file(a.input, paths);
  if (a.input_kind == "files") {
    if (a.input.empty() && a.inputs.empty()) return "";
    return resolve_file(a.input.empty() ? a.inputs.front() : a.input, paths);
  }
  if (a.input_kind == "item") return a.input;
  if (a.input_kind == "index") return a.input.empty() ? std::to_string(a.index) : a.input;
  if (a.input_kind == "partition") {
    return a.input.empty() ? std::to_string(std::max<std::int64_t>(a.partition, 0)) : a.input;
  }
  return "";
}

bool has_input_list(const Assignment& a) {
  return a.input_kind == "file" || a.input_kind == "files";
}

std::vector<std::string> task_input_files(const Assignment& a, const AttemptPaths& paths) {
  if (a.input_kind == "file") return {resolve_file(a.input, paths)};
  if (a.input_kind != "files") return {};
  std::vector<std::string> files;
  files.reserve(std::max<std::size_t>(a.inputs.size(), 1));
  for (const auto& file : a.inputs) files.push_back(resolve_file(file, paths));
  if (files.empty() && !a.input.empty()) files.push_back(resolve_file(a.input, paths));
  return files;
}

std::string input_list_text(const std::vector<std::string>& files) {
  std::string text;
  for (const auto& file : files) text += file + "\n";
  return text;
}

TaskLaunch build_task_launch(const Assignment& a, const AttemptPaths& paths,
                             const std::string& base_path) {
  TaskLaunch launch;
  auto& env = launch.env;
  env["PATH"] = base_path;
  env["HOME"] = paths.sandbox.string();
  env["TMPDIR"] = paths.tmp.string();
  env["LANG"] = "C.UTF-8";
  for (const auto& [k, v] : a.env) env[k] = v;

  const std::string input = task_input(a, paths);
  const std::map<std::string, std::string> values = {
      {"job", a.job},
      {"stage", a.stage},
      {"index", std::to_string(a.index)},
      {"count", std::to_string(a.count)},
      {"attempt", std::to_string(a.attempt)},
      {"input", input},
      {"input_dir", paths.input.string()},
      {"output", paths.output.string()},
      {"checkpoint", paths.checkpoint.string()},
  };
  env["DROVER_JOB_ID"] = a.job;
  env["DROVER_STAGE"] = a.stage;
  env["DROVER_TASK_INDEX"] = values.at("index");
  env["DROVER_TASK_COUNT"] = values.at("count");
  env["DROVER_ATTEMPT"] = values.at("attempt");
  env["DROVER_INPUT"] = input;
  env["DROVER_INPUT_DIR"] = paths.input.string();
  env["DROVER_OUTPUT_DIR"] = paths.output.string();
  env["DROVER_CHECKPOINT_DIR"] = paths.checkpoint.string();
  env["DROVER_PROGRESS_FILE"] = paths.progress_file.string();

  std::vector<std::string> inputs{input};
  if (has_input_list(a)) {
    env["DROVER_INPUT_LIST"] = paths.input_list.string();
    inputs = task_input_files(a, paths);
  }
  launch.argv = expand_placeholders(a.command, values, inputs);
  return launch;
}

std::string task_path(const char* worker_path) {
  if (worker_path != nullptr && *worker_path != '\0') return worker_path;
  return "/usr/local/bin:/usr/bin:/bin";
}

double parse_progress(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  if (text.empty() || text.size() > 64) return -1;
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0 || v > 1) return -1;
  return v;
}

}  // namespace drover::worker
