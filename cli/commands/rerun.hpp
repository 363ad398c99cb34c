#pragma once
// drover rerun JOB [--failed-only]: submits the job again; prints the new id.
#include <CLI/CLI.hpp>
#include <string>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct RerunArgs {
  std::string job;
  bool failed_only = false;
};

CLI::App* add_rerun_command(CLI::App& app, RerunArgs& args);
int run_rerun(CommandContext& ctx, const RerunArgs& args);

}  // namespace drover::cli
