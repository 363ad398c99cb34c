#include "cli/commands/status.hpp"

#include <fmt/format.h>

#include <cmath>
#include <set>
#include <utility>

#include "cli/render/format.hpp"
#include "cli/render/progress.hpp"
#include "cli/render/table.hpp"

namespace drover::cli {

namespace {

std::string tasks_cell(const std::map<std::string, std::int64_t>& counts, std::int64_t total) {
  return fmt::format("{}/{}", count_of(counts, "succeeded"), total);
}

std::string render_stages_table(const JobInfo& job) {
  Table table({"STAGE", "TASKS", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "LOST", "KILLED",
               "PROGRESS", "ETA", "TOOK", "CPU"});
  for (const auto& stage : job.stages) {
    const auto& c = stage.counts;
    table.add_row({stage.name, std::to_string(stage.task_count),
                   std::to_string(count_of(c, "pending")),
                   std::to_string(count_of(c, "assigned") + count_of(c, "running")),
                   std::to_string(count_of(c, "succeeded")), std::to_string(count_of(c, "failed")),
                   std::to_string(count_of(c, "lost")), std::to_string(count_of(c, "killed")),
                   fmt::format("{}%", static_cast<int>(std::floor(stage.progress * 100))),
                   eta_text(stage.eta_ms),
                   stage.finished_at > 0 && stage.started_at > 0
                       ? eta_text(stage.finished_at - stage.started_at)
                       : "-",
                   fmt::format("{:.1f}s", stage.cpu_seconds)});
  }
  return table.render();
}

void add_failure_row(Table& table, const std::string& stage, const TaskFailure& f) {
  table.add_row({stage, std::to_string(f.index), f.input, f.reason, f.message});
}

// The tasks that failed for good (SPEC §3 `partial`), by input.
std::string render_failed_inputs_table(const JobInfo& job) {
  Table table({"STAGE", "INDEX", "INPUT", "REASON", "MESSAGE"});
  for (const auto& f : job.failed_tasks) add_failure_row(table, f.stage, f);
  return table.empty() ? std::string{} : "\nfailed inputs:\n" + table.render();
}

// The stages' recent failures, without the tasks already listed as failed inputs.
std::string render_failures_table(const JobInfo& job) {
  std::set<std::pair<std::string, std::int64_t>> listed;
  for (const auto& f : job.failed_tasks) listed.emplace(f.stage, f.index);
  Table table({"STAGE", "INDEX", "INPUT", "REASON", "MESSAGE"});
  for (const auto& stage : job.stages) {
    for (const auto& f : stage.failures) {
      if (listed.contains({stage.name, f.index})) continue;
      add_failure_row(table, stage.name, f);
    }
  }
  return table.empty() ? std::string{} : "\nfailures:\n" + table.render();
}

}  // namespace

CLI::App* add_status_command(CLI::App& app, StatusArgs& args) {
  auto* cmd = app.add_subcommand("status", "List jobs, or show one job's stages and failures");
  cmd->add_option("JOB", args.job, "Job id");
  return cmd;
}

std::string render_jobs_table(const std::vector<JobInfo>& jobs, TimePoint now) {
  Table table({"ID", "NAME", "STATE", "TASKS", "SUBMITTED"});
  for (const auto& job : jobs) {
    table.add_row({job.id, job.name, std::string(to_string(job.state)),
                   tasks_cell(job.counts, job.task_count),
                   format_age_since(job.submitted_at, now)});
  }
  return table.render();
}

std::string render_job_detail(const JobInfo& job, TimePoint now) {
  std::string text;
  text += fmt::format("job:        {}\n", job.id);
  text += fmt::format("name:       {}\n", job.name);
  text += fmt::format("state:      {}\n", to_string(job.state));
  text += fmt::format("priority:   {}\n", job.priority);
  if (!job.rerun_of.empty()) text += fmt::format("rerun of:   {}\n", job.rerun_of);
  text += fmt::format("tasks:      {} succeeded\n", tasks_cell(job.counts, job.task_count));
  text += fmt::format("submitted:  {} ago\n", format_age_since(job.submitted_at, now));
  if (job.finished_at > 0 && job.started_at > 0) {
    text +=
        fmt::format("ran:        {}\n", format_elapsed(Duration{job.finished_at - job.started_at}));
  }
  if (!job.message.empty()) text += fmt::format("message:    {}\n", job.message);
  text += "\n" + render_stages_table(job) + render_failed_inputs_table(job) +
          render_failures_table(job);
  return text;
}

int run_status(CommandContext& ctx, const StatusArgs& args) {
  if (!args.job.empty()) {
    auto job = ctx.api.get_job(args.job);
    if (!job) return report_error(ctx, job.error());
    if (ctx.json()) {
      print_json(ctx, *job);
    } else {
      ctx.out << render_job_detail(*job, ctx.clock.now()) << std::flush;
    }
    return 0;
  }
  auto jobs = list_all_jobs(ctx.api);
  if (!jobs) return report_error(ctx, jobs.error());
  if (ctx.json()) {
    print_json(ctx, nlohmann::json{{"jobs", *jobs}});
  } else {
    ctx.out << render_jobs_table(*jobs, ctx.clock.now()) << std::flush;
  }
  return 0;
}

}  // namespace drover::cli
