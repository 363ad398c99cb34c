#pragma once
// drover status [JOB]: the jobs table, or one job's header, stages with task
// counts by state, and failures.
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
// Header lines, the stages table and the failures table.
std::string render_job_detail(const JobInfo& job, TimePoint now);

}  // namespace drover::cli
