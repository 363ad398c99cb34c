#include "cli/commands/rerun.hpp"

namespace drover::cli {

CLI::App* add_rerun_command(CLI::App& app, RerunArgs& args) {
  auto* cmd = app.add_subcommand("rerun", "Submit a job again");
  cmd->add_option("JOB", args.job, "Job id")->required();
  cmd->add_flag("--failed-only", args.failed_only,
                "Run only tasks that did not succeed; keep the committed outputs");
  return cmd;
}

int run_rerun(CommandContext& ctx, const RerunArgs& args) {
  auto job = ctx.api.rerun_job(args.job, args.failed_only);
  if (!job) return report_error(ctx, job.error());
  if (ctx.json()) {
    print_json(ctx, *job);
  } else {
    ctx.out << job->id << "\n" << std::flush;
  }
  return 0;
}

}  // namespace drover::cli
