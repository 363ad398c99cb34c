#include "cli/commands/tasks.hpp"

#include "cli/render/format.hpp"
#include "cli/render/table.hpp"

namespace drover::cli {

CLI::App* add_tasks_command(CLI::App& app, TasksArgs& args) {
  auto* cmd =
      app.add_subcommand("tasks", "List a job's tasks with attempts, worker, duration, exit");
  cmd->add_option("JOB", args.job, "Job id")->required();
  cmd->add_option("--stage", args.stage, "Only tasks of this stage");
  cmd->add_option("--state", args.state, "Only tasks in this state")
      ->check(CLI::IsMember(
          {"pending", "assigned", "running", "succeeded", "failed", "lost", "killed"}));
  return cmd;
}

std::string render_tasks_table(const std::vector<TaskInfo>& tasks, TimePoint now) {
  Table table({"STAGE", "INDEX", "STATE", "ATTEMPTS", "WORKER", "DURATION", "EXIT", "INPUT"});
  for (const auto& task : tasks) {
    std::string worker = "-", duration = "-", exit = "-";
    if (!task.attempts.empty()) {
      const AttemptInfo& latest = task.attempts.back();
      if (!latest.worker.empty()) worker = latest.worker;
      duration = attempt_duration(latest, now);
      exit = attempt_exit(latest);
    }
    std::string state(to_string(task.state));
    if (task.cached) state += " (cached)";
    table.add_row({task.stage, std::to_string(task.index), state,
                   std::to_string(task.attempts.size()), worker, duration, exit, task.input});
  }
  return table.render();
}

int run_tasks(CommandContext& ctx, const TasksArgs& args) {
  auto tasks = list_all_tasks(ctx.api, args.job, TaskFilter{args.stage, args.state});
  if (!tasks) return report_error(ctx, tasks.error());
  if (ctx.json()) {
    print_json(ctx, nlohmann::json{{"tasks", *tasks}});
  } else {
    ctx.out << render_tasks_table(*tasks, ctx.clock.now()) << std::flush;
  }
  return 0;
}

}  // namespace drover::cli
