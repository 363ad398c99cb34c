#pragma once
// drover drain WORKER: stop new assignments to a worker and hand its tasks
// back after drain_timeout (SPEC §4.8).
#include <CLI/CLI.hpp>
#include <string>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct DrainArgs {
  std::string worker;
};

CLI::App* add_drain_command(CLI::App& app, DrainArgs& args);
int run_drain(CommandContext& ctx, const DrainArgs& args);

}  // namespace drover::cli
