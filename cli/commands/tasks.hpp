#pragma once
// drover tasks JOB [--stage S] [--state S]: tasks with their latest attempt's
// worker, duration and exit.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct TasksArgs {
  std::string job;
  std::string stage;
  std::string state;
};

CLI::App* add_tasks_command(CLI::App& app, TasksArgs& args);
int run_tasks(CommandContext& ctx, const TasksArgs& args);

// STAGE INDEX STATE ATTEMPTS WORKER DURATION EXIT INPUT; a task that reused a
// committed output (`cache: true`) shows its state as "succeeded (cached)".
std::string render_tasks_table(const std::vector<TaskInfo>& tasks, TimePoint now);

}  // namespace drover::cli
