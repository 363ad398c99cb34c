#pragma once
// drover wait JOB: live per-stage progress until the job ends; exits like the
// job ended (0 succeeded, 4 partial, 1 failed or cancelled).
#include <CLI/CLI.hpp>
#include <string>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct WaitArgs {
  std::string job;
};

CLI::App* add_wait_command(CLI::App& app, WaitArgs& args);
int run_wait(CommandContext& ctx, const WaitArgs& args);

// Polls the job every 250 ms, showing progress on ctx.err, until it reaches a
// terminal state. Tolerates the master being unreachable for up to 30 s (it
// may be restarting). Stops with an error when ctx.interrupted() says so.
[[nodiscard]] Result<JobInfo> wait_for_job(CommandContext& ctx, const std::string& job);

// 0 succeeded, 4 partial, 1 failed or cancelled (SPEC §5).
int job_exit_code(JobState state);

// Prints "job <id> <state>" and, when it did not succeed, its message and the
// failed tasks' reasons, to ctx.err: "failed inputs:" and JobInfo.failed_tasks
// when the master lists tasks failed for good (a `partial` job), else the
// stages' recent failures.
void report_job_end(const CommandContext& ctx, const JobInfo& job);

// After a job was created (submit, rerun): without `wait`, prints its id as
// the only stdout line (-o json: the JobInfo) and returns 0. With `wait`,
// prints the id (-o json: nothing yet), waits like `drover wait`, reports the
// end on ctx.err, prints the final JobInfo with -o json, and returns
// job_exit_code() or the error's exit code.
int follow_new_job(CommandContext& ctx, const JobInfo& job, bool wait);

}  // namespace drover::cli
