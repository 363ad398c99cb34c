#pragma once
// drover workers: id, address, state, slots used/total, running attempts and
// last heartbeat age.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct WorkersArgs {};

CLI::App* add_workers_command(CLI::App& app, WorkersArgs& args);
int run_workers(CommandContext& ctx, const WorkersArgs& args);

// ID ADDRESS STATE SLOTS RUNNING HEARTBEAT
std::string render_workers_table(const std::vector<WorkerInfo>& workers);

}  // namespace drover::cli
