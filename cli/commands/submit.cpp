#include "cli/commands/submit.hpp"

#include <fmt/format.h>

#include "cli/bundle/bundle_packer.hpp"
#include "cli/commands/wait.hpp"
#include "common/base/units.hpp"

namespace drover::cli {

CLI::App* add_submit_command(CLI::App& app, SubmitArgs& args) {
  auto* cmd = app.add_subcommand("submit", "Upload a job bundle (directory or .tar.gz)");
  cmd->add_option("BUNDLE", args.bundle, "Bundle directory with job.yaml, or a .tar.gz")
      ->required();
  cmd->add_option("--name", args.name, "Job name (overrides job.yaml)");
  cmd->add_option("--priority", args.priority, "Priority; higher runs first");
  cmd->add_flag("--wait", args.wait, "Show live progress and exit like `drover wait`");
  return cmd;
}

Result<JobInfo> submit_bundle(CommandContext& ctx, const std::string& bundle,
                              const SubmitParams& params) {
  auto packed = pack_bundle(bundle);
  if (!packed) return packed.error();
  const std::size_t bytes = packed->archive.size();
  auto job = ctx.api.submit_job(std::move(packed->archive), params);
  if (!job) return job.error();
  ctx.err << fmt::format("submitted job {} ({}, {} bundle)\n", job->id, job->name,
                         format_size(bytes))
          << std::flush;
  return job;
}

int run_submit(CommandContext& ctx, const SubmitArgs& args) {
  auto job = submit_bundle(ctx, args.bundle, SubmitParams{args.name, args.priority});
  if (!job) return report_error(ctx, job.error());
  return follow_new_job(ctx, *job, args.wait);
}

}  // namespace drover::cli
