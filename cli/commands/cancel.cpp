#include "cli/commands/cancel.hpp"

namespace drover::cli {

CLI::App* add_cancel_command(CLI::App& app, CancelArgs& args) {
  auto* cmd =
      app.add_subcommand("cancel", "Kill a job's running attempts and schedule nothing more");
  cmd->add_option("JOB", args.job, "Job id")->required();
  return cmd;
}

int run_cancel(CommandContext& ctx, const CancelArgs& args) {
  auto job = ctx.api.cancel_job(args.job);
  if (!job) return report_error(ctx, job.error());
  if (ctx.json()) {
    print_json(ctx, *job);
  } else {
    ctx.out << to_string(job->state) << "\n" << std::flush;
  }
  return 0;
}

}  // namespace drover::cli
