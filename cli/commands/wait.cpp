#include "cli/commands/wait.hpp"

#include <fmt/format.h>

#include "cli/render/progress.hpp"

namespace drover::cli {

namespace {
constexpr Duration kPollInterval = std::chrono::milliseconds(250);
constexpr Duration kUnreachableGrace = std::chrono::seconds(30);
}  // namespace

CLI::App* add_wait_command(CLI::App& app, WaitArgs& args) {
  auto* cmd = app.add_subcommand("wait", "Show live progress until a job ends; exit like the job");
  cmd->add_option("JOB", args.job, "Job id")->required();
  return cmd;
}

int job_exit_code(JobState state) {
  switch (state) {
    case JobState::succeeded:
      return 0;
    case JobState::partial:
      return 4;
    default:
      return 1;
  }
}

Result<JobInfo> wait_for_job(CommandContext& ctx, const std::string& job_id) {
  ProgressDisplay display(ctx.err, ctx.err_is_tty, ctx.clock);
  std::optional<std::chrono::steady_clock::time_point> unreachable_since;
  for (;;) {
    auto job = ctx.api.get_job(job_id);
    if (job) {
      unreachable_since.reset();
      if (is_terminal(job->state)) {
        display.finish(*job);
        return job;
      }
      display.update(*job);
    } else if (job.error().code == ErrorCode::unavailable) {
      const auto now = ctx.clock.steady_now();
      if (!unreachable_since) {
        unreachable_since = now;
        ctx.err << "master unreachable, retrying: " << job.error().describe() << "\n";
      } else if (now - *unreachable_since > kUnreachableGrace) {
        return job.error();
      }
    } else {
      return job.error();
    }
    if (ctx.stop_requested()) return make_error(ErrorCode::internal, "interrupted");
    ctx.sleep(kPollInterval);
  }
}

void report_job_end(const CommandContext& ctx, const JobInfo& job) {
  ctx.err << fmt::format("job {} {}\n", job.id, to_string(job.state));
  if (job.state == JobState::succeeded) return;
  if (!job.message.empty()) ctx.err << job.message << "\n";
  auto print = [&ctx](const std::string& stage, const TaskFailure& failure) {
    ctx.err << fmt::format("  {}[{}] {}: {}{}\n", stage, failure.index, failure.input,
                           failure.reason, failure.message.empty() ? "" : ": " + failure.message);
  };
  if (!job.failed_tasks.empty()) {
    // The tasks that failed for good are what the user has to look at.
    ctx.err << "failed inputs:\n";
    for (const auto& failure : job.failed_tasks) print(failure.stage, failure);
  } else {
    for (const auto& stage : job.stages) {
      for (const auto& failure : stage.failures) print(stage.name, failure);
    }
  }
  ctx.err << std::flush;
}

int follow_new_job(CommandContext& ctx, const JobInfo& job, bool wait) {
  if (!wait) {
    if (ctx.json()) {
      print_json(ctx, job);
    } else {
      ctx.out << job.id << "\n" << std::flush;
    }
    return 0;
  }
  if (!ctx.json()) ctx.out << job.id << "\n" << std::flush;
  auto done = wait_for_job(ctx, job.id);
  if (!done) return report_error(ctx, done.error());
  report_job_end(ctx, *done);
  if (ctx.json()) print_json(ctx, *done);
  return job_exit_code(done->state);
}

int run_wait(CommandContext& ctx, const WaitArgs& args) {
  auto job = wait_for_job(ctx, args.job);
  if (!job) return report_error(ctx, job.error());
  report_job_end(ctx, *job);
  if (ctx.json()) {
    print_json(ctx, *job);
  } else {
    ctx.out << to_string(job->state) << "\n" << std::flush;
  }
  return job_exit_code(job->state);
}

}  // namespace drover::cli
