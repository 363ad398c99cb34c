#pragma once
// drover status [JOB]: the jobs table, or one job's header, stages with task
// counts by state, the inputs whose tasks failed for good ("failed inputs:",
// a `partial` job's losses) and other recent failures.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct StatusArgs {
  std::string job;  // empty: every job
};

CLI::App* add_status_command(CLI::App& app, StatusArgs& args);
int run_status(CommandContext& ctx, const StatusArgs& args);

// ID NAME STATE TASKS SUBMITTED
std::string render_jobs_table(const std::vector<JobInfo>& jobs, TimePoint now);
// Header lines, the stages table, the failed inputs table (JobInfo.failed_tasks)
// and the failures table (StageInfo.failures not already listed).
std::string render_job_detail(const JobInfo& job, TimePoint now);

}  // namespace drover::cli
