#pragma once
// drover cancel JOB: kills running attempts and schedules nothing more; prints
// the job's state.
#include <CLI/CLI.hpp>
#include <string>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct CancelArgs {
  std::string job;
};

CLI::App* add_cancel_command(CLI::App& app, CancelArgs& args);
int run_cancel(CommandContext& ctx, const CancelArgs& args);

}  // namespace drover::cli
