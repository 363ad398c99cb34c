#include "cli/commands/rerun.hpp"

#include <fmt/format.h>

#include "cli/commands/wait.hpp"

namespace drover::cli {

CLI::App* add_rerun_command(CLI::App& app, RerunArgs& args) {
  auto* cmd = app.add_subcommand("rerun", "Submit a job again as a new job");
  cmd->add_option("JOB", args.job, "Job id")->required();
  cmd->add_flag("--failed-only", args.failed_only,
                "Run only tasks that did not succeed; keep the committed outputs");
  cmd->add_flag("--wait", args.wait, "Show live progress and exit like `drover wait`");
  return cmd;
}

int run_rerun(CommandContext& ctx, const RerunArgs& args) {
  auto job = ctx.api.rerun_job(args.job, args.failed_only);
  if (!job) return report_error(ctx, job.error());
  ctx.err << fmt::format("job {} reruns {}{}\n", job->id, args.job,
                         args.failed_only ? " (failed tasks only)" : "")
          << std::flush;
  return follow_new_job(ctx, *job, args.wait);
}

}  // namespace drover::cli
