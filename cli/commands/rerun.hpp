#pragma once
// drover rerun JOB [--failed-only] [--wait]: submits the job again as a new
// job (same bundle and spec); with --failed-only only the tasks that did not
// succeed run, the others keep their committed outputs. Prints the new job id
// as the only stdout line; --wait then waits and exits like `drover wait`.
#include <CLI/CLI.hpp>
#include <string>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct RerunArgs {
  std::string job;
  bool failed_only = false;
  bool wait = false;
};

CLI::App* add_rerun_command(CLI::App& app, RerunArgs& args);
int run_rerun(CommandContext& ctx, const RerunArgs& args);

}  // namespace drover::cli
